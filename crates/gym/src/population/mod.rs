//! Populations: many agents whose decisions come from a few archetypes, after AgentTorch's LLM
//! archetypes (Chopra et al., 2024, "On the limits of agency in agent-based models"). Asking a
//! model about every agent of a large population every step costs too much; AgentTorch groups
//! agents by their attributes into archetypes, asks the model once per archetype per step how an
//! agent of that archetype behaves in the current state, and applies the answer to every member.
//!
//! Here a [`Population`] of `n` people, each with an age band and a kind of work (drawn from a
//! seed with the shares [`AGE_SHARES`], [`ON_SITE_UNDER_65`] and [`ON_SITE_FROM_65`]), is grouped
//! into `k` [`Archetype`]s ([`archetypes`]: by work, then by adjacent age bands) and lives through an
//! [`epidemic`] (SEIR, one step a day; every rule and constant is in that module). Each day
//! ([`Population::simulate`]):
//!
//! 1. every archetype with members is asked, in archetype order, the probability that a member
//!    isolates at home today, given the outbreak's counts of the day before ([`question`]); the
//!    `k` calls are sent together (`join_all`), so the scheduler serves them at once, and each is
//!    a journaled [`Agent::model`] syscall, numbered in archetype order whichever answer comes
//!    back first;
//! 2. each answer is read as a probability ([`probability`]), an unreadable one falling back to
//!    the archetype's probability of the day before, or [`FALLBACK`] on the first day;
//! 3. each person, in order, draws whether they isolate from their archetype's probability;
//! 4. the epidemic runs one day: isolating cuts a person's contacts, contacts spread the disease.
//!
//! So a simulation makes exactly `k × steps` model calls (fewer only when an archetype has no
//! members), however many people it holds. Every draw comes from SplitMix64 streams of the seed
//! (the people from the seed's, the outbreak from its bitwise complement's), so the same seed and
//! the same answers give the same [`History`]; and a killed simulation resumed from its journal
//! gets its recorded answers back in the same order, draws the same, and asks the same next
//! questions: it carries on where it stopped without asking anything again.
//!
//! [`Simulation`] is the whole simulation as a [`Strategy`] named [`STRATEGY`], its [`Scenario`]
//! the run's task (as JSON) and the [`History`] its answer (as JSON), so that a simulation is one
//! kernel run: `agentos simulate epidemic` starts one, and `agentos resume` carries one on.

pub mod archetype;
pub mod ask;
pub mod epidemic;

pub use archetype::{archetypes, Archetype, Person, AGE_BANDS, AGE_SHARES, MAX_ARCHETYPES, ON_SITE_FROM_65, ON_SITE_UNDER_65};
pub use ask::{probability, question, Situation, FALLBACK, MAX_TOKENS};

use crate::rng::SplitMix64;
use crate::GymError;
use agentos_agents::{AgentError, Strategy};
use agentos_kernel::{Agent, KernelError};
use async_trait::async_trait;
use epidemic::{contacts, Counts, Outbreak};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The strategy name of a simulation's run.
pub const STRATEGY: &str = "population";

/// The most people a population may hold.
pub const MAX_AGENTS: usize = 1_000_000;

/// The most steps (days) a simulation may take.
pub const MAX_STEPS: u32 = 365;

/// What to simulate: how many people, how many days, how many archetypes, and the seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// How many people (1 to [`MAX_AGENTS`]).
    pub agents: usize,
    /// How many days (1 to [`MAX_STEPS`]).
    pub steps: u32,
    /// How many archetypes (1 to [`MAX_ARCHETYPES`]).
    pub archetypes: usize,
    /// The seed every random draw comes from.
    pub seed: u64,
}

impl Scenario {
    /// Whether each count is within its bounds; the error names the count and its bounds.
    pub fn check(&self) -> Result<(), GymError> {
        let bad = |what: &str, value: u64, most: u64| GymError::Population(format!("{what} must be from 1 to {most}, not {value}"));
        if !(1..=MAX_AGENTS).contains(&self.agents) {
            return Err(bad("agents", self.agents as u64, MAX_AGENTS as u64));
        }
        if !(1..=MAX_STEPS).contains(&self.steps) {
            return Err(bad("steps", self.steps.into(), MAX_STEPS.into()));
        }
        if !(1..=MAX_ARCHETYPES).contains(&self.archetypes) {
            return Err(bad("archetypes", self.archetypes as u64, MAX_ARCHETYPES as u64));
        }
        Ok(())
    }

    /// The scenario as the task of its run: its JSON.
    pub fn task(&self) -> String {
        serde_json::to_string(self).expect("a scenario serializes")
    }

    /// The scenario a run's task states, checked.
    pub fn from_task(task: &str) -> Result<Scenario, GymError> {
        let scenario: Scenario = serde_json::from_str(task).map_err(|e| {
            GymError::Population(format!("the task is no population scenario ({e}); expected {{agents, steps, archetypes, seed}}"))
        })?;
        scenario.check()?;
        Ok(scenario)
    }
}

/// An archetype as the history records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Its short name, as `on-site 18–49`.
    pub name: String,
    /// Who its members are, as the model is told.
    pub description: String,
    /// How many people belong to it.
    pub members: usize,
}

/// What the model answered for one archetype on one day, and what came of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The archetype: an index into [`History::archetypes`].
    pub archetype: usize,
    /// The probability of isolating applied to its members.
    pub probability: f64,
    /// Whether the reply could not be read, so the probability is the fallback (see [`FALLBACK`]).
    pub fallback: bool,
    /// The reply, kept when it could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// How many of its members isolated.
    pub isolating: usize,
}

impl Answer {
    /// The answer of `reply` for `archetype`, whose probability the day before was `before`.
    fn read(archetype: usize, reply: String, before: f64) -> Answer {
        match probability(&reply) {
            Some(p) => Answer { archetype, probability: p, fallback: false, reply: None, isolating: 0 },
            None => Answer { archetype, probability: before, fallback: true, reply: Some(reply), isolating: 0 },
        }
    }
}

/// One day of a simulation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Day {
    /// The day, from 1.
    pub day: u32,
    /// The counts at the end of the day.
    pub counts: Counts,
    /// How many were infected during the day.
    pub new_infections: usize,
    /// How many isolated.
    pub isolating: usize,
    /// How many model calls the day took: one per archetype with members.
    pub model_calls: usize,
    /// Each asked archetype's answer, in archetype order.
    pub answers: Vec<Answer>,
}

/// What a simulation did: its archetypes, the counts on day 0, and every day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The archetypes, in order.
    pub archetypes: Vec<Group>,
    /// The counts on day 0, before anyone was asked.
    pub start: Counts,
    /// Every day, in order.
    pub days: Vec<Day>,
}

impl History {
    /// How many model calls the simulation took in all.
    pub fn model_calls(&self) -> usize {
        self.days.iter().map(|d| d.model_calls).sum()
    }
}

/// People grouped into archetypes, ready to live through an epidemic (see the module
/// documentation).
#[derive(Clone, Debug)]
pub struct Population {
    people: Vec<Person>,
    archetypes: Vec<Archetype>,
    /// Each person's archetype, an index into `archetypes`.
    member_of: Vec<usize>,
    seed: u64,
}

impl Population {
    /// `agents` people drawn with `seed`, grouped into the `archetypes` archetypes of
    /// [`archetypes`]; refused when a count is out of its bounds ([`Scenario::check`]).
    pub fn new(agents: usize, archetypes: usize, seed: u64) -> Result<Population, GymError> {
        Scenario { agents, steps: 1, archetypes, seed }.check()?;
        let archetypes = self::archetypes(archetypes).expect("checked above");
        let mut rng = SplitMix64::new(seed);
        let people: Vec<Person> = (0..agents).map(|_| Person::draw(&mut rng)).collect();
        let member_of = people.iter().map(|p| archetypes.iter().position(|a| a.holds(p)).expect("archetypes cover everyone")).collect();
        Ok(Population { people, archetypes, member_of, seed })
    }

    /// Its people, in order.
    pub fn people(&self) -> &[Person] {
        &self.people
    }

    /// Its archetypes, in order.
    pub fn archetypes(&self) -> &[Archetype] {
        &self.archetypes
    }

    /// How many people belong to each archetype, in archetype order.
    pub fn members(&self) -> Vec<usize> {
        let mut members = vec![0; self.archetypes.len()];
        for &a in &self.member_of {
            members[a] += 1;
        }
        members
    }

    /// Simulates `steps` days with the model of `agent`'s run (see the module documentation).
    pub async fn simulate(&self, agent: &Agent, steps: u32) -> Result<History, KernelError> {
        self.simulate_with(agent, steps, &|_| {}).await
    }

    /// [`Population::simulate`], calling `on_day` after each day.
    pub async fn simulate_with(&self, agent: &Agent, steps: u32, on_day: &(dyn Fn(&Day) + Sync)) -> Result<History, KernelError> {
        let mut rng = SplitMix64::new(!self.seed);
        let mut outbreak = Outbreak::start(self.people.len(), &mut rng);
        let mut history = History { archetypes: self.groups(), start: outbreak.counts(), days: Vec::new() };
        let mut probabilities = vec![FALLBACK; self.archetypes.len()];
        let mut new_infections = 0;
        for day in 1..=steps {
            let situation = Situation { day, people: self.people.len(), counts: outbreak.counts(), new_infections };
            let mut answers = self.ask(agent, &situation, &probabilities).await?;
            for answer in &answers {
                probabilities[answer.archetype] = answer.probability;
            }
            let isolating: Vec<bool> = self.member_of.iter().map(|&a| rng.chance(probabilities[a])).collect();
            for answer in &mut answers {
                answer.isolating = self.member_of.iter().zip(&isolating).filter(|(&a, &i)| i && a == answer.archetype).count();
            }
            let contacts: Vec<u32> = self.people.iter().zip(&isolating).map(|(p, &i)| contacts(p.work, i)).collect();
            new_infections = outbreak.day(&contacts, &mut rng);
            let isolated = isolating.iter().filter(|&&i| i).count();
            let record = Day { day, counts: outbreak.counts(), new_infections, isolating: isolated, model_calls: answers.len(), answers };
            on_day(&record);
            history.days.push(record);
        }
        Ok(history)
    }

    /// The archetypes as the history records them.
    fn groups(&self) -> Vec<Group> {
        let members = self.members();
        let group = |(a, members): (&Archetype, usize)| Group { name: a.name(), description: a.describe(), members };
        self.archetypes.iter().zip(members).map(group).collect()
    }

    /// Asks every archetype with members about `situation` at once, in archetype order, and
    /// reads the answers; `before` holds each archetype's probability of the day before.
    async fn ask(&self, agent: &Agent, situation: &Situation, before: &[f64]) -> Result<Vec<Answer>, KernelError> {
        let members = self.members();
        let asked: Vec<usize> = (0..self.archetypes.len()).filter(|&a| members[a] > 0).collect();
        let temperature = agent.spec().temperature;
        let calls = asked.iter().map(|&a| agent.model(question(&self.archetypes[a], situation, temperature)));
        let replies = futures::future::join_all(calls).await;
        asked.into_iter().zip(replies).map(|(a, reply)| Ok(Answer::read(a, reply?.message.content(), before[a]))).collect()
    }
}

/// What is called after each day of a [`Simulation`].
type OnDay = Arc<dyn Fn(&Day) + Send + Sync>;

/// A whole simulation as one kernel run: the run's task is a [`Scenario`] (as JSON), its answer
/// the [`History`] (as JSON). See the module documentation.
#[derive(Clone, Default)]
pub struct Simulation {
    on_day: Option<OnDay>,
}

impl Simulation {
    /// The simulation, calling `on_day` after each day (days replayed from the journal too).
    pub fn on_day(mut self, on_day: impl Fn(&Day) + Send + Sync + 'static) -> Self {
        self.on_day = Some(Arc::new(on_day));
        self
    }
}

#[async_trait]
impl Strategy for Simulation {
    fn name(&self) -> &'static str {
        STRATEGY
    }

    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        let refused = |e: GymError| AgentError::NoAnswer(e.to_string());
        let scenario = Scenario::from_task(agent.task()).map_err(refused)?;
        let population = Population::new(scenario.agents, scenario.archetypes, scenario.seed).map_err(refused)?;
        let on_day = |day: &Day| {
            if let Some(f) = &self.on_day {
                f(day)
            }
        };
        let history = population.simulate_with(agent, scenario.steps, &on_day).await?;
        Ok(serde_json::to_string(&history).expect("a history serializes"))
    }
}
