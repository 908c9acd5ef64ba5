//! MALT's sequential team (Motwani et al., 2024, "MALT: Improving Reasoning with Multi-Agent LLM
//! Training"): a generator solves the task, a verifier checks the generator's solution step by
//! step, and a refiner writes the final answer from both. MALT trains each role; here each role
//! is a member run with its own role prompt and its own model (`--role generator=URI`,
//! `verifier=…`, `refiner=…`; the run's model otherwise), which is the inference-time system
//! MALT's trained models slot into.
//!
//! Round 0 is the generator's solution, round 1 the verifier's critique (it reads round 0 from
//! the team's board), round 2 the refiner's answer (it reads rounds 0 and 1). The team stops with the
//! refiner's answer ([`StopReason::Answer`]); a budget that runs out first stops it with the
//! latest answer it has ([`StopReason::Budget`]).

use crate::team::{conclude, reply, request, Outcome};
use crate::{extract_answer, sampling, AgentError, Strategy};
use agentos_core::Message;
use agentos_kernel::{Agent, MemberSpec, StopReason, Team};
use async_trait::async_trait;

/// MALT's generator → verifier → refiner. See the module documentation.
pub struct Malt;

/// The generator's role.
pub const GENERATOR_ROLE: &str = "generator";
/// The verifier's role.
pub const VERIFIER_ROLE: &str = "verifier";
/// The refiner's role.
pub const REFINER_ROLE: &str = "refiner";

/// Each role's name and prompt, in the order they speak.
const ROLES: [(&str, &str); 3] = [
    (GENERATOR_ROLE, "You are the generator of a team of three. Solve the user's task. Think step by step."),
    (
        VERIFIER_ROLE,
        "You are the verifier of a team of three. You are given a task and a proposed solution. Check every step of the \
         solution: recompute each calculation and say which step, if any, is wrong and why. Then give the answer you \
         believe is right.",
    ),
    (
        REFINER_ROLE,
        "You are the refiner of a team of three. You are given a task, a proposed solution and a verifier's critique of it. \
         Write the correct final solution, keeping what is right and fixing what the critique shows is wrong.",
    ),
];

#[async_trait]
impl Strategy for Malt {
    fn name(&self) -> &'static str {
        "malt"
    }

    fn roles(&self) -> &'static [&'static str] {
        &[GENERATOR_ROLE, VERIFIER_ROLE, REFINER_ROLE]
    }

    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        let members = ROLES
            .iter()
            .map(|(name, prompt)| MemberSpec { model: Some(agent.role_model(name).to_string()), ..MemberSpec::new(*name, *prompt) })
            .collect();
        let team = agent.team(members).await?;
        let played = play(agent, &team).await;
        conclude(team, played).await
    }
}

/// The three turns; each reads what the ones before it posted.
async fn play(agent: &Agent, team: &Team<'_>) -> Result<Outcome, AgentError> {
    let mut answer = None;
    for (round, member) in team.members().iter().enumerate() {
        let round = round as u32;
        let mut context = format!("Task:\n{}", agent.task());
        for earlier in 0..round {
            for post in team.read(member, earlier).await? {
                let heading = if post.sender == GENERATOR_ROLE { "Proposed solution" } else { "Verifier's critique" };
                context.push_str(&format!("\n\n{heading}:\n{}", post.text.trim()));
            }
        }
        let ask = request(member, vec![Message::user(context)], sampling(agent).temperature, 0);
        let Some(reply) = reply(member, ask).await? else {
            return Ok(Outcome { answer, reason: StopReason::Budget, round, detail: serde_json::Value::Null });
        };
        let text = reply.message.content();
        team.post(member, round, &text, reply.usage.output_tokens).await?;
        answer = Some(extract_answer(&text)).filter(|a| !a.is_empty()).or(answer);
    }
    Ok(Outcome { answer, reason: StopReason::Answer, round: 2, detail: serde_json::Value::Null })
}
