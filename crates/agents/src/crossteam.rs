//! Cross-Team Collaboration (Du et al., 2024, "Multi-Agent Software Development through
//! Cross-Team Collaboration", ChatDev): several teams work on the same task independently, each
//! proposing its own solution; the proposals are pooled, the low-quality ones are pruned, and the
//! rest are aggregated into one solution that keeps their strengths and drops their flaws.
//!
//! What it does: K teams (`crossteam:K`, three by default) are K member runs (`team-1`, …), each
//! asked the task on its own in round 0 (sampled above temperature zero, each with its position
//! as the seed, so that they explore different paths) and posting its proposal on the team's
//! board. The team run's own model then rates each proposal from 1 to 10 (one call per proposal,
//! asked at once, each ending `Score: <n>`). A proposal is pruned when its score is below the
//! mean of the scores or below [`THRESHOLD`]; a proposal whose score cannot be read is kept (and
//! left out of the mean), and when every proposal would go the best-scored one stays. The kept
//! proposals are merged into one answer by one more call of the team run's model (with a single
//! kept proposal there is nothing to merge: its answer is the team's). The team stops with that
//! answer ([`StopReason::Answer`]); the scores, the mean, and which proposals were kept and pruned
//! are in its `team_stopped` event's detail.
//!
//! Where it deviates: in the paper each team is a whole ChatDev chain of roles and phases, teams
//! exchange their contents at several phases, pruning judges quality by task-specific metrics,
//! and aggregation runs over groups of teams level by level (hierarchy partitioning) to keep each
//! context short. Here each team is one member, the teams meet once (after their proposals), an
//! LLM rating does the pruning, and with the few teams of a run one merge call aggregates them
//! all. A budget that runs out stops the team ([`StopReason::Budget`]) with the majority of the
//! proposals' answers (while scoring) or the best-scored kept proposal's answer (while merging).

use crate::answer::ANSWER_FORMAT;
use crate::team::{conclude, labeled_number, replies, request, shown, speak, Outcome};
use crate::{extract_answer, majority_vote, sampling, AgentError, Strategy, SAMPLE_TEMPERATURE};
use agentos_core::{ChatRequest, Message};
use agentos_kernel::{Agent, MemberSpec, StopReason, Team};
use async_trait::async_trait;
use serde_json::json;

/// Cross-Team Collaboration over `teams` teams. See the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrossTeam {
    /// How many teams propose a solution.
    pub teams: u32,
}

impl Default for CrossTeam {
    /// Three teams.
    fn default() -> Self {
        CrossTeam { teams: 3 }
    }
}

/// The score (of 1 to 10) below which a proposal is pruned even when it is above the mean.
pub const THRESHOLD: f64 = 5.0;

/// Each team's role prompt.
const ROLE: &str = "You are one of several independent teams that each solve the same task on their own. \
Think step by step and give your best complete solution.";

/// The team run's prompt when it rates one proposal.
const SCORER: &str = "You review a proposed solution to a task. Check its reasoning and its result step by step, \
then rate its quality from 1 (wrong or useless) to 10 (correct and complete). \
End your reply with a last line of the form `Score: <1-10>`.";

/// The team run's prompt when it merges the kept proposals.
const MERGER: &str = "You merge the solutions that several teams proposed for the same task into one final solution: \
keep what is right in each, drop what is wrong, and resolve where they disagree by checking the steps.";

#[async_trait]
impl Strategy for CrossTeam {
    fn name(&self) -> &'static str {
        "crossteam"
    }

    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        let members = (1..=self.teams.max(1)).map(|i| MemberSpec::new(format!("team-{i}"), ROLE)).collect();
        let team = agent.team(members).await?;
        let played = play(agent, &team).await;
        conclude(team, played).await
    }
}

/// Which of the proposals scored `scores` are kept (the rest are pruned): those with a score at
/// least the mean of the scores and at least [`THRESHOLD`], and those without a score; the
/// best-scored one (the first of a tie) when that keeps none.
fn kept(scores: &[Option<f64>]) -> Vec<bool> {
    let mean = mean(scores).unwrap_or(THRESHOLD);
    let mut keep: Vec<bool> = scores.iter().map(|s| s.is_none_or(|s| s >= mean && s >= THRESHOLD)).collect();
    if !keep.contains(&true) {
        keep[best(scores, 0..scores.len())] = true;
    }
    keep
}

/// The mean of the scores that could be read, if any could.
fn mean(scores: &[Option<f64>]) -> Option<f64> {
    let known: Vec<f64> = scores.iter().flatten().copied().collect();
    (!known.is_empty()).then(|| known.iter().sum::<f64>() / known.len() as f64)
}

/// The proposal of `among` with the highest score (unscored ones the lowest; the first of a tie).
fn best(scores: &[Option<f64>], among: impl IntoIterator<Item = usize>) -> usize {
    among.into_iter().reduce(|best, i| if scores[i] > scores[best] { i } else { best }).expect("at least one proposal")
}

/// Proposals in round 0, the team run's scoring and pruning, and the merge.
async fn play(agent: &Agent, team: &Team<'_>) -> Result<Outcome, AgentError> {
    let members = team.members();
    let temperature = Some(agent.spec().temperature.filter(|t| *t > 0.0).unwrap_or(SAMPLE_TEMPERATURE));
    let calls = members.iter().enumerate().map(|(i, m)| (m, request(m, vec![Message::user(agent.task())], temperature, i))).collect();
    let outcome = |answer, reason, detail| Outcome { answer, reason, round: 0, detail };
    let Some(proposals) = speak(team, 0, calls).await? else { return Ok(outcome(None, StopReason::Budget, json!(null))) };
    let answers: Vec<String> = proposals.iter().map(|p| extract_answer(p)).collect();

    let ask = |proposal: &str| ChatRequest {
        messages: vec![
            Message::system(SCORER),
            Message::user(format!("Task:\n{}\n\nProposed solution:\n```\n{}\n```", agent.task(), proposal.trim())),
        ],
        sampling: sampling(agent),
        ..Default::default()
    };
    let Some(ratings) = replies(proposals.iter().map(|p| (agent, ask(p))).collect()).await? else {
        let majority = majority_vote(&answers.iter().map(String::as_str).collect::<Vec<_>>());
        return Ok(outcome(majority, StopReason::Budget, json!(null)));
    };
    let scores: Vec<Option<f64>> = ratings.iter().map(|r| labeled_number(&r.message.content(), "score")).collect();
    let keep = kept(&scores);
    let name = |i: usize| members[i].seat().map_or_else(String::new, |s| s.member.clone());
    let detail = json!({
        "scores": (0..scores.len()).map(|i| (name(i), scores[i])).collect::<std::collections::BTreeMap<_, _>>(),
        "mean": mean(&scores),
        "threshold": THRESHOLD,
        "kept": (0..keep.len()).filter(|i| keep[*i]).map(name).collect::<Vec<_>>(),
        "pruned": (0..keep.len()).filter(|i| !keep[*i]).map(name).collect::<Vec<_>>(),
    });
    let survivors: Vec<usize> = (0..keep.len()).filter(|i| keep[*i]).collect();
    let best = best(&scores, survivors.iter().copied());
    if survivors.len() == 1 {
        return Ok(outcome(Some(answers[best].clone()), StopReason::Answer, detail));
    }

    let merge = ChatRequest {
        messages: vec![
            Message::system(format!("{MERGER} {ANSWER_FORMAT}")),
            Message::user(format!(
                "Task:\n{}\n\nThese are the teams' solutions:\n\n{}\n\nMerge them into one final solution.",
                agent.task(),
                shown(survivors.iter().map(|i| proposals[*i].as_str()))
            )),
        ],
        sampling: sampling(agent),
        ..Default::default()
    };
    let Some(merged) = crate::team::reply(agent, merge).await? else {
        return Ok(outcome(Some(answers[best].clone()), StopReason::Budget, detail));
    };
    Ok(outcome(Some(extract_answer(&merged.message.content())), StopReason::Answer, detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prunes_below_the_mean_and_below_the_threshold_and_keeps_one() {
        assert_eq!(kept(&[Some(8.0), Some(3.0), Some(9.0)]), [true, false, true], "mean 6.67");
        assert_eq!(kept(&[Some(4.0), Some(4.5), Some(2.0)]), [false, true, false], "all below 5: the best stays");
        assert_eq!(kept(&[Some(7.0), None, Some(9.0)]), [false, true, true], "unscored is kept; mean 8");
        assert_eq!(kept(&[None, None]), [true, true]);
    }
}
