//! Multi-agent debate (Du et al., 2023, "Improving Factuality and Reasoning in Language Models
//! through Multiagent Debate"): several agents answer the same question, then over a few rounds
//! each reads the others' answers and gives an updated one; the final answer is the majority's.
//!
//! Each agent is a member run of the team (see [`agentos_kernel::Team`]) that keeps its own
//! conversation: the task, its reply, the others' replies of that round (read from the team's
//! board), its updated reply, and so on, so every round's prompt extends the last one's (a prefix
//! the local engine serves from its cache). The agents sample (above temperature zero, each with
//! its position as the seed) so that they start from different chains of thought.
//!
//! The team stops early on consensus (every member still in the team gives the same answer), and
//! otherwise after its last round ([`StopReason::MaxRounds`]), answering with the majority of the
//! members' latest answers. A member that repeats its previous reply word for word, or gives no
//! `Answer:` line two rounds in a row, leaves the remaining rounds (its answer still votes); when
//! none is left the team stops for that reason. A budget that runs out mid-round stops the team
//! with the majority of the answers it has ([`StopReason::Budget`]).

use crate::team::{conclude, hear, request, shown, speak, Outcome, Roster};
use crate::{same_answer, AgentError, Strategy, SAMPLE_TEMPERATURE};
use agentos_core::Message;
use agentos_kernel::{Agent, MemberSpec, StopReason};
use async_trait::async_trait;

/// Multi-agent debate of `agents` agents over `rounds` rounds after their first answers. See the
/// module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Debate {
    /// How many agents debate.
    pub agents: u32,
    /// How many rounds of reading the others and answering again follow the first answers.
    pub rounds: u32,
}

impl Default for Debate {
    /// Three agents, two rounds: the setting of Du et al.'s main experiments.
    fn default() -> Self {
        Debate { agents: 3, rounds: 2 }
    }
}

impl Debate {
    /// Parses the count of `debate:N` (N agents, two rounds) or `debate:NxR`.
    ///
    /// ```
    /// use agentos_agents::Debate;
    /// assert_eq!(Debate::parse("4x3"), Some(Debate { agents: 4, rounds: 3 }));
    /// assert_eq!(Debate::parse("5"), Some(Debate { agents: 5, rounds: 2 }));
    /// assert_eq!(Debate::parse("0x2"), None);
    /// ```
    pub fn parse(count: &str) -> Option<Debate> {
        let whole = |s: &str| s.trim().parse::<u32>().ok().filter(|n| *n > 0);
        match count.split_once(['x', '×']) {
            Some((agents, rounds)) => Some(Debate { agents: whole(agents)?, rounds: rounds.trim().parse().ok()? }),
            None => Some(Debate { agents: whole(count)?, ..Debate::default() }),
        }
    }
}

/// Each debater's role prompt.
const ROLE: &str = "You are one of several agents who solve the same task and then read each other's solutions. \
Think step by step.";

/// What a debater is told when it reads the others' replies (after Du et al.'s prompt).
fn update(posts: &str) -> String {
    format!(
        "These are the solutions to the task from the other agents:\n\n{posts}\n\n\
         Using the reasoning from the other agents as additional advice, give an updated answer. \
         Examine your solution and the other agents' solutions step by step."
    )
}

#[async_trait]
impl Strategy for Debate {
    fn name(&self) -> &'static str {
        "debate"
    }

    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        let members = (1..=self.agents.max(1)).map(|i| MemberSpec::new(format!("agent-{i}"), ROLE)).collect();
        let team = agent.team(members).await?;
        let played = self.play(agent, &team).await;
        conclude(team, played).await
    }
}

impl Debate {
    async fn play(&self, agent: &Agent, team: &agentos_kernel::Team<'_>) -> Result<Outcome, AgentError> {
        let members = team.members();
        let mut roster = Roster::new(members.len());
        let mut conversations: Vec<Vec<Message>> = members.iter().map(|_| vec![Message::user(agent.task())]).collect();
        let temperature = Some(agent.spec().temperature.filter(|t| *t > 0.0).unwrap_or(SAMPLE_TEMPERATURE));
        let stop = |answer, reason, round| Ok(Outcome { answer, reason, round, detail: serde_json::Value::Null });
        for round in 0..=self.rounds {
            let active = roster.active();
            if round > 0 {
                let latest: Vec<&str> = active.iter().filter_map(|i| roster.answer(*i)).collect();
                if latest.len() == active.len() && latest.windows(2).all(|w| same_answer(w[0], w[1])) {
                    return stop(roster.vote(), StopReason::Consensus, round - 1);
                }
                for i in &active {
                    let posts = team.read(&members[*i], round - 1).await?;
                    conversations[*i].push(Message::user(update(&shown(posts.iter().map(|p| p.text.as_str())))));
                }
            }
            let calls = active.iter().map(|i| (&members[*i], request(&members[*i], conversations[*i].clone(), temperature, *i))).collect();
            let Some(texts) = speak(team, round, calls).await? else { return stop(roster.vote(), StopReason::Budget, round) };
            for (i, text) in active.iter().zip(texts) {
                conversations[*i].push(Message::assistant(text.clone()));
                hear(team, &mut roster, *i, round, &text).await?;
            }
            if let Some(why) = roster.emptied() {
                return stop(roster.vote(), why, round);
            }
        }
        stop(roster.vote(), StopReason::MaxRounds, self.rounds)
    }
}
