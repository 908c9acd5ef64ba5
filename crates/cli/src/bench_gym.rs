//! `agentos bench gym`: strategies side by side on one of the gym's environments with one model,
//! through the same kernel as `agentos run` (same database, scheduling and tools). A progress bar
//! while it runs; at the end the score table on stdout and as Markdown, CSV, JSON and an SVG chart
//! in the results folder.
//!
//! A benchmark is recorded under an id, by default derived from its settings, so the same command
//! started again resumes it: ended episodes are skipped and interrupted ones carry on from their
//! runs' journals (see [`agentos_gym::Benchmark::run`]). Ctrl-C stops it at once, like a crash
//! the journal is built for, and says how to resume.

use crate::config::{self, Config};
use crate::render::plural;
use crate::validate::{self, Origin, Origins, Setting};
use crate::{kernel_builder, model_uri, models, parse_role};
use agentos_agents::check_memory;
use agentos_gym::interact::EpisodeTools;
use agentos_gym::{Benchmark, BenchmarkSpec, Progress};
use agentos_kernel::{ActionMode, WorkingMemory};
use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The examples and notes under `agentos bench gym --help`.
pub const HELP: &str = "Examples:
  agentos bench gym --env game24 --strategies cot,sc,aiot,giot,react --limit 20
  agentos bench gym --env gsm8k --strategies react,codeact,pal,pal-sc:5 --limit 20
  agentos bench gym --env game24 --strategies react,codeact --feedback
  agentos bench gym --env gsm8k --strategies react,sc:9 --model openai:gpt-4o-mini
  agentos bench gym --env crosswords --strategies giot:5 --role inner=openai:gpt-4o
  agentos bench gym --env gsm8k-chain --strategies react --memory window,hiagent,summary

codeact, pal and pal-sc act in code: each episode gets a sandbox and a work directory of its own
(under ~/.agentos/bench/work, removed when the episode has ended), the environment's tools as
Python functions. With --feedback (game24 only) the agents may test candidate answers with the
check_answer tool first; the table says whether feedback was on.

The benchmark's id is derived from its settings (or given with --id), so running the same command
again resumes it: ended episodes are skipped, interrupted ones carry on from their journals, and
--concurrency may change. The table is printed and written to ~/.agentos/bench/<id>.md, .csv, .json
and .svg; `agentos export --benchmark <id>` turns its trajectories into training data.";

/// Settings of `agentos bench gym`.
#[derive(Args)]
pub struct GymArgs {
    /// The environment: game24 (Game of 24), crosswords (5×5 mini crosswords) or gsm8k
    /// (grade-school math, with the calculator offered).
    #[arg(long)]
    env: String,
    /// The strategies to compare, comma-separated: react (JSON tool calls), codeact (code
    /// actions), cot, sc[:N] (self-consistency over N samples), aiot, giot[:N] (N iterations),
    /// toolchain[:K] (ToolChain*, K candidates), pal (a program computes the answer), pal-sc[:N]
    /// (majority vote over N programs), and the teams debate[:NxR] (N agents, R rounds), dylan[:N]
    /// (DyLAN, N agents), malt (generator, verifier, refiner), crossteam[:K], read[:N], umi,
    /// polaris and cases[:N] (see `agentos run --help`).
    #[arg(long, value_delimiter = ',', default_value = "cot,sc,aiot,giot,react")]
    strategies: Vec<String>,
    /// The model URI (default: as for `agentos run`, config.toml's `model`, else the local model,
    /// pulled on first use).
    #[arg(long, env = "AGENTOS_MODEL")]
    model: Option<String>,
    /// A model for one role of the strategies, as ROLE=URI; repeatable. Roles: `inner` (the inner
    /// dialogue agent of aiot/giot), `evaluator` (ToolChain*'s estimates), `generator`,
    /// `verifier`, `refiner` (MALT's members), and the other teams' roles (see `agentos run
    /// --help`).
    #[arg(long = "role", value_name = "ROLE=URI", value_parser = parse_role)]
    roles: Vec<(String, String)>,
    /// How many tasks: the first N in data order, or a sample of N with --seed.
    #[arg(long, default_value_t = 20, value_parser = validate::at_least_one::<usize>)]
    limit: usize,
    /// Every task of the environment instead of --limit.
    #[arg(long, conflicts_with = "limit")]
    all: bool,
    /// Take the tasks as a random sample drawn with this seed (the same sample on every machine).
    #[arg(long)]
    seed: Option<u64>,
    /// Episodes run at the same time (their model calls share the kernel's scheduler).
    #[arg(long, default_value_t = 8, value_parser = validate::at_least_one::<usize>)]
    concurrency: usize,
    /// Most reasoning steps of each episode (default: config.toml's `max_steps`, else 10).
    #[arg(long, value_parser = validate::at_least_one::<u32>)]
    max_steps: Option<u32>,
    /// Sampling temperature, from 0 to 2: 0 decides greedily (self-consistency samples at 0.7 then).
    #[arg(long, default_value_t = 0.0, value_parser = validate::temperature)]
    temperature: f32,
    /// The benchmark's id (default: the environment and a hash of the settings, so the same
    /// command resumes the same benchmark).
    #[arg(long)]
    id: Option<String>,
    /// The folder the result files go to (default: ~/.agentos/bench, under $AGENTOS_HOME).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The benchmark data folder, holding game24/, crosswords/ and gsm8k/ (default:
    /// $AGENTOS_DATA, else ../shared/data next to the source tree).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// The working-memory policies to compare, comma-separated: window, hiagent, summary (see
    /// `agentos run --help`). Each strategy that keeps them (react) runs once per policy, its
    /// rows named react+hiagent, react+summary; the others run with the window. Part of the
    /// benchmark's id.
    #[arg(long, value_delimiter = ',', default_value = "window", value_name = "POLICIES")]
    memory: Vec<WorkingMemory>,
    /// Let the agents test candidate answers with the environment before they answer (the
    /// check_answer tool, at most 10 checks an episode; game24 only). Part of the benchmark's id.
    #[arg(long)]
    feedback: bool,
    /// Keep the code-acting episodes out of the action library (offered no kept function, and
    /// none of theirs kept), to measure what the library is worth. Part of the benchmark's id.
    #[arg(long)]
    no_library: bool,
    /// For strategies that act in code: start their sandboxes even where this machine lacks a
    /// confinement mechanism, printing what is missing.
    #[arg(long)]
    unsafe_sandbox: bool,
}

/// Runs (or resumes) the benchmark, prints its table and writes its files. Exits 0 when every
/// episode has ended, 3 when it was interrupted or some runs were suspended (the same command
/// resumes it).
pub async fn gym(config: &Config, db: &Path, origins: &Origins, args: GymArgs) -> Result<i32> {
    let data = match args.data {
        Some(dir) if !dir.is_dir() => {
            bail!("--data {}: no such folder; give the folder that holds game24/, crosswords/ and gsm8k/", dir.display())
        }
        Some(dir) => dir,
        None => agentos_gym::data_dir()?,
    };
    let strategies: Vec<String> = args.strategies.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    if strategies.is_empty() {
        bail!("--strategies is empty; name at least one, for example --strategies cot,react");
    }
    let env = agentos_gym::environment(&args.env, &data).map_err(|e| Origin::Flag("--env".into()).error(e))?;
    // Every argument is checked before a model is downloaded or loaded, or an episode runs.
    let chosen = validate::strategies(&strategies, &Origin::Flag("--strategies".into()))?;
    validate::roles(&chosen, &args.roles)?;
    for (i, policy) in args.memory.iter().enumerate() {
        if args.memory[..i].contains(policy) {
            bail!("--memory: `{policy}` is given twice; give each policy once");
        }
        if !chosen.iter().any(|s| check_memory(s.as_ref(), *policy).is_ok()) {
            bail!("--memory: {}", check_memory(chosen[0].as_ref(), *policy).unwrap_err());
        }
    }
    if args.feedback && !env.gives_feedback() {
        bail!("--feedback: {} gives no feedback before the answer; drop --feedback, or use an environment that does (game24)", args.env);
    }
    let code = chosen.iter().any(|s| !s.action_modes().contains(&ActionMode::Json));
    if code {
        crate::bench_sandbox::check(args.unsafe_sandbox)?;
    } else if args.unsafe_sandbox || args.no_library {
        let flag = if args.unsafe_sandbox { "--unsafe-sandbox" } else { "--no-library" };
        bail!("{flag} applies to strategies that act in code (codeact, pal, pal-sc); add one, or drop {flag}");
    }
    let id = args.id.as_deref().map(checked_id).transpose()?;
    let out = match args.out {
        Some(dir) => Setting { value: dir, origin: Origin::Flag("--out".into()) },
        None => Setting::default(config::home().join("bench")),
    };
    validate::writable_folder(&out)?;
    let model = model_uri(config, origins, args.model)?;
    for (_, uri) in &args.roles {
        models::ensure_installed(uri)?;
    }
    let tools = Arc::new(EpisodeTools::default());
    let mut builder = kernel_builder(config, db)?.allow_unsafe_sandbox(args.unsafe_sandbox).tool(tools.clone());
    for action in tools.actions(env.as_ref()) {
        builder = builder.tool(action);
    }
    if args.memory.iter().any(|m| m.uses_memory()) {
        builder = builder.encoder(models::load_encoder()?);
    }
    let kernel = builder.build()?;
    for uri in std::iter::once(&model).chain(args.roles.iter().map(|(_, uri)| uri)) {
        kernel.model(uri)?;
    }

    let mut bench = Benchmark::from_names(kernel.clone(), env, &strategies, &model)?
        .max_steps(args.max_steps.or(config.max_steps).unwrap_or(validate::DEFAULT_MAX_STEPS))
        .temperature(args.temperature)
        .library(!args.no_library)
        .memories(args.memory.clone())
        .workspace(config::home().join("bench").join("work"))
        .concurrency(args.concurrency);
    bench = if args.feedback { bench.feedback(tools) } else { bench.interact(tools) };
    if !args.all {
        bench = bench.limit(args.limit);
    }
    if let Some(seed) = args.seed {
        bench = bench.seed(seed);
    }
    for (role, uri) in args.roles {
        bench = bench.role(role, uri);
    }
    let id = id.unwrap_or_else(|| default_id(bench.spec()));

    // What was done before, for the resume line and the success count of the bar.
    let storage = kernel.storage();
    let earlier = storage.benchmark(&id)?.map(|b| storage.episodes(&b)).transpose()?;
    let resuming = earlier.is_some();
    let succeeded_before = earlier.iter().flatten().filter(|e| e.reward.is_some_and(agentos_gym::succeeded)).count();
    eprintln!(
        "benchmark {id}: {} on {} of {}, model {} (Ctrl-C stops; the same command resumes)",
        strategies.join(", "),
        plural(bench.tasks().len() as u64, "task"),
        args.env,
        model
    );

    let bar = ProgressBar::new(0)
        .with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} episodes, {msg}, {elapsed} elapsed, ETA {eta}").expect("a valid template"),
        )
        .with_message(format!("{succeeded_before} succeeded"));
    let successes = Arc::new(AtomicUsize::new(succeeded_before));
    let total = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let bench = {
        let (bar, successes, total, done, id) = (bar.clone(), successes.clone(), total.clone(), done.clone(), id.clone());
        bench.on_progress(move |p: &Progress| {
            total.store(p.total, Ordering::SeqCst);
            done.store(p.ended, Ordering::SeqCst);
            if p.last.as_ref().is_some_and(|episode| episode.reward.is_some_and(agentos_gym::succeeded)) {
                successes.fetch_add(1, Ordering::SeqCst);
            }
            // The first report, before any episode of this run has ended.
            if p.last.is_none() {
                if resuming {
                    bar.suspend(|| {
                        eprintln!("resuming benchmark {id}: {} of {} already done", p.skipped, plural(p.total as u64, "episode"))
                    });
                }
                bar.set_length(p.total as u64);
                bar.reset_eta();
            }
            bar.set_message(format!("{} succeeded", successes.load(Ordering::SeqCst)));
            bar.set_position(p.ended as u64);
        })
    };

    let outcome = tokio::select! {
        outcome = bench.run(&id) => outcome,
        _ = tokio::signal::ctrl_c() => {
            bar.abandon();
            eprintln!(
                "\ninterrupted: {} of {} of benchmark {id} done and recorded; episodes under way carry on from their \
                 journals when you run the same command again:\n  {}",
                done.load(Ordering::SeqCst),
                plural(total.load(Ordering::SeqCst) as u64, "episode"),
                resume_command(&id)
            );
            return Ok(3);
        }
    };
    bar.finish_and_clear();
    let outcome = outcome?;
    if outcome.unfinished > 0 {
        eprintln!(
            "{} suspended or cancelled before the end; run the same command again to resume them:\n  {}",
            plural(outcome.unfinished as u64, "episode"),
            resume_command(&id)
        );
    }

    let summary = outcome.summary();
    print!("{}", summary.to_markdown());
    let out = out.value;
    let files = [("md", summary.to_markdown()), ("csv", summary.to_csv()), ("json", summary.to_json()), ("svg", summary.to_svg()?)];
    let mut written = Vec::new();
    for (extension, text) in files {
        let path = out.join(format!("{id}.{extension}"));
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path.display().to_string());
    }
    eprintln!("\n{} ran now, {} done before; wrote {}", plural(outcome.ran as u64, "episode"), outcome.skipped, written.join(", "));
    eprintln!("training data from its trajectories: agentos export --benchmark {id} --format sharegpt|dpo");
    Ok(if outcome.unfinished > 0 { 3 } else { 0 })
}

/// The id of a benchmark given no `--id`: its environment and the first hex digits of the
/// SHA-256 of its spec, so the same settings name the same benchmark and any other setting
/// another.
fn default_id(spec: &BenchmarkSpec) -> String {
    let json = serde_json::to_string(spec).expect("a benchmark spec serializes");
    let hash: String = Sha256::digest(json.as_bytes()).iter().take(5).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hash}", spec.env)
}

/// `id` if it can name the result files: letters, digits, `.`, `_` and `-`, not starting with `.`.
fn checked_id(id: &str) -> Result<String> {
    let fine = !id.is_empty() && !id.starts_with('.') && id.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !fine {
        bail!("--id `{id}`: use letters, digits, `.`, `_` and `-` only (it names the result files), for example --id game24-cot");
    }
    Ok(id.to_string())
}

/// The command line that resumes benchmark `id`: this one, with `--id` added if it was not given.
fn resume_command(id: &str) -> String {
    let mut words: Vec<String> = std::env::args().collect();
    if !words.iter().any(|w| w == "--id" || w.starts_with("--id=")) {
        words.extend(["--id".to_string(), id.to_string()]);
    }
    words
        .iter()
        .map(|w| {
            if !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c)) {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_the_settings_and_given_ids_must_name_files() {
        let spec: BenchmarkSpec = serde_json::from_value(serde_json::json!({
            "env": "game24", "strategies": ["cot"], "model": "m", "limit": 3, "seed": null,
            "max_steps": 10, "temperature": 0.0, "budget": {}
        }))
        .unwrap();
        let id = default_id(&spec);
        assert!(id.starts_with("game24-") && id.len() == "game24-".len() + 10, "{id}");
        assert_eq!(id, default_id(&spec.clone()), "the same settings, the same id");
        assert_ne!(id, default_id(&BenchmarkSpec { limit: Some(4), ..spec }));
        assert_eq!(checked_id("g24-cot_1.2").unwrap(), "g24-cot_1.2");
        for bad in ["", "a/b", "..", "a b"] {
            let err = checked_id(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("--id `{bad}`")), "{err}");
        }
    }
}
