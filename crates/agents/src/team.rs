//! What the team topologies ([`crate::Debate`], [`crate::DyLAN`], [`crate::Malt`],
//! [`crate::CrossTeam`], [`crate::ReAd`], [`crate::Umi`], [`crate::DeclaredTeam`]) share: how a
//! member is asked (and takes a turn with its tools), how a round's replies come back (and go on
//! the board) when a budget runs out, which members are still in the team (a member that stops
//! answering or repeats itself is dropped), how a number or a choice is read off a labeled line,
//! and how a team ends with its stop reason.
//! [`conclude`], [`Outcome`] and [`replies`] are public for topologies outside this crate (the
//! gym's games).

use crate::answer::{after_label, labeled_answer, ANSWER_FORMAT};
use crate::{ending, extract_answer, majority_vote, AgentError, MAX_TOKENS_PER_CALL};
use agentos_core::{ChatRequest, ChatResponse, Message, Sampling, Usage};
use agentos_kernel::{Agent, KernelError, StopReason, Team};
use serde_json::Value;

/// The planner's role: of [`crate::ReAd`], which proposes and refines plans, and of
/// [`crate::Umi`], which decides each next step.
pub const PLANNER_ROLE: &str = "planner";

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

/// `member`'s one reply to `request`; `None` when a budget ran out (see [`replies`]).
pub(crate) async fn reply(member: &Agent, request: ChatRequest) -> Result<Option<ChatResponse>, AgentError> {
    Ok(replies(vec![(member, request)]).await?.and_then(|r| r.into_iter().next()))
}

/// Asks each of `calls` at once ([`replies`]) and posts each member's reply as its message of
/// `round` on the team's board; the replies' texts, in the calls' order, or `None` when a budget
/// ran out (then nothing was posted).
pub(crate) async fn speak(team: &Team<'_>, round: u32, calls: Vec<(&Agent, ChatRequest)>) -> Result<Option<Vec<String>>, AgentError> {
    let members: Vec<&Agent> = calls.iter().map(|(member, _)| *member).collect();
    let Some(answers) = replies(calls).await? else { return Ok(None) };
    let mut texts = Vec::with_capacity(answers.len());
    for (member, answer) in members.into_iter().zip(answers) {
        let text = answer.message.content();
        team.post(member, round, &text, answer.usage.output_tokens).await?;
        texts.push(text);
    }
    Ok(Some(texts))
}

/// [`speak`] for one member: its reply to `request`, posted as its message of `round`.
pub(crate) async fn say(team: &Team<'_>, member: &Agent, round: u32, request: ChatRequest) -> Result<Option<String>, AgentError> {
    Ok(speak(team, round, vec![(member, request)]).await?.and_then(|t| t.into_iter().next()))
}

/// `member`'s turn: its reply to `request`, after the tool calls it makes on the way when it was
/// granted tools and its model calls them natively (each call run by the kernel, journaled in the
/// member's run, and its result given back), at most `max_calls` model calls in all. The reply's
/// usage is the whole turn's; `None` when a budget ran out first.
pub(crate) async fn turn(member: &Agent, mut request: ChatRequest, max_calls: u32) -> Result<Option<ChatResponse>, AgentError> {
    if member.model_capabilities().native_tools {
        request.tools = member.tools();
    }
    let mut usage = Usage::default();
    for _ in 0..max_calls.max(1) {
        let Some(mut response) = reply(member, request.clone()).await? else { return Ok(None) };
        usage += response.usage;
        if response.message.tool_calls.is_empty() || request.tools.is_empty() {
            response.usage = usage;
            return Ok(Some(response));
        }
        let results = member.call_tools(&response.message.tool_calls).await?;
        request.messages.push(response.message);
        request.messages.extend(results.into_iter().map(|r| Message::tool(r.call_id, r.content)));
    }
    Err(AgentError::StepLimit(max_calls))
}

/// A member's request: its role prompt and the answer format as the system message, then
/// `conversation`; sampled at `temperature` with the seed `seed` (members asked the same thing
/// at a temperature above zero differ by their seeds).
pub(crate) fn request(member: &Agent, conversation: Vec<Message>, temperature: Option<f32>, seed: usize) -> ChatRequest {
    framed(member, ANSWER_FORMAT, conversation, temperature, seed)
}

/// [`request`] with `format` (what the reply must end with; none when empty) in place of the
/// answer format: for a member whose reply is not an answer (a critic's score, a plan's next
/// step, a tool call).
pub(crate) fn framed(member: &Agent, format: &str, conversation: Vec<Message>, temperature: Option<f32>, seed: usize) -> ChatRequest {
    let role = member.seat().map_or("", |s| s.role.as_str());
    let system = if format.is_empty() { role.to_string() } else { format!("{role} {format}") };
    let mut messages = vec![Message::system(system)];
    messages.extend(conversation);
    let sampling = Sampling { temperature, seed: Some(seed as u64), max_tokens: Some(MAX_TOKENS_PER_CALL), ..Default::default() };
    ChatRequest { messages, sampling, ..Default::default() }
}

/// Texts (other members' messages, or proposals), each fenced and named by position from 1, as
/// a member or a judge reads them.
pub(crate) fn shown<'a>(texts: impl IntoIterator<Item = &'a str>) -> String {
    texts
        .into_iter()
        .enumerate()
        .map(|(i, text)| format!("Solution {}:\n```\n{}\n```", i + 1, text.trim()))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// What follows the label `label` (`Advantage`, `Next`) on the last line of `reply` that starts
/// with it, in any case and with markdown emphasis allowed.
pub(crate) fn labeled<'a>(reply: &'a str, label: &str) -> Option<&'a str> {
    reply.lines().rev().find_map(|line| after_label(line, &[label])).map(str::trim)
}

/// The number that the last line labeled `label` of `reply` starts with (`Score: 7/10` gives 7,
/// `**Advantage:** -2.5` gives -2.5); `None` when there is no such line or no number on it.
pub(crate) fn labeled_number(reply: &str, label: &str) -> Option<f64> {
    let rest = labeled(reply, label)?.trim_start_matches(['*', '_', '`', ' ']);
    let end = rest
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || *c == '.' || (*i == 0 && matches!(c, '+' | '-'))))
        .map_or(rest.len(), |(i, _)| i);
    rest[..end].trim_end_matches('.').parse().ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_numbers_and_choices_off_labeled_lines() {
        assert_eq!(labeled_number("Fine.\nScore: 7/10", "score"), Some(7.0));
        assert_eq!(labeled_number("**Advantage:** -2.5.\nThanks", "advantage"), Some(-2.5));
        assert_eq!(labeled_number("Advantage: +3\nadvantage: 1", "advantage"), Some(1.0), "the last line counts");
        assert_eq!(labeled_number("Advantage: unclear", "advantage"), None);
        assert_eq!(labeled_number("I give it 7.", "score"), None);
        assert_eq!(labeled("Rationale: go to A.\n- Next: **Caller**", "next"), Some("**Caller**"));
    }
}
