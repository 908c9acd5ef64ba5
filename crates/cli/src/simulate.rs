//! `agentos simulate`: populations of many agents whose decisions come from a few archetypes, one
//! model call per archetype per step (AgentTorch's LLM archetypes; see
//! [`agentos_gym::population`]). A simulation is one kernel run, strategy `population`, through
//! the same kernel as `agentos run` (same database, scheduling and models): its model calls are
//! journaled, Ctrl-C suspends it, and `agentos resume <run>` carries it on from its journal.
//!
//! A progress line per day on standard error while it runs; at the end a table of the days on
//! standard output, or, with `--json`, the run's id, scenario and history as one JSON object.

use crate::config::Config;
use crate::render::plural;
use crate::validate::{self, Origins};
use crate::{drive_until_stopped, exit_status, kernel_builder, model_uri, models, report};
use agentos_gym::population::{self, Day, History, Population, Scenario, Simulation};
use agentos_kernel::{Ending, RunSpec};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::Path;

/// The examples and notes under `agentos simulate epidemic --help`.
pub const HELP: &str = "Examples:
  agentos simulate epidemic --agents 1000 --steps 10
  agentos simulate epidemic --agents 100000 --steps 30 --archetypes 8 --seed 7 --model openai:gpt-4o-mini
  agentos simulate epidemic --agents 1000 --steps 10 --json > history.json

Each day the model is asked once per archetype (people grouped by work, then by age band) how
likely a member is to isolate at home, given the outbreak so far; every member then draws from
that probability, and isolating cuts a person's contacts from 12 (on site) or 5 (at home) to 2.
So the model calls are archetypes × steps, however many agents there are. The same seed and the
same answers give the same history. The disease's rules and constants are documented in
agentos-gym's population::epidemic module (an SEIR model after AgentTorch, Chopra et al., 2024).

The simulation is one run: Ctrl-C suspends it and `agentos resume <run>` carries it on without
asking the model again what it has already answered.";

/// What `agentos simulate` simulates.
#[derive(Subcommand)]
pub enum SimulateCommand {
    /// An epidemic (SEIR, one step a day) among adults grouped into archetypes by work and age
    /// band: each day the model says, once per archetype, how likely a member is to isolate at
    /// home; every member draws from that, and isolating cuts their contacts.
    #[command(after_help = HELP)]
    Epidemic(EpidemicArgs),
}

/// Settings of `agentos simulate epidemic`.
#[derive(Args)]
pub struct EpidemicArgs {
    /// How many people (agents) to simulate, 1 to 1000000; the model calls do not grow with it.
    #[arg(long, default_value_t = 1000, value_name = "N", value_parser = agents)]
    agents: usize,
    /// How many days (steps) to simulate, 1 to 365.
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = steps)]
    steps: u32,
    /// How many archetypes the people are grouped into, 1 to 8: by work from 2 on, then by
    /// adjacent age bands (8: every age band × work). One model call each per day.
    #[arg(long, default_value_t = 4, value_name = "K", value_parser = archetypes)]
    archetypes: usize,
    /// The seed of every random draw: the people, who starts infectious, who isolates, who is
    /// infected.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The model URI (default: as for `agentos run`, config.toml's `model`, else the local model,
    /// pulled on first use).
    #[arg(long, env = "AGENTOS_MODEL")]
    model: Option<String>,
    /// Sampling temperature of the model calls, from 0 to 2: 0 decides greedily (reproducible).
    #[arg(long, default_value_t = 0.0, value_parser = validate::temperature)]
    temperature: f32,
    /// Print the run's id, scenario and history as one JSON object instead of progress lines and
    /// a table.
    #[arg(long)]
    json: bool,
}

/// Reads `--agents`.
fn agents(text: &str) -> Result<usize, String> {
    validate::one_to(text, population::MAX_AGENTS)
}

/// Reads `--steps`.
fn steps(text: &str) -> Result<u32, String> {
    validate::one_to(text, population::MAX_STEPS)
}

/// Reads `--archetypes`.
fn archetypes(text: &str) -> Result<usize, String> {
    validate::one_to(text, population::MAX_ARCHETYPES)
}

/// Runs the simulation asked for.
pub async fn simulate(config: &Config, db: &Path, origins: &Origins, command: SimulateCommand) -> Result<i32> {
    match command {
        SimulateCommand::Epidemic(args) => epidemic(config, db, origins, args).await,
    }
}

/// Simulates the epidemic as one kernel run, printing its days; exits as `agentos run` does.
async fn epidemic(config: &Config, db: &Path, origins: &Origins, args: EpidemicArgs) -> Result<i32> {
    let scenario = Scenario { agents: args.agents, steps: args.steps, archetypes: args.archetypes, seed: args.seed };
    let population = Population::new(scenario.agents, scenario.archetypes, scenario.seed)?;
    let model = model_uri(config, origins, args.model)?;
    let kernel = kernel_builder(config, db)?.build()?;
    models::load(&model, || kernel.model(&model))?;
    let spec = RunSpec {
        max_steps: scenario.steps,
        temperature: Some(args.temperature),
        ..RunSpec::new(scenario.task(), population::STRATEGY, model.as_str())
    };
    let agent = kernel.start(spec).await?;
    let run = agent.run().clone();
    let mut simulation = Simulation::default();
    if !args.json {
        eprintln!("{}", header(&run.to_string(), &model, &scenario, &population));
        simulation = simulation.on_day(move |day| eprintln!("{}", progress(day, scenario.steps)));
    }
    let ending = drive_until_stopped(&kernel, &agent, &simulation, Default::default()).await?;
    match &ending {
        Ending::Finished(answer) => {
            let history: History = serde_json::from_str(answer).context("the simulation's answer is no history")?;
            if args.json {
                println!("{}", json!({ "run": run.to_string(), "scenario": scenario, "history": history }));
            } else {
                print!("{}", table(&history));
            }
        }
        ending => report(&run, ending),
    }
    Ok(exit_status(&ending))
}

/// What is simulated, on what, and the archetypes with their members.
fn header(run: &str, model: &str, scenario: &Scenario, population: &Population) -> String {
    let calls = population.members().iter().filter(|&&m| m > 0).count() * scenario.steps as usize;
    let mut text = format!(
        "run {run} (population on {model})\nepidemic: {} in {}, {}, seed {}: {}",
        plural(scenario.agents as u64, "agent"),
        plural(scenario.archetypes as u64, "archetype"),
        plural(scenario.steps.into(), "day"),
        scenario.seed,
        plural(calls as u64, "model call"),
    );
    for (archetype, members) in population.archetypes().iter().zip(population.members()) {
        text.push_str(&format!("\n  {:<16} {members:>8}  {}", archetype.name(), archetype.describe()));
    }
    text
}

/// One day's line: the counts, who isolated, each archetype's probability (`*` marking a
/// fallback), and the calls.
fn progress(day: &Day, steps: u32) -> String {
    let c = &day.counts;
    let answers: Vec<String> = day.answers.iter().map(|a| format!("{:.2}{}", a.probability, if a.fallback { "*" } else { "" })).collect();
    let fallbacks = day.answers.iter().filter(|a| a.fallback).count();
    let note = if fallbacks > 0 {
        format!(" ({} unreadable: * kept the day before's)", plural(fallbacks as u64, "answer"))
    } else {
        String::new()
    };
    format!(
        "day {}/{steps}: S {} E {} I {} R {}, {} new, {} isolating; p(isolate) {}{note}; {}",
        day.day,
        c.susceptible,
        c.exposed,
        c.infectious,
        c.recovered,
        day.new_infections,
        day.isolating,
        answers.join(" "),
        plural(day.model_calls as u64, "model call"),
    )
}

/// The table of a run's answer when the run is a simulation (strategy `strategy`), for `agentos
/// resume`; `None` for other runs.
pub fn table_of(strategy: &str, answer: &str) -> Option<String> {
    (strategy == population::STRATEGY).then(|| serde_json::from_str(answer).ok()).flatten().map(|history| table(&history))
}

/// The days as a table: step 0 is the start.
fn table(history: &History) -> String {
    let mut text = String::from("\nstep  susceptible  exposed  infectious  recovered  isolating  model calls\n");
    let mut row = |step: u32, c: &population::epidemic::Counts, isolating: usize, calls: usize| {
        text.push_str(&format!(
            "{step:>4}  {:>11}  {:>7}  {:>10}  {:>9}  {isolating:>9}  {calls:>11}\n",
            c.susceptible, c.exposed, c.infectious, c.recovered
        ));
    };
    row(0, &history.start, 0, 0);
    for day in &history.days {
        row(day.day, &day.counts, day.isolating, day.model_calls);
    }
    let people: usize = history.archetypes.iter().map(|a| a.members).sum();
    text.push_str(&format!(
        "\n{} for {} in {} over {}\n",
        plural(history.model_calls() as u64, "model call"),
        plural(people as u64, "agent"),
        plural(history.archetypes.len() as u64, "archetype"),
        plural(history.days.len() as u64, "day"),
    ));
    text
}
