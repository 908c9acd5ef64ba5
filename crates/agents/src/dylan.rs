//! DyLAN, the Dynamic LLM-Agent Network (Liu et al., 2023, "Dynamic LLM-Agent Network: An
//! LLM-agent Collaboration Framework with Agent Team Optimization"), as its code
//! (`SALT-NLP/DyLAN`, `LLMLP.py`) does it.
//!
//! Agents with different roles are nodes over rounds, like the layers of a network. In round 0
//! each answers the task. In each later round each active agent reads the active replies of the
//! round before (its own among them, shuffled), answers again and rates each of them 1 to 5
//! (`[[a, b, ...]]`); a rating over 5 is an edge weight, normalised over the node's incoming
//! edges (uniform when it gave none). Within a round agents fire in a shuffled order; once more
//! than ⌊2n/3⌋ of the round's n agents have answered, the team stops as soon as the most common
//! answer has more than ⌊2n/3⌋ votes ([`StopReason::Consensus`]). From the third round on, with
//! more than 3 agents, one extra call (the team run's own) picks the best 2 replies of the round
//! before, and only their agents go on. Without consensus by the last round the majority answers
//! ([`StopReason::MaxRounds`]).
//!
//! The Agent Importance Score is propagated backward from the answer: in the last round the k
//! replies that agree with it get 1/k each; a reply of an earlier round gets the sum, over the
//! replies that rated it, of edge weight × their importance; an agent's score sums its replies'.
//! The scores are in the team's `team_stopped` event (`detail.importance`).
//!
//! Kept from the code as stated; what differs: the agents of one wave of a round are asked
//! together (so the local engine decodes them as one batch), and the consensus check runs after
//! the first ⌊2n/3⌋ + 1 and then after each further agent, which is where the code's sequential
//! check could first stop.

use crate::team::{conclude, request, shown, speak, Outcome};
use crate::{extract_answer, majority_vote, same_answer, sampling, AgentError, Strategy};
use agentos_core::{ChatRequest, Message, Post};
use agentos_kernel::{Agent, MemberSpec, StopReason, Team};
use async_trait::async_trait;
use std::collections::BTreeMap;

/// DyLAN over `agents` agents and at most `rounds` rounds. See the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DyLAN {
    /// How many agents (their roles cycle through [`ROLES`]).
    pub agents: u32,
    /// The most rounds.
    pub rounds: u32,
}

impl Default for DyLAN {
    /// Four agents over at most four rounds, as in the paper's reasoning experiments.
    fn default() -> Self {
        DyLAN { agents: 4, rounds: 4 }
    }
}

/// The agents' roles (after the roles of DyLAN's reasoning experiments), by name and prompt.
pub const ROLES: [(&str, &str); 4] = [
    ("assistant", "You are a helpful assistant. Think step by step."),
    ("mathematician", "You are a mathematician. You are good at math games, arithmetic calculation, and long-term planning."),
    ("programmer", "You are a programmer. You are good at computer science, engineering, and physics, and you check every calculation."),
    ("economist", "You are an economist. You are good at economics, finance, and business, and you reason about quantities carefully."),
];

/// What an agent of a later round is asked.
fn later_round(task: &str, shown: &str, n: usize) -> String {
    format!(
        "Task:\n{task}\n\nThese are the solutions to the task from other agents:\n\n{shown}\n\n\
         Using the reasoning from other agents as additional advice, give an updated answer. Examine your solution \
         and the other agents' step by step. Along with your answer, rate each of the {n} solutions above from 1 \
         (poor) to 5 (excellent), in order, as a line of the form [[1, 5, 2]]."
    )
}

/// The shown replies of the round before, numbered from 1.
fn numbered(replies: &[(usize, String)]) -> String {
    shown(replies.iter().map(|(_, text)| text.as_str()))
}

/// The numbers in the last `[[...]]` of `text` (ratings, or chosen solutions).
fn bracketed(text: &str) -> Vec<f64> {
    let Some(start) = text.rfind("[[") else { return Vec::new() };
    let Some(len) = text[start..].find("]]") else { return Vec::new() };
    text[start + 2..start + len].split(',').filter_map(|n| n.trim().parse::<f64>().ok()).collect()
}

/// Edge weights from `ratings` of `n` replies: rating / 5 clamped to [0, 1], normalised to sum 1;
/// uniform when the ratings are missing, short or all zero.
fn weights(ratings: &[f64], n: usize) -> Vec<f64> {
    let raw: Vec<f64> = (0..n).map(|k| ratings.get(k).map_or(0.0, |r| (r / 5.0).clamp(0.0, 1.0))).collect();
    let total: f64 = raw.iter().sum();
    if ratings.len() < n || total <= 0.0 {
        return vec![1.0 / n as f64; n];
    }
    raw.into_iter().map(|w| w / total).collect()
}

/// A deterministic shuffle of `items`, seeded by `seed` (so a resumed team fires its agents in
/// the same order).
fn shuffled(mut items: Vec<usize>, seed: u64) -> Vec<usize> {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(i, (state % (i as u64 + 1)) as usize);
    }
    items
}

/// FNV-1a of `text`: the shuffle's seed from the team's id.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// One reply of one round: its agent, its answer, and its incoming edges (agent of the round
/// before, weight).
struct Node {
    agent: usize,
    text: String,
    answer: String,
    edges: Vec<(usize, f64)>,
}

#[async_trait]
impl Strategy for DyLAN {
    fn name(&self) -> &'static str {
        "dylan"
    }

    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        let members = (0..self.agents.max(1) as usize)
            .map(|i| {
                let (role, prompt) = ROLES[i % ROLES.len()];
                let name = if i < ROLES.len() { role.to_string() } else { format!("{role}-{}", i / ROLES.len() + 1) };
                MemberSpec::new(name, prompt)
            })
            .collect();
        let team = agent.team(members).await?;
        let played = self.play(agent, &team).await;
        conclude(team, played).await
    }
}

impl DyLAN {
    async fn play(&self, agent: &Agent, team: &Team<'_>) -> Result<Outcome, AgentError> {
        let members = team.members();
        let mut rounds: Vec<Vec<Node>> = Vec::new();
        let mut selected = BTreeMap::new();
        let mut active: Vec<usize> = (0..members.len()).collect();
        let seed = fnv(agent.run().as_str());
        for round in 0..self.rounds.max(1) {
            if round >= 2 && members.len() > 3 && active.len() > 2 {
                active = select(agent, rounds.last().expect("a round before")).await?;
                selected.insert(round, active.iter().map(|i| name(team, *i)).collect::<Vec<_>>());
            }
            let order = shuffled(active.clone(), seed ^ u64::from(round));
            let n = order.len();
            let first = (2 * n / 3 + 1).min(n);
            let mut nodes: Vec<Node> = Vec::new();
            let waves = std::iter::once(&order[..first]).chain(order[first..].chunks(1));
            for wave in waves {
                let Some(answered) = self.wave(agent, team, &rounds, wave, round).await? else {
                    rounds.push(nodes);
                    let answer = latest_vote(&rounds);
                    return Ok(self.outcome(team, rounds, answer, StopReason::Budget, round, selected));
                };
                nodes.extend(answered);
                if let Some(answer) = consensus(&nodes, n) {
                    rounds.push(nodes);
                    return Ok(self.outcome(team, rounds, Some(answer), StopReason::Consensus, round, selected));
                }
            }
            active = nodes.iter().map(|node| node.agent).collect();
            active.sort_unstable();
            rounds.push(nodes);
        }
        let answer = latest_vote(&rounds);
        Ok(self.outcome(team, rounds, answer, StopReason::MaxRounds, self.rounds.max(1) - 1, selected))
    }

    /// The agents of `wave` answer round `round` together: each reads the round before from the
    /// board, answers and (after round 0) rates what it read. `None` when a budget ran out.
    async fn wave(
        &self,
        agent: &Agent,
        team: &Team<'_>,
        rounds: &[Vec<Node>],
        wave: &[usize],
        round: u32,
    ) -> Result<Option<Vec<Node>>, AgentError> {
        let members = team.members();
        let mut asks: Vec<(usize, ChatRequest, Vec<usize>)> = Vec::new();
        for &i in wave {
            let member = &members[i];
            let (prompt, shown) = match rounds.last() {
                None => (agent.task().to_string(), Vec::new()),
                Some(before) => {
                    let posts: Vec<Post> = team.read(member, round - 1).await?;
                    let mut replies: Vec<(usize, String)> = before
                        .iter()
                        .filter_map(|node| {
                            let sender = name(team, node.agent);
                            let text = if node.agent == i {
                                Some(node.text.clone())
                            } else {
                                posts.iter().find(|p| p.sender == sender).map(|p| p.text.clone())
                            };
                            text.map(|t| (node.agent, t))
                        })
                        .collect();
                    let order = shuffled((0..replies.len()).collect(), fnv(member.run().as_str()) ^ u64::from(round));
                    replies = order.into_iter().map(|k| replies[k].clone()).collect();
                    (later_round(agent.task(), &numbered(&replies), replies.len()), replies.into_iter().map(|(a, _)| a).collect())
                }
            };
            asks.push((i, request(member, vec![Message::user(prompt)], sampling(agent).temperature, i), shown));
        }
        let calls = asks.iter().map(|(i, request, _)| (&members[*i], request.clone())).collect();
        let Some(texts) = speak(team, round, calls).await? else { return Ok(None) };
        let mut nodes = Vec::new();
        for ((i, _, shown), text) in asks.into_iter().zip(texts) {
            let edges = shown.iter().copied().zip(weights(&bracketed(&text), shown.len())).collect();
            nodes.push(Node { agent: i, answer: extract_answer(&text), text, edges });
        }
        Ok(Some(nodes))
    }

    /// The outcome, with each agent's importance score in its detail.
    fn outcome(
        &self,
        team: &Team<'_>,
        rounds: Vec<Vec<Node>>,
        answer: Option<String>,
        reason: StopReason,
        round: u32,
        selected: BTreeMap<u32, Vec<String>>,
    ) -> Outcome {
        let scores = importance(&rounds, answer.as_deref(), team.members().len());
        let importance: BTreeMap<String, f64> = scores.into_iter().enumerate().map(|(i, s)| (name(team, i), s)).collect();
        Outcome { answer, reason, round, detail: serde_json::json!({ "importance": importance, "selected": selected }) }
    }
}

/// A member's name in the team.
fn name(team: &Team<'_>, i: usize) -> String {
    team.members()[i].seat().map_or_else(String::new, |s| s.member.clone())
}

/// The consensus answer among a round's `nodes` so far, of its `n` agents: once more than
/// ⌊2n/3⌋ answered, the most common answer if it has more than ⌊2n/3⌋ votes.
fn consensus(nodes: &[Node], n: usize) -> Option<String> {
    let threshold = 2 * n / 3;
    if nodes.len() <= threshold {
        return None;
    }
    let answers: Vec<&str> = nodes.iter().map(|node| node.answer.as_str()).filter(|a| !a.is_empty()).collect();
    let top = majority_vote(&answers)?;
    let votes = answers.iter().filter(|a| same_answer(a, &top)).count();
    (votes > threshold).then_some(top)
}

/// The majority of the latest round that has answers.
fn latest_vote(rounds: &[Vec<Node>]) -> Option<String> {
    rounds.iter().rev().find_map(|nodes| majority_vote(&nodes.iter().map(|node| node.answer.as_str()).collect::<Vec<_>>()))
}

/// Each agent's Agent Importance Score: 1/k to each of the k replies of the last round with
/// replies that agree with `answer`, carried back along the edges weighted by the ratings, and
/// summed over each agent's replies.
fn importance(rounds: &[Vec<Node>], answer: Option<&str>, agents: usize) -> Vec<f64> {
    let mut scores = vec![0.0; agents];
    let Some(answer) = answer else { return scores };
    let Some(last) = rounds.iter().rposition(|nodes| !nodes.is_empty()) else { return scores };
    let agreeing = rounds[last].iter().filter(|node| same_answer(&node.answer, answer)).count();
    let mut current: Vec<f64> = vec![0.0; agents];
    for node in &rounds[last] {
        if agreeing > 0 && same_answer(&node.answer, answer) {
            current[node.agent] = 1.0 / agreeing as f64;
        }
    }
    for t in (0..=last).rev() {
        for (agent, score) in current.iter().enumerate() {
            scores[agent] += score;
        }
        let mut before = vec![0.0; agents];
        for node in &rounds[t] {
            for (from, weight) in &node.edges {
                before[*from] += weight * current[node.agent];
            }
        }
        current = before;
    }
    scores
}

/// The team run's one extra call from the third round on: picks the best 2 replies of the round
/// before; only their agents go on (the first two shown, when the pick cannot be read).
async fn select(agent: &Agent, before: &[Node]) -> Result<Vec<usize>, AgentError> {
    let shown: Vec<(usize, String)> = before.iter().map(|node| (node.agent, node.text.clone())).collect();
    let prompt = format!(
        "Task:\n{}\n\nThese are solutions to the task:\n\n{}\n\nWhich 2 solutions are the best? Answer with their numbers \
         as a last line of the form [[1, 2]].",
        agent.task(),
        numbered(&shown)
    );
    let ask = ChatRequest { messages: vec![Message::user(prompt)], sampling: sampling(agent), ..Default::default() };
    let reply = agent.model(ask).await?;
    let mut picked: Vec<usize> = Vec::new();
    for k in bracketed(&reply.message.content()) {
        let k = k as usize;
        if (1..=shown.len()).contains(&k) && !picked.contains(&shown[k - 1].0) && picked.len() < 2 {
            picked.push(shown[k - 1].0);
        }
    }
    for (agent, _) in &shown {
        if picked.len() < 2 && !picked.contains(agent) {
            picked.push(*agent);
        }
    }
    picked.sort_unstable();
    Ok(picked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(agent: usize, answer: &str, edges: Vec<(usize, f64)>) -> Node {
        Node { agent, text: String::new(), answer: answer.into(), edges }
    }

    #[test]
    fn importance_flows_back_along_the_ratings() {
        // Round 0: agents 0, 1, 2. Round 1: agents 0 and 1 agree with the answer; agent 0 rated
        // agent 2's reply highest, agent 1 rated agent 1 (itself) only.
        let rounds = vec![
            vec![node(0, "5", vec![]), node(1, "5", vec![]), node(2, "6", vec![])],
            vec![node(0, "5", vec![(0, 0.25), (1, 0.25), (2, 0.5)]), node(1, "5", vec![(1, 1.0)]), node(2, "6", vec![(2, 1.0)])],
        ];
        let scores = importance(&rounds, Some("5"), 3);
        // Last round: 0.5 each to agents 0 and 1. Round 0: agent 0 gets 0.25·0.5; agent 1
        // 0.25·0.5 + 1·0.5; agent 2 0.5·0.5 (agent 2's own round-1 node has importance 0).
        let expected = [0.5 + 0.125, 0.5 + 0.625, 0.25];
        for (got, want) in scores.iter().zip(expected) {
            assert!((got - want).abs() < 1e-9, "{scores:?}");
        }
        assert!((scores.iter().sum::<f64>() - 1.0 - 1.0).abs() < 1e-9, "each round's importance sums to 1");
    }

    #[test]
    fn ratings_become_normalised_weights() {
        assert_eq!(bracketed("I rate them [[1, 5, 4]].\nAnswer: 3"), vec![1.0, 5.0, 4.0]);
        let w = weights(&[1.0, 5.0, 4.0], 3);
        assert!((w[1] - 0.5).abs() < 1e-9 && (w.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert_eq!(weights(&[], 2), vec![0.5, 0.5], "no ratings: uniform");
        assert_eq!(weights(&[9.0, 0.0], 2), vec![1.0, 0.0], "clamped to 5");
    }

    #[test]
    fn consensus_needs_more_than_two_thirds() {
        let nodes = vec![node(0, "5", vec![]), node(1, "5", vec![])];
        assert_eq!(consensus(&nodes, 4), None, "2 of 4 have answered: not more than ⌊8/3⌋ = 2");
        let nodes = vec![node(0, "5", vec![]), node(1, "5", vec![]), node(2, "5", vec![])];
        assert_eq!(consensus(&nodes, 4).as_deref(), Some("5"));
        let nodes = vec![node(0, "5", vec![]), node(1, "5", vec![]), node(2, "6", vec![])];
        assert_eq!(consensus(&nodes, 4), None, "2 votes are not more than 2");
    }

    #[test]
    fn the_shuffle_is_a_permutation_and_repeatable() {
        let a = shuffled((0..6).collect(), 42);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..6).collect::<Vec<_>>());
        assert_eq!(a, shuffled((0..6).collect(), 42));
    }
}
