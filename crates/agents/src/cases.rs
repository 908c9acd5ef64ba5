//! Similar-case generation (Yang et al., 2024, "LLM-MedQA: Enhancing Medical Question Answering
//! through Case Studies in Large Language Models"): before answering, one agent writes solved
//! cases similar to the question, and another answers the question with those cases as worked
//! examples, zero-shot (no examples come from a dataset).
//!
//! A team of two members, each on its own role model (`--role case-writer=URI`, `solver=…`; the
//! run's model otherwise): round 0 is the case writer's post of [`Cases::cases`] similar problems,
//! each with a worked solution and its answer; round 1 is the solver's answer to the task, after
//! reading round 0 from the team's board. The team stops with the solver's answer
//! ([`StopReason::Answer`]); a budget that runs out before it stops the team with no answer
//! ([`StopReason::Budget`]). LLM-MedQA's system has more agents (a question analyst and
//! option-wise answerers for multiple-choice questions); this keeps its mechanism, cases first,
//! for any task.

use crate::team::{conclude, framed, request, say, Outcome};
use crate::{extract_answer, sampling, AgentError, Strategy};
use agentos_core::Message;
use agentos_kernel::{Agent, MemberSpec, StopReason, Team};
use async_trait::async_trait;

/// Similar cases first, then the answer. See the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cases {
    /// How many similar solved cases the case writer writes.
    pub cases: u32,
}

impl Default for Cases {
    /// Three cases.
    fn default() -> Self {
        Cases { cases: 3 }
    }
}

/// The case writer's role.
pub const CASE_WRITER_ROLE: &str = "case-writer";
/// The solver's role.
pub const SOLVER_ROLE: &str = "solver";

/// What the case writer must end with instead of an answer.
const CASES_FORMAT: &str = "Number the cases `Case 1:`, `Case 2:` and so on; do not solve the user's task itself.";

#[async_trait]
impl Strategy for Cases {
    fn name(&self) -> &'static str {
        "cases"
    }

    fn roles(&self) -> &'static [&'static str] {
        &[CASE_WRITER_ROLE, SOLVER_ROLE]
    }

    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        let n = self.cases.max(1);
        let writer = format!(
            "You write worked examples. Given a task, write {n} different problems of the same kind, each followed by \
             its step-by-step solution and its answer."
        );
        let solver = "You solve the user's task step by step, using the solved cases you are given as worked examples.";
        let members = [(CASE_WRITER_ROLE, writer), (SOLVER_ROLE, solver.to_string())]
            .into_iter()
            .map(|(name, role)| MemberSpec { model: Some(agent.role_model(name).to_string()), ..MemberSpec::new(name, role) })
            .collect();
        let team = agent.team(members).await?;
        let played = play(agent, &team).await;
        conclude(team, played).await
    }
}

/// The case writer's post, then the solver's answer from it.
async fn play(agent: &Agent, team: &Team<'_>) -> Result<Outcome, AgentError> {
    let [writer, solver] = team.members() else { unreachable!("a case writer and a solver") };
    let temperature = sampling(agent).temperature;
    let budget = |round| Ok(Outcome { answer: None, reason: StopReason::Budget, round, detail: serde_json::Value::Null });
    let ask = framed(writer, CASES_FORMAT, vec![Message::user(format!("Task:\n{}", agent.task()))], temperature, 0);
    if say(team, writer, 0, ask).await?.is_none() {
        return budget(0);
    }
    let cases: Vec<String> = team.read(solver, 0).await?.into_iter().map(|post| post.text).collect();
    let prompt = format!("Solved cases:\n\n{}\n\nTask:\n{}", cases.join("\n\n"), agent.task());
    let Some(text) = say(team, solver, 1, request(solver, vec![Message::user(prompt)], temperature, 0)).await? else {
        return budget(1);
    };
    Ok(Outcome { answer: Some(extract_answer(&text)), reason: StopReason::Answer, round: 1, detail: serde_json::Value::Null })
}
