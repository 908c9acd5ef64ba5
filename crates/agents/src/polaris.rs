//! A primary agent that consults specialists (Mukherjee et al., 2024, "Polaris: A Safety-focused
//! LLM Constellation Architecture for Healthcare"): a primary agent drives the work and, before it
//! answers, asks specialist support agents, each focused on one kind of check, so that their
//! answers catch its errors.
//!
//! A team of a `primary` and two specialists, `arithmetic` (recomputes every calculation it is
//! shown) and `reasoning` (checks that an argument follows from the task), each a member on its
//! own role model (`--role primary=URI`, `arithmetic=…`, `reasoning=…`). In each round the
//! primary replies (a post); a reply whose last line is `Consult: <specialist>: <question>` is a
//! consultation: the specialist reads the round from the team's board, answers the question (its
//! post of the same round), and the primary reads that answer as its next message. A reply with
//! an `Answer:` line and no consultation, or any reply once the run's `max_steps` rounds are
//! played, ends the team with its answer ([`StopReason::Answer`], or
//! [`StopReason::MaxRounds`] at the limit). Polaris trains its agents and runs the specialists
//! on every turn of a voice conversation; here they are prompted, and consulted when the primary
//! asks (the specialists are the primary's tools, as the issue puts it).

use crate::team::{conclude, labeled, request, say, Outcome};
use crate::{extract_answer, sampling, AgentError, Strategy};
use agentos_core::Message;
use agentos_kernel::{Agent, MemberSpec, StopReason, Team};
use async_trait::async_trait;

/// A primary agent consulting specialists. See the module documentation.
pub struct Polaris;

/// The primary agent's role.
pub const PRIMARY_ROLE: &str = "primary";

/// The specialists, by name and what they do.
const SPECIALISTS: [(&str, &str); 2] = [
    ("arithmetic", "You check calculations. Recompute every calculation in what you are asked about, step by step, and say which results are wrong and what they should be."),
    ("reasoning", "You check reasoning. Say whether the argument you are asked about follows from the task, which step does not, and what is missing."),
];

/// The primary agent's role prompt: the task, how to consult, how to answer.
fn primary_role() -> String {
    let listed: Vec<String> = SPECIALISTS.iter().map(|(name, job)| format!("- {name}: {}", job.split('.').next().unwrap_or(job))).collect();
    format!(
        "You solve the user's task step by step. Before you answer you may consult a specialist:\n{}\n\
         To consult one, end your reply with a last line `Consult: <specialist>: <question>`, where the question \
         holds what the specialist must check; its answer comes back to you. Consult when a step could be wrong.",
        listed.join("\n")
    )
}

#[async_trait]
impl Strategy for Polaris {
    fn name(&self) -> &'static str {
        "polaris"
    }

    fn roles(&self) -> &'static [&'static str] {
        &[PRIMARY_ROLE, "arithmetic", "reasoning"]
    }

    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        let roles = std::iter::once((PRIMARY_ROLE, primary_role())).chain(SPECIALISTS.iter().map(|(name, job)| (*name, job.to_string())));
        let members =
            roles.map(|(name, role)| MemberSpec { model: Some(agent.role_model(name).to_string()), ..MemberSpec::new(name, role) });
        let team = agent.team(members.collect()).await?;
        let played = play(agent, &team).await;
        conclude(team, played).await
    }
}

/// The consultation a reply ends with: the specialist's position among the members and the
/// question, or the name it gave when no specialist has it.
fn consultation(reply: &str) -> Option<Result<(usize, String), String>> {
    let asked = labeled(reply, "consult")?;
    let (name, question) = asked.split_once(':').unwrap_or((asked, ""));
    let name = name.trim_matches(|c: char| c.is_whitespace() || matches!(c, '*' | '`' | '<' | '>')).to_ascii_lowercase();
    Some(match SPECIALISTS.iter().position(|(specialist, _)| *specialist == name) {
        Some(i) => Ok((i + 1, question.trim().to_string())),
        None => Err(name),
    })
}

/// The primary's rounds, each a reply and, when it consults, the specialist's answer.
async fn play(agent: &Agent, team: &Team<'_>) -> Result<Outcome, AgentError> {
    let members = team.members();
    let primary = &members[0];
    let temperature = sampling(agent).temperature;
    let rounds = agent.spec().max_steps.max(1);
    let mut conversation = vec![Message::user(agent.task())];
    let mut consulted = Vec::new();
    let stop = |answer: Option<String>, reason, round, consulted: &Vec<String>| {
        Ok(Outcome { answer, reason, round, detail: serde_json::json!({ "consulted": consulted }) })
    };
    for round in 0..rounds {
        let Some(reply) = say(team, primary, round, request(primary, conversation.clone(), temperature, 0)).await? else {
            return stop(None, StopReason::Budget, round, &consulted);
        };
        conversation.push(Message::assistant(reply.clone()));
        let next = match consultation(&reply) {
            None => return stop(Some(extract_answer(&reply)), StopReason::Answer, round, &consulted),
            _ if round + 1 == rounds => return stop(Some(extract_answer(&reply)), StopReason::MaxRounds, round, &consulted),
            Some(Err(name)) => {
                let names: Vec<&str> = SPECIALISTS.iter().map(|(name, _)| *name).collect();
                format!("There is no specialist `{name}`; consult one of: {}.", names.join(", "))
            }
            Some(Ok((i, _))) => {
                let specialist = &members[i];
                // The specialist's question is what it reads on the board, not what the primary holds.
                let asked = team.read(specialist, round).await?.into_iter().map(|post| post.text).collect::<Vec<_>>().join("\n\n");
                let question = consultation(&asked).and_then(Result::ok).map(|(_, q)| q).unwrap_or_default();
                let prompt = format!("Task:\n{}\n\nThe primary agent's work:\n{asked}\n\nIts question to you: {question}", agent.task());
                if say(team, specialist, round, request(specialist, vec![Message::user(prompt)], temperature, 0)).await?.is_none() {
                    return stop(Some(extract_answer(&reply)), StopReason::Budget, round, &consulted);
                }
                consulted.push(SPECIALISTS[i - 1].0.to_string());
                let answers: Vec<String> =
                    team.read(primary, round).await?.into_iter().map(|p| format!("{} says:\n{}", p.sender, p.text)).collect();
                answers.join("\n\n")
            }
        };
        conversation.push(Message::user(next));
    }
    unreachable!("the last round returns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_consultation_off_the_last_line() {
        assert_eq!(consultation("I think 12.\nConsult: arithmetic: is 3 * 4 = 12?"), Some(Ok((1, "is 3 * 4 = 12?".into()))));
        assert_eq!(consultation("**Consult:** Reasoning: does it follow?"), Some(Ok((2, "does it follow?".into()))));
        assert_eq!(consultation("Consult: lawyer: may I?"), Some(Err("lawyer".into())));
        assert_eq!(consultation("3 * 4 = 12.\nAnswer: 12"), None);
    }
}
