//! agentos: the command line of the agent operating system.
//!
//! Owns: argument parsing, settings, printing runs for people, and the benchmarks. Everything an
//! agent does goes through the kernel built here; this crate adds no behaviour of its own to a run.

mod actions;
mod bench;
mod bench_gym;
mod bench_local;
mod bench_memory;
mod bench_sandbox;
mod config;
mod export;
mod memory;
mod models;
mod operator;
mod play;
mod render;
mod runs;
mod simulate;
mod task;
mod validate;

use agentos_agents::{drive, strategy};
use agentos_kernel::{
    ActionMode, Approval, Budget, Capabilities, Ending, Interruption, Kernel, KernelBuilder, KernelConfig, Limits, RunSpec, Storage,
    WorkingMemory,
};
use anyhow::{Context, Result};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use config::Config;
use render::Printer;
use std::path::PathBuf;
use std::sync::Arc;
use validate::{Origins, Setting};

/// mimalloc: a thousand agents allocate and free small buffers across threads all the time, which
/// glibc's allocator serves poorly (see `agentos bench kernel`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What the exit status of `run` and `resume` says, for their help.
macro_rules! exit_codes {
    () => {
        "\n\nExit status:
  0  the run finished with an answer
  1  it failed, or agentos stopped on an error (bad input, an unreachable database)
  3  it was suspended (Ctrl-C) or interrupted (SIGTERM, SIGHUP, its output closed);
     `agentos resume <run>` carries it on
  4  it was cancelled"
    };
}

const EXAMPLES: &str = "Examples:
  agentos run \"What is 17% of 2,340? Check with the calculator.\" --model openai:gpt-4o-mini
  agentos run \"Summarize notes.txt\" --tools read_file,list_files --workdir ./docs
  agentos runs list
  agentos runs show <run>
  agentos resume <run>
  agentos bench kernel --agents 1000 --steps 10 --latency-ms 100
  agentos bench gym --env game24 --strategies cot,sc,react --limit 20
  agentos simulate epidemic --agents 1000 --steps 10 --archetypes 4
  agentos play spygame --players 4 --seed 7
  agentos play auction --bidders 3 --items 5
  agentos export --benchmark <id> --format sharegpt --out train.jsonl";

/// agentos: an operating system for LLM agents. Every model call, tool call and question an agent
/// makes goes through one kernel that schedules it, checks it against the agent's capabilities and
/// journals it in SQLite, so any run can be inspected, and resumed after a crash.
#[derive(Parser)]
#[command(name = "agentos", version, after_help = EXAMPLES)]
struct Cli {
    /// The SQLite database of runs (default: ~/.agentos/agentos.db, or `db` in config.toml).
    #[arg(long, global = true, env = "AGENTOS_DB")]
    db: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs an agent on a task, printing each step as it happens.
    #[command(after_help = concat!("Examples:
  agentos run \"What is (3/7 + 2/9) * 63?\" --model openai-compatible:http://127.0.0.1:8080/v1#qwen
  agentos run \"List the files here and read README.md\" --tools list_files,read_file --max-steps 6
  agentos run \"Rename the draft\" --tools read_file,write_file --approve --json
  agentos run \"What is the mean of the price column in prices.csv?\" --actions code --workdir ./data
  agentos run - --tools read_file < task.md          (the task from standard input)
  agentos run --task-file task.md
  agentos run --team examples/teams/review.toml \"Is 2^31 - 1 a prime?\" --model openai:gpt-4o-mini", exit_codes!()))]
    Run(RunArgs),
    /// Lists and shows recorded runs.
    #[command(subcommand)]
    Runs(runs::RunsCommand),
    /// Carries an interrupted, suspended or failed run on from its last recorded step.
    #[command(
        after_help = concat!("Examples:\n  agentos resume 0193a2c4e5f67890abcdef0123456789\n  agentos resume 0193a2c4e5f67890abcdef0123456789 --max-steps 30   # it had failed on its step limit\n\nRecorded steps are replayed, not executed again: no model call or tool call is repeated. A run that another live process drives is refused, naming that process.", exit_codes!())
    )]
    Resume {
        /// The run's id (see `agentos runs list`).
        run: String,
        /// New limits for the rest of the run (recorded with it): a run that failed on a limit
        /// carries on past it.
        #[command(flatten)]
        limits: LimitArgs,
        /// Print each event as a JSON line instead of text.
        #[arg(long)]
        json: bool,
        /// For a run with code actions: start its sandbox even where this machine lacks a
        /// confinement mechanism, printing what is missing.
        #[arg(long)]
        unsafe_sandbox: bool,
    },
    /// Lists the model URIs agentos understands, the configured default, and the local models;
    /// `agentos models pull <name>` downloads a local model.
    #[command(after_help = "Examples:\n  agentos models\n  agentos models pull qwen2.5-coder-0.5b")]
    Models {
        #[command(subcommand)]
        command: Option<models::ModelsCommand>,
    },
    /// Serves the model over an OpenAI-compatible HTTP API (`POST /v1/chat/completions`, streaming
    /// and tools; `GET /v1/models`), so other frameworks can use it.
    #[command(
        after_help = "Example:\n  agentos serve --model openai:gpt-4o-mini --addr 127.0.0.1:8080\n  curl http://127.0.0.1:8080/v1/models"
    )]
    Serve {
        /// The model URI to serve (`agentos models` lists the forms).
        #[arg(long, env = "AGENTOS_MODEL")]
        model: Option<String>,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
    },
    /// The action library: the functions code-mode runs (`run --actions code`) wrote and kept,
    /// offered to later runs on related tasks.
    #[command(
        subcommand,
        after_help = "Examples:\n  agentos actions list\n  agentos actions show column_mean\n  agentos actions rm column_mean"
    )]
    Actions(actions::ActionsCommand),
    /// Long-term memory: what runs kept with `remember` (`run --memory-scope`), with where each
    /// item came from; list, show, forget, export; and the memory blocks pinned in the runs of a
    /// scope, which the agent edits with its own tools.
    #[command(
        subcommand,
        after_help = "Examples:\n  agentos memory list --scope person:alice\n  agentos memory show <id>\n  agentos memory forget <id>\n  agentos memory export > memory.jsonl\n  agentos memory blocks person:alice"
    )]
    Memory(memory::MemoryCommand),
    /// Benchmarks that print ratios measured side by side (not tests), and the gym's score tables.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Simulates a population of many agents whose decisions come from a few archetypes, one
    /// model call per archetype per step (AgentTorch's LLM archetypes), as one resumable run.
    #[command(subcommand)]
    Simulate(simulate::SimulateCommand),
    /// Writes the trajectories of a gym benchmark as training data (JSONL): its successful
    /// episodes as ShareGPT conversations, or preference pairs for DPO.
    #[command(after_help = export::HELP)]
    Export(export::ExportArgs),
    /// Plays a multi-agent game: Who is the spy, or an auction. Every player is a member run of
    /// the game's team run, on its own model (`--player STYLE@URI`); the game ends with a table of
    /// each player's outcome.
    #[command(subcommand)]
    Play(play::PlayCommand),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Kernel overhead: N concurrent ReAct agents against a simulated model with a fixed latency,
    /// against the latency bound, and against LangGraph's ReAct agent on the same server.
    #[command(after_help = "Example:\n  agentos bench kernel --agents 1000 --steps 10 --latency-ms 100")]
    Kernel(bench::KernelArgs),
    /// The embedded engine's decode speed against the memory-bandwidth roofline, and N agents
    /// decoded together against one at a time.
    #[command(after_help = "Example:\n  agentos bench local --model qwen2.5-coder-0.5b --agents 8 --tokens 64")]
    Local(bench_local::LocalArgs),
    /// Strategies side by side on a gym environment (Game of 24, mini crosswords, GSM8K) with one
    /// model: success rate with a 95% interval, model calls, tokens and wall time per episode, as
    /// Markdown, CSV, JSON and an SVG chart. Interrupted, the same command resumes it.
    #[command(after_help = bench_gym::HELP)]
    Gym(bench_gym::GymArgs),
    /// Answering questions about earlier sessions with memory (each turn remembered, the closest
    /// recalled) against the whole history in the prompt: accuracy, recall@k, prompt tokens and
    /// latency per question, on multi-session tasks built from GSM8K.
    #[command(after_help = "Example:\n  agentos bench memory --conversations 2 --problems 5 --sessions 4 -k 8")]
    Memory(bench_memory::MemoryArgs),
    /// The start-up time of a confined Python sandbox and the round trip of a trivial execution,
    /// side by side with a plain `python3 -c pass`.
    #[command(after_help = "Example:\n  agentos bench sandbox --samples 20")]
    Sandbox(bench_sandbox::SandboxArgs),
}

#[derive(Args)]
struct RunArgs {
    /// What the agent should do; `-` reads it from standard input.
    #[arg(required_unless_present = "task_file")]
    task: Option<String>,
    /// Read the task from this file instead.
    #[arg(long, value_name = "FILE", conflicts_with = "task")]
    task_file: Option<PathBuf>,
    /// The model URI (`agentos models` lists the forms).
    #[arg(long, env = "AGENTOS_MODEL")]
    model: Option<String>,
    /// How the agent decides: react (default; tools), codeact (acts in Python), cot (chain of
    /// thought), sc[:N] (self-consistency over N samples, 5), aiot (Iteration of Thought, the
    /// model decides when to stop), giot[:N] (N iterations, 3), toolchain[:K] (ToolChain*, A* over
    /// tool calls, K candidates per expansion, 2), pal (a program computes the answer), pal-sc[:N]
    /// (majority vote over N programs, 5), and teams, each member a run of its own: debate[:NxR]
    /// (N agents answer, then R rounds reading each other; 3x2), dylan[:N] (DyLAN, N agents with
    /// roles rating each other, 4), malt (generator, verifier, refiner), crossteam[:K] (K teams
    /// propose, the weak are pruned, the rest merged; 3), read[:N] (a critic scores each plan's
    /// advantage, N refinements; 3), umi (planner, tool caller, summarizer), polaris (a primary
    /// consults specialists), cases[:N] (N similar solved cases first; 3).
    #[arg(long, env = "AGENTOS_STRATEGY")]
    strategy: Option<String>,
    /// Runs the team a team file declares (TOML: its actors, each with a role prompt and
    /// optionally a model and tools; its structure; who speaks next: round_robin, selector or
    /// handoff; and when it stops), instead of a strategy. The file is checked before anything
    /// runs and stored with the run, so `agentos resume` rebuilds the same team.
    #[arg(long, value_name = "FILE", conflicts_with = "strategy")]
    team: Option<PathBuf>,
    /// A model for one role of the strategy, as ROLE=URI; repeatable. Roles: `inner` (the inner
    /// dialogue agent of aiot/giot), `evaluator` (ToolChain*'s cost and heuristic estimates),
    /// `generator`, `verifier`, `refiner` (MALT's members), `planner`, `critic` (ReAd's),
    /// `caller`, `summarizer` (α-UMi's, with `planner`), `primary`, `arithmetic`, `reasoning`
    /// (Polaris's), `case-writer`, `solver` (cases').
    #[arg(long = "role", value_name = "ROLE=URI", value_parser = parse_role)]
    roles: Vec<(String, String)>,
    /// Tools the agent may use, comma-separated (default: calculator,current_time,list_files,read_file).
    #[arg(long, env = "AGENTOS_TOOLS", value_delimiter = ',')]
    tools: Option<Vec<String>>,
    /// The folder the file tools may use (default: the current folder).
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Ask before each risky tool (writing files) runs.
    #[arg(long)]
    approve: bool,
    /// How the agent acts: json (tool calls) or code (Python run in a confined sandbox in the
    /// work folder, the tools as Python functions: CodeAct with react; the functions it writes
    /// join the action library, `agentos actions`). Default: json, and code for the strategies
    /// that act only in code (codeact, pal, pal-sc).
    #[arg(long)]
    actions: Option<ActionMode>,
    /// With code actions: keep the run out of the action library (offered no kept function, and
    /// none of its functions kept), as when measuring what the library is worth.
    #[arg(long)]
    no_library: bool,
    /// With --actions code: start the sandbox even where this machine lacks a confinement
    /// mechanism, printing what is missing.
    #[arg(long)]
    unsafe_sandbox: bool,
    /// Long-term memory the run may read and write, as person:<name> or agent:<name>;
    /// repeatable. Grants the `remember` and `recall` tools (the first scope is where `remember`
    /// keeps facts). Without it, `--tools remember,recall` gives the run its working memory only.
    /// `agentos memory` lists what is kept.
    #[arg(long = "memory-scope", value_name = "SCOPE", value_parser = validate::memory_scope)]
    memory_scopes: Vec<String>,
    /// What the model sees of the run's earlier steps (react with native tool calls): window
    /// (every step), hiagent (HiAgent: a finished subgoal's steps give way to its outcome, and
    /// come back through the `recall` tool) or summary (Chain of Summarization: long observations
    /// and older steps are summarized by the model). The journal keeps every step either way.
    #[arg(long, default_value = "window", value_name = "POLICY")]
    memory: WorkingMemory,
    /// Whose profile the model is told (their preferences in their own words, set with `agentos
    /// memory profile NAME --set TEXT`): it is added to the system message of every model call.
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    #[command(flatten)]
    limits: LimitArgs,
    /// Sampling temperature of the model calls, from 0 to 2: 0 decides greedily (reproducible),
    /// higher varies.
    #[arg(long, default_value_t = 0.0, value_parser = validate::temperature)]
    temperature: f32,
    /// Print each event as a JSON line instead of text.
    #[arg(long)]
    json: bool,
}

/// A run's limits, set by `run` and raised by `resume`.
#[derive(Args)]
struct LimitArgs {
    /// Most model turns before the agent gives up, counted from the start of the run (default 10).
    #[arg(long, value_parser = validate::at_least_one::<u32>)]
    max_steps: Option<u32>,
    /// Most model calls the run may make in all.
    #[arg(long, value_parser = validate::at_least_one::<u64>)]
    max_calls: Option<u64>,
    /// Most tokens (in and out) the run may use in all (a team's members' included).
    #[arg(long, value_parser = validate::at_least_one::<u64>)]
    max_tokens: Option<u64>,
    /// Most seconds the run may spend in model and tool calls in all, counted across resumes
    /// (a team's members' included).
    #[arg(long, value_parser = validate::at_least_one::<u64>)]
    max_seconds: Option<u64>,
}

impl From<LimitArgs> for Limits {
    fn from(l: LimitArgs) -> Limits {
        Limits { max_steps: l.max_steps, max_model_calls: l.max_calls, max_tokens: l.max_tokens, max_seconds: l.max_seconds }
    }
}

fn main() {
    // Like other Unix tools, end quietly when the reader of our output goes away
    // (`agentos runs list | head`) instead of panicking on a failed print.
    // SAFETY: called first, before any other thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let mut command = Cli::command();
    let matches = command.get_matches_mut();
    let origins = Origins::new(&command, &matches);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let runtime = tokio::runtime::Runtime::new().expect("start the async runtime");
    match runtime.block_on(dispatch(cli, origins)) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}

async fn dispatch(cli: Cli, origins: Origins) -> Result<i32> {
    let config = Config::load()?;
    let db = origins.pick("db", cli.db, config.db.clone()).unwrap_or_else(|| Setting::default(Config::default_db()));
    // Commands that only read the database, or carry on what it holds, must not create one.
    let reads_only = match &cli.command {
        Command::Memory(command) => !command.writes_new(),
        command => matches!(command, Command::Runs(_) | Command::Actions(_) | Command::Export(_) | Command::Resume { .. }),
    };
    if reads_only {
        validate::existing_db(&db)?;
    }
    let db = db.value;
    match cli.command {
        Command::Run(args) => run(&config, &db, &origins, args).await,
        Command::Resume { run, limits, json, unsafe_sandbox } => resume(&config, &db, &run, limits.into(), json, unsafe_sandbox).await,
        Command::Runs(command) => runs::run(&db, command),
        Command::Models { command } => models::run(&config, command),
        Command::Serve { model, addr } => serve(&config, &origins, model, &addr).await,
        Command::Bench(BenchCommand::Kernel(args)) => bench::kernel(args).await,
        Command::Bench(BenchCommand::Local(args)) => tokio::task::spawn_blocking(move || bench_local::local(args)).await?,
        Command::Bench(BenchCommand::Gym(args)) => bench_gym::gym(&config, &db, &origins, args).await,
        Command::Bench(BenchCommand::Sandbox(args)) => bench_sandbox::sandbox(args).await,
        Command::Bench(BenchCommand::Memory(args)) => bench_memory::memory(&config, &db, &origins, args).await,
        Command::Actions(command) => actions::run(&db, command).await,
        Command::Memory(command) => memory::run(&db, command).await,
        Command::Export(args) => export::export(&db, args),
        Command::Simulate(command) => simulate::simulate(&config, &db, &origins, command).await,
        Command::Play(command) => play::run(&config, &db, &origins, command).await,
    }
}

/// Reads `--role ROLE=URI`.
pub(crate) fn parse_role(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((role, uri)) if !role.trim().is_empty() && !uri.trim().is_empty() => {
            Ok((role.trim().to_string(), agentos_llm::absolute_uri(uri.trim())))
        }
        _ => Err(format!("`{text}` is not ROLE=URI; for example --role inner=openai:gpt-4o-mini")),
    }
}

/// A kernel over the database `db` with the configured scheduling, the person at the terminal
/// as operator, and the built-in tools; nobody hears its events yet.
pub(crate) fn kernel_builder(config: &Config, db: &std::path::Path) -> Result<KernelBuilder> {
    let storage = Storage::open(db)?;
    let kernel_config = KernelConfig {
        policy: config.policy()?,
        max_concurrent_per_model: config.max_concurrent.unwrap_or(16),
        sandbox_limits: config.sandbox_limits()?,
        ..Default::default()
    };
    let mut builder = Kernel::builder(storage).config(kernel_config).operator(Arc::new(operator::Terminal));
    for tool in agentos_tools::builtin() {
        builder = builder.tool(tool);
    }
    Ok(builder)
}

/// The kernel of `run` and `resume`: printing events, starting code sandboxes without full
/// confinement if `allow_unsafe` (`--unsafe-sandbox`), and embedding memory with `encoder`.
fn kernel(
    config: &Config,
    db: &std::path::Path,
    printer: Arc<Printer>,
    allow_unsafe: bool,
    encoder: Option<Arc<dyn agentos_memory::Embedder>>,
) -> Result<Kernel> {
    let mut builder = kernel_builder(config, db)?.allow_unsafe_sandbox(allow_unsafe).on_event(move |e| printer.event(e));
    if let Some(encoder) = encoder {
        builder = builder.encoder(encoder);
    }
    Ok(builder.build()?)
}

/// The model to use: the flag (or environment), else the config file, else the embedded default
/// (the local model, pulled on first use).
pub(crate) fn model_uri(config: &Config, origins: &Origins, flag: Option<String>) -> Result<String> {
    let uri = validate::model(config, origins, flag)?.value;
    models::ensure_installed(&uri)?;
    Ok(uri)
}

async fn serve(config: &Config, origins: &Origins, model: Option<String>, addr: &str) -> Result<i32> {
    let uri = model_uri(config, origins, model)?;
    let model = models::load(&uri, || agentos_llm::from_uri(&uri))?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}; pick another --addr"))?;
    eprintln!("serving {uri} at http://{}/v1 (Ctrl-C stops after the requests in flight)", listener.local_addr()?);
    agentos_server::serve(listener, model, &uri).await?;
    Ok(0)
}

async fn run(config: &Config, db: &std::path::Path, origins: &Origins, args: RunArgs) -> Result<i32> {
    // The task, then every other argument, all checked before a model is downloaded or loaded.
    let task = task::read(args.task.clone(), args.task_file.as_deref())?;
    let plan = validate::run(config, origins, &args, &task)?;
    let profile = args.profile.as_deref().map(|name| validate::profile(db, name)).transpose()?;
    models::ensure_installed(&plan.model)?;
    for model in &plan.team_models {
        models::ensure_installed(model)?;
    }
    let spec = RunSpec {
        task,
        strategy: plan.strategy,
        model: plan.model,
        max_steps: plan.max_steps,
        capabilities: Capabilities {
            tools: plan.tools.into_iter().collect(),
            paths: vec![plan.workdir],
            network: false,
            approval: if args.approve { Approval::Risky } else { Approval::Never },
            code: plan.actions == ActionMode::Code,
        },
        budget: Budget { max_model_calls: args.limits.max_calls, max_tokens: args.limits.max_tokens, max_seconds: args.limits.max_seconds },
        priority: 0,
        temperature: Some(args.temperature),
        roles: args.roles.into_iter().collect(),
        actions: plan.actions,
        library: !args.no_library,
        memory_scopes: plan.memory_scopes,
        profile,
        working_memory: args.memory,
        seat: None,
        team_file: plan.team_file,
    };
    let printer = Arc::new(Printer::new(args.json));
    let kernel = kernel(config, db, printer.clone(), args.unsafe_sandbox, models::encoder_for(&spec)?)?;
    models::load(&spec.model, || kernel.model(&spec.model))?;
    let agent = kernel.start(spec).await?;
    finish(&kernel, agent, &printer, args.json).await
}

async fn resume(config: &Config, db: &std::path::Path, run: &str, limits: Limits, json: bool, unsafe_sandbox: bool) -> Result<i32> {
    if unsafe_sandbox {
        bench_sandbox::check(true)?;
    }
    let printer = Arc::new(Printer::new(json));
    let snapshot = agentos_kernel::Snapshot::load(&Storage::open(db)?, run)?;
    if let Some(seat) = snapshot.spec()?.seat {
        anyhow::bail!(
            "run {run} is the member `{}` of team run {}; a member resumes with its team: `agentos resume {}`",
            seat.member,
            seat.team,
            seat.team
        );
    }
    let kernel = kernel(config, db, printer.clone(), unsafe_sandbox, models::encoder_for(&snapshot.spec()?)?)?;
    models::ensure_installed(&snapshot.record.model)?;
    models::load(&snapshot.record.model, || kernel.model(&snapshot.record.model))?;
    let agent = kernel.restore_with(snapshot, limits).await?;
    finish(&kernel, agent, &printer, json).await
}

/// Drives the agent to its end and prints the outcome. The first Ctrl-C stops the run at once
/// (the model call in flight is abandoned, nothing of it recorded) and suspends it; a second one
/// quits on the spot. SIGTERM, SIGHUP and the output closing (`agentos run … | head -1`) stop it
/// the same way and leave it `interrupted`. Either way `agentos resume` carries it on.
async fn finish(kernel: &Kernel, agent: agentos_kernel::Agent, printer: &Printer, json: bool) -> Result<i32> {
    // Writing to a closed pipe must fail the write (the printer notices), not kill the process
    // between two steps. SAFETY: changes only this signal's disposition.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let run = agent.run().clone();
    if !json {
        printer.line(&format!(
            "run {run} ({} on {})\ntask: {}",
            agent.spec().strategy,
            agent.spec().model,
            render::cut(agent.task(), render::TASK_TEXT)
        ));
    }
    let strategy = rebuild(&agent.spec().strategy)?;
    let ending = drive_until_stopped(kernel, &agent, strategy.as_ref(), printer.closed()).await?;
    match &ending {
        Ending::Finished(answer) if !json => {
            let shown = simulate::table_of(&agent.spec().strategy, answer).unwrap_or_else(|| format!("\nanswer: {answer}"));
            printer.line(&shown)
        }
        ending if !json => report(&run, ending),
        _ => {}
    }
    Ok(exit_status(&ending))
}

/// Drives `agent` with `strategy` to its end, stopping it on what [`interrupts`] waits for
/// (`closed` being the output closing).
pub(crate) async fn drive_until_stopped(
    kernel: &Kernel,
    agent: &agentos_kernel::Agent,
    strategy: &dyn agentos_agents::Strategy,
    closed: tokio_util::sync::CancellationToken,
) -> Result<Ending> {
    let interrupts = tokio::spawn(interrupts(kernel.clone(), agent.run().clone(), closed));
    let ending = drive(kernel, agent, strategy).await;
    interrupts.abort();
    Ok(ending?)
}

/// Says on standard error how run `run` ended when it did not finish, and how to carry it on.
pub(crate) fn report(run: &agentos_core::RunId, ending: &Ending) {
    match ending {
        Ending::Finished(_) => {}
        Ending::Failed(error) => {
            eprintln!("\nrun {run} failed: {error}\nfix the cause, then `agentos resume {run}` retries from the failed step (it takes new --max-steps, --max-calls, --max-tokens and --max-seconds)")
        }
        Ending::Suspended => eprintln!("\nrun {run} suspended; `agentos resume {run}` carries it on"),
        Ending::Interrupted(reason) => eprintln!("\nrun {run} interrupted ({reason}); `agentos resume {run}` carries it on"),
        Ending::Cancelled => eprintln!("\nrun {run} cancelled"),
    }
}

/// The exit status of a run that ended so (see `agentos run --help`).
pub(crate) fn exit_status(ending: &Ending) -> i32 {
    match ending {
        Ending::Finished(_) => 0,
        Ending::Failed(_) => 1,
        Ending::Suspended | Ending::Interrupted(_) => 3,
        Ending::Cancelled => 4,
    }
}

/// The strategy a run's stored name names: one of the gym's games (`agentos play`, as
/// `spygame:players=4,...`), a population simulation (`agentos simulate`), else one of the
/// agents' strategies. `run` and `resume` both build their strategy here, so a resumed game or
/// simulation is the same one.
fn rebuild(name: &str) -> Result<Box<dyn agentos_agents::Strategy>> {
    if name == agentos_gym::population::STRATEGY {
        return Ok(Box::new(agentos_gym::population::Simulation::default()));
    }
    match agentos_gym::games::strategy(name) {
        Some(game) => Ok(game?),
        None => Ok(strategy(name)?),
    }
}

/// Waits for what stops a live run from outside (Ctrl-C, SIGTERM, SIGHUP, the output closing)
/// and stops it at once; after the first Ctrl-C, a second one quits the process on the spot.
async fn interrupts(kernel: Kernel, run: agentos_core::RunId, closed: tokio_util::sync::CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hup)) = (signal(SignalKind::terminate()), signal(SignalKind::hangup())) else { return };
    let by = tokio::select! {
        _ = tokio::signal::ctrl_c() => Interruption::Person,
        _ = term.recv() => Interruption::Other("SIGTERM".into()),
        _ = hup.recv() => Interruption::Other("SIGHUP".into()),
        _ = closed.cancelled() => Interruption::Other("its output was closed".into()),
    };
    if by == Interruption::Person {
        eprintln!("\nsuspending now: the step in flight is abandoned and nothing of it is recorded; Ctrl-C again quits at once");
    }
    kernel.interrupt(&run, by);
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("\nquit; `agentos resume {run}` carries the run on");
        std::process::exit(130);
    }
}
