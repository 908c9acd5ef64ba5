//! What the team topologies ([`crate::Debate`], [`crate::DyLAN`], [`crate::Malt`]) share: how a
//! member is asked, how a round's replies come back when a budget runs out, which members are
//! still in the team (a member that stops answering or repeats itself is dropped), and how a
//! team ends with its stop reason. [`conclude`], [`Outcome`] and [`replies`] are public for
//! topologies outside this crate (the gym's games).

use crate::answer::{labeled_answer, ANSWER_FORMAT};
use crate::{ending, extract_answer, majority_vote, AgentError, MAX_TOKENS_PER_CALL};
use agentos_core::{ChatRequest, ChatResponse, Message, Post, Sampling};
use agentos_kernel::{Agent, KernelError, StopReason, Team};
use serde_json::Value;

/// How a topology's play ended: its answer (if it reached one), why it stopped, in which round,
/// and what else the topology reports (DyLAN's importance scores, say).
pub struct Outcome {
    /// The team's answer; `None` (or blank) fails the team run, saying why it stopped.
    pub answer: Option<String>,
    /// Why the team stopped.
    pub reason: StopReason,
    /// The round it stopped in.
    pub round: u32,
    /// What else the topology reports, recorded in the `team_stopped` event (`Value::Null`:
    /// nothing).
    pub detail: Value,
}

/// Ends `team` as `played` says: a play that stopped records its reason and finishes the members
/// (the team answers, or fails saying why it has no answer); one cut short by an error (a
/// suspend, an interrupt, a failed call) ends the members the way the team run ends.
pub async fn conclude(team: Team<'_>, played: Result<Outcome, AgentError>) -> Result<String, AgentError> {
    match played {
        Ok(Outcome { answer, reason, round, detail }) => {
            let answer = answer.filter(|a| !a.trim().is_empty());
            let result = answer
                .clone()
                .ok_or_else(|| AgentError::NoAnswer(format!("the team stopped ({reason}) in round {round} without an answer")));
            team.stop(reason, round, detail, &ending(&result)).await?;
            result
        }
        Err(error) => {
            let result = Err(error);
            team.dismiss(&ending(&result)).await?;
            result
        }
    }
}

/// One reply to each of `calls` (a member and its request), asked at once so the scheduler can
/// serve them together; `None` when a budget (the team's or a member's) ran out before all came
/// back.
pub async fn replies(calls: Vec<(&Agent, ChatRequest)>) -> Result<Option<Vec<ChatResponse>>, AgentError> {
    let asked = calls.into_iter().map(|(member, request)| async move { member.model(request).await });
    let mut out = Vec::new();
    for reply in futures::future::join_all(asked).await {
        match reply {
            Ok(reply) => out.push(reply),
            Err(KernelError::BudgetExhausted { .. }) => return Ok(None),
            Err(other) => return Err(other.into()),
        }
    }
    Ok(Some(out))
}

/// A member's request: its role prompt and the answer format as the system message, then
/// `conversation`; sampled at `temperature` with the seed `seed` (members asked the same thing
/// at a temperature above zero differ by their seeds).
pub(crate) fn request(member: &Agent, conversation: Vec<Message>, temperature: Option<f32>, seed: usize) -> ChatRequest {
    let role = member.seat().map_or("", |s| s.role.as_str());
    let mut messages = vec![Message::system(format!("{role} {ANSWER_FORMAT}"))];
    messages.extend(conversation);
    let sampling = Sampling { temperature, seed: Some(seed as u64), max_tokens: Some(MAX_TOKENS_PER_CALL), ..Default::default() };
    ChatRequest { messages, sampling, ..Default::default() }
}

/// The other members' messages, each fenced and named by position, as a member reads them.
pub(crate) fn shown(posts: &[Post]) -> String {
    posts.iter().enumerate().map(|(i, p)| format!("Solution {}:\n```\n{}\n```", i + 1, p.text.trim())).collect::<Vec<_>>().join("\n\n")
}

/// Rounds in a row without an `Answer:` line after which a member is dropped as stalled.
pub(crate) const STALL_ROUNDS: u32 = 2;

/// Which members are still in the team, and what each said last.
pub(crate) struct Roster {
    /// Each member's latest reply.
    last: Vec<Option<String>>,
    /// Each member's latest answer given on an `Answer:` line.
    labeled: Vec<Option<String>>,
    /// Each member's latest reply's answer read without the label ([`extract_answer`]).
    unlabeled: Vec<Option<String>>,
    /// Rounds in a row each member replied without an `Answer:` line.
    silent: Vec<u32>,
    /// Why each dropped member was dropped.
    dropped: Vec<Option<StopReason>>,
}

impl Roster {
    /// `n` members, none heard yet.
    pub(crate) fn new(n: usize) -> Self {
        Roster { last: vec![None; n], labeled: vec![None; n], unlabeled: vec![None; n], silent: vec![0; n], dropped: vec![None; n] }
    }

    /// The members still in the team, by position.
    pub(crate) fn active(&self) -> Vec<usize> {
        (0..self.dropped.len()).filter(|i| self.dropped[*i].is_none()).collect()
    }

    /// Member `i`'s answer: its latest on an `Answer:` line, else (unless it was dropped as
    /// stalled) what its latest reply ends with.
    pub(crate) fn answer(&self, i: usize) -> Option<&str> {
        let unlabeled = if self.dropped[i] == Some(StopReason::Stall) { None } else { self.unlabeled[i].as_deref() };
        self.labeled[i].as_deref().or(unlabeled).filter(|a| !a.is_empty())
    }

    /// Takes member `i`'s reply; returns why it must leave the team, if it must: it repeated its
    /// previous reply word for word ([`StopReason::Repetition`]), or it went [`STALL_ROUNDS`]
    /// rounds without an answer ([`StopReason::Stall`]).
    pub(crate) fn hear(&mut self, i: usize, reply: &str) -> Option<StopReason> {
        let repeated = self.last[i].as_deref().is_some_and(|last| last.trim() == reply.trim());
        match labeled_answer(reply) {
            Some(answer) => {
                self.silent[i] = 0;
                self.labeled[i] = Some(answer);
            }
            None => self.silent[i] += 1,
        }
        self.unlabeled[i] = Some(extract_answer(reply));
        self.last[i] = Some(reply.to_string());
        let why = if repeated {
            Some(StopReason::Repetition)
        } else if self.silent[i] >= STALL_ROUNDS {
            Some(StopReason::Stall)
        } else {
            None
        };
        self.dropped[i] = why;
        why
    }

    /// The answer most members' answers give (dropped members' included, see
    /// [`Roster::answer`]).
    pub(crate) fn vote(&self) -> Option<String> {
        let answers: Vec<&str> = (0..self.dropped.len()).filter_map(|i| self.answer(i)).collect();
        majority_vote(&answers)
    }

    /// Why the team must stop because no member is left: the reason most members left for
    /// (repetition on a tie), or `None` while one is left.
    pub(crate) fn emptied(&self) -> Option<StopReason> {
        if !self.active().is_empty() {
            return None;
        }
        let repeated = self.dropped.iter().filter(|d| **d == Some(StopReason::Repetition)).count();
        Some(if 2 * repeated >= self.dropped.len() { StopReason::Repetition } else { StopReason::Stall })
    }
}

/// Drops member `i` of `team` from the rounds after `round` when `roster` says it must leave,
/// recording why.
pub(crate) async fn hear(team: &Team<'_>, roster: &mut Roster, i: usize, round: u32, reply: &str) -> Result<(), AgentError> {
    if let Some(why) = roster.hear(i, reply) {
        let what = match why {
            StopReason::Repetition => "repeated its previous message word for word",
            _ => "gave no `Answer:` line in two rounds in a row",
        };
        team.drop_member(&team.members()[i], round, what).await?;
    }
    Ok(())
}
