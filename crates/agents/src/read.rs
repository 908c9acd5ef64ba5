//! ReAd, Reinforced Advantage feedback (Zhang et al., 2024, "Towards Efficient LLM Grounding for
//! Embodied Multi-Agent Collaboration"): an LLM planner proposes a joint plan, a critic scores the
//! plan's advantage (how much it improves on what the agents would achieve without it), and while
//! the advantage is not positive the planner refines the plan with that score as feedback, instead
//! of verifying every plan in the environment.
//!
//! What it does: two members, a `planner` and a `critic`, each on its role's model (`--role
//! planner=URI`, `critic=URI`; the run's model otherwise). In round r the planner posts a plan
//! that ends with an answer; the critic reads it from the team's board (it sees only the task and
//! that plan, like a value function of state and action) and posts its estimate, ending `Advantage:
//! <number>` (positive: the plan improves on the current best; zero or negative: it does not).
//! A positive advantage accepts the plan and the team stops with its answer
//! ([`StopReason::Answer`]). Otherwise the planner reads the critic's message and refines its plan
//! in its own growing conversation, at most `N` times (`read:N`, three by default); when the
//! refinements run out the team answers with the best-scored plan ([`StopReason::MaxRounds`]).
//! The advantage of each round (`null` where the critic gave no readable number, which counts as
//! not positive) is in the `team_stopped` event's detail, with the round accepted and the round
//! answered with.
//!
//! The current best the critic compares with is the state before any plan: the loop stops at the
//! first positive advantage, so no accepted plan ever replaces that baseline, and the advantages
//! of the rounds are comparable (the best-scored plan is the one with the highest).
//!
//! Where it deviates: ReAd learns its critic by regression on LLM-planned trajectories (the
//! sequential advantage of each agent's action, ReAd-S, or of the joint action, ReAd-J) and acts
//! in the environment after each accepted plan. Here the critic is a prompted model, not a learned
//! function, the plan is the team's answer to a one-shot task (there is no environment step), and
//! the critic also says in words what is wrong, which the planner reads along with the score. A
//! budget that runs out stops the team with the best-scored plan so far, else the latest
//! ([`StopReason::Budget`]).

use crate::team::{conclude, framed, labeled_number, request, say, Outcome, PLANNER_ROLE};
use crate::{extract_answer, sampling, AgentError, Strategy};
use agentos_core::Message;
use agentos_kernel::{Agent, MemberSpec, StopReason, Team};
use async_trait::async_trait;
use serde_json::json;

/// ReAd with at most `refinements` refinements after the first plan. See the module
/// documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReAd {
    /// How many times the planner may refine a plan whose advantage is not positive.
    pub refinements: u32,
}

impl Default for ReAd {
    /// Three refinements.
    fn default() -> Self {
        ReAd { refinements: 3 }
    }
}

/// The critic's role.
pub const CRITIC_ROLE: &str = "critic";

/// The planner's role prompt.
const PLANNER: &str = "You are the planner of a team of two. Propose a plan that solves the user's task, step by step, \
and carry it out to its result. When a critic scores your plan, refine it to raise its advantage.";

/// The critic's role prompt.
const CRITIC: &str = "You are the critic of a team of two. You are given a task and a proposed plan with its result. \
Estimate the plan's advantage: how much better the task ends by following this plan than without it. \
Recompute each step; a plan with a wrong step or a wrong result has a negative advantage. \
Say briefly which step, if any, is wrong and why.";

/// What the critic's reply ends with.
const ADVANTAGE_FORMAT: &str = "End your reply with a last line of the form `Advantage: <number from -10 to 10>`: \
positive if the plan is correct and improves on the current best, zero or negative if it does not.";

#[async_trait]
impl Strategy for ReAd {
    fn name(&self) -> &'static str {
        "read"
    }

    fn roles(&self) -> &'static [&'static str] {
        &[PLANNER_ROLE, CRITIC_ROLE]
    }

    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        let member = |name: &str, role| MemberSpec { model: Some(agent.role_model(name).to_string()), ..MemberSpec::new(name, role) };
        let team = agent.team(vec![member(PLANNER_ROLE, PLANNER), member(CRITIC_ROLE, CRITIC)]).await?;
        let played = self.play(agent, &team).await;
        conclude(team, played).await
    }
}

impl ReAd {
    /// Plan, score, and refine until a plan's advantage is positive or the refinements run out.
    async fn play(&self, agent: &Agent, team: &Team<'_>) -> Result<Outcome, AgentError> {
        let [planner, critic] = team.members() else { unreachable!("a planner and a critic") };
        let temperature = sampling(agent).temperature;
        let mut conversation = vec![Message::user(agent.task())];
        let mut advantages: Vec<Option<f64>> = Vec::new();
        // The plans' answers, and which of them scored highest so far.
        let mut answers: Vec<String> = Vec::new();
        let mut best: Option<usize> = None;
        for round in 0..=self.refinements {
            let ask = request(planner, conversation.clone(), temperature, 0);
            let Some(plan) = say(team, planner, round, ask).await? else {
                return outcome(&answers, best, &advantages, None, StopReason::Budget, round);
            };
            conversation.push(Message::assistant(plan.clone()));
            answers.push(extract_answer(&plan));

            let shown: Vec<String> = team.read(critic, round).await?.into_iter().map(|p| p.text).collect();
            let prompt = format!("Task:\n{}\n\nProposed plan:\n{}", agent.task(), shown.join("\n\n").trim());
            let Some(critique) =
                say(team, critic, round, framed(critic, ADVANTAGE_FORMAT, vec![Message::user(prompt)], temperature, 0)).await?
            else {
                return outcome(&answers, best, &advantages, None, StopReason::Budget, round);
            };
            let advantage = labeled_number(&critique, "advantage");
            advantages.push(advantage);
            let r = round as usize;
            if advantage.is_some() && best.is_none_or(|b| advantage > advantages[b]) {
                best = Some(r);
            }
            if advantage.is_some_and(|a| a > 0.0) {
                return outcome(&answers, Some(r), &advantages, Some(round), StopReason::Answer, round);
            }
            if round < self.refinements {
                let feedback: Vec<String> = team.read(planner, round).await?.into_iter().map(|p| p.text).collect();
                conversation.push(Message::user(refine(advantage, &feedback.join("\n\n"))));
            }
        }
        outcome(&answers, best, &advantages, None, StopReason::MaxRounds, self.refinements)
    }
}

/// How the team ends in `round` for `reason`: with the answer of the plan of round `best`, else
/// of the latest plan; `accepted` is the round whose plan the critic accepted.
fn outcome(
    answers: &[String],
    best: Option<usize>,
    advantages: &[Option<f64>],
    accepted: Option<u32>,
    reason: StopReason,
    round: u32,
) -> Result<Outcome, AgentError> {
    let chosen = best.or_else(|| answers.len().checked_sub(1));
    let detail = json!({ "advantages": advantages, "accepted": accepted, "answered_with": chosen });
    Ok(Outcome { answer: chosen.map(|r| answers[r].clone()), reason, round, detail })
}

/// What the planner is told when its plan's advantage is not positive.
fn refine(advantage: Option<f64>, critique: &str) -> String {
    let score = advantage.map_or_else(
        || "The critic gave your plan no advantage score".to_string(),
        |a| format!("The critic estimated your plan's advantage at {a}, which does not improve on the current best"),
    );
    format!(
        "{score}. Its feedback:\n\n{}\n\nRefine your plan to raise its advantage: fix what the feedback shows is wrong, \
         and carry the plan out again to its result.",
        critique.trim()
    )
}
