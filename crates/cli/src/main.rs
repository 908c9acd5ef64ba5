//! agentos: the command line of the agent operating system.
//!
//! Owns: argument parsing, settings, printing runs for people, and the benchmarks. Everything an
//! agent does goes through the kernel built here; this crate adds no behaviour of its own to a run.

mod actions;
mod bench;
mod bench_gym;
mod bench_local;
mod bench_sandbox;
mod config;
mod export;
mod models;
mod operator;
mod render;
mod validate;

use agentos_agents::{drive, strategy};
use agentos_kernel::{ActionMode, Approval, Budget, Capabilities, Ending, Kernel, KernelBuilder, KernelConfig, RunSpec, Storage};
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

const EXAMPLES: &str = "Examples:
  agentos run \"What is 17% of 2,340? Check with the calculator.\" --model openai:gpt-4o-mini
  agentos run \"Summarize notes.txt\" --tools read_file,list_files --workdir ./docs
  agentos runs list
  agentos runs show <run>
  agentos resume <run>
  agentos bench kernel --agents 1000 --steps 10 --latency-ms 100
  agentos bench gym --env game24 --strategies cot,sc,react --limit 20
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
    #[command(after_help = "Examples:
  agentos run \"What is (3/7 + 2/9) * 63?\" --model openai-compatible:http://127.0.0.1:8080/v1#qwen
  agentos run \"List the files here and read README.md\" --tools list_files,read_file --max-steps 6
  agentos run \"Rename the draft\" --tools read_file,write_file --approve --json
  agentos run \"What is the mean of the price column in prices.csv?\" --actions code --workdir ./data")]
    Run(RunArgs),
    /// Lists and shows recorded runs.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Carries an interrupted, suspended or failed run on from its last recorded step.
    #[command(
        after_help = "Example:\n  agentos resume 0193a2c4e5f67890abcdef0123456789\n\nRecorded steps are replayed, not executed again: no model call or tool call is repeated."
    )]
    Resume {
        /// The run's id (see `agentos runs list`).
        run: String,
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
    /// Benchmarks that print ratios measured side by side (not tests), and the gym's score tables.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Writes the trajectories of a gym benchmark as training data (JSONL): its successful
    /// episodes as ShareGPT conversations, or preference pairs for DPO.
    #[command(after_help = export::HELP)]
    Export(export::ExportArgs),
}

#[derive(Subcommand)]
enum RunsCommand {
    /// The most recent runs, newest first.
    #[command(after_help = "Example:\n  agentos runs list --limit 5")]
    List {
        /// How many runs to show.
        #[arg(long, default_value_t = 20, value_parser = validate::at_least_one::<usize>)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One run's whole trajectory: every model request and response, every tool call and result.
    #[command(after_help = "Example:\n  agentos runs show 0193a2c4e5f67890abcdef0123456789 --json")]
    Show {
        /// The run's id.
        run: String,
        /// Print the trajectory as JSON.
        #[arg(long)]
        json: bool,
    },
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
    /// The start-up time of a confined Python sandbox and the round trip of a trivial execution,
    /// side by side with a plain `python3 -c pass`.
    #[command(after_help = "Example:\n  agentos bench sandbox --samples 20")]
    Sandbox(bench_sandbox::SandboxArgs),
}

#[derive(Args)]
struct RunArgs {
    /// What the agent should do.
    task: String,
    /// The model URI (`agentos models` lists the forms).
    #[arg(long, env = "AGENTOS_MODEL")]
    model: Option<String>,
    /// How the agent decides: react (default; tools), cot (chain of thought), sc[:N] (self-consistency
    /// over N samples, 5), aiot (Iteration of Thought, the model decides when to stop), giot[:N]
    /// (N iterations, 3), toolchain[:K] (ToolChain*, A* over tool calls, K candidates per expansion, 2).
    #[arg(long, env = "AGENTOS_STRATEGY")]
    strategy: Option<String>,
    /// A model for one role of the strategy, as ROLE=URI; repeatable. Roles: `inner` (the inner
    /// dialogue agent of aiot/giot), `evaluator` (ToolChain*'s cost and heuristic estimates).
    #[arg(long = "role", value_name = "ROLE=URI", value_parser = parse_role)]
    roles: Vec<(String, String)>,
    /// Tools the agent may use, comma-separated (default: calculator,current_time,list_files,read_file).
    #[arg(long, env = "AGENTOS_TOOLS", value_delimiter = ',')]
    tools: Option<Vec<String>>,
    /// Most model turns before the agent gives up (default 10).
    #[arg(long, value_parser = validate::at_least_one::<u32>)]
    max_steps: Option<u32>,
    /// The folder the file tools may use (default: the current folder).
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Ask before each risky tool (writing files) runs.
    #[arg(long)]
    approve: bool,
    /// How the agent acts: json (tool calls) or code (Python run in a confined sandbox in the
    /// work folder, the tools as Python functions: CodeAct with react; the functions it writes
    /// join the action library, `agentos actions`).
    #[arg(long, default_value_t = ActionMode::Json)]
    actions: ActionMode,
    /// With --actions code: start the sandbox even where this machine lacks a confinement
    /// mechanism, printing what is missing.
    #[arg(long)]
    unsafe_sandbox: bool,
    /// Most model calls the run may make.
    #[arg(long, value_parser = validate::at_least_one::<u64>)]
    max_calls: Option<u64>,
    /// Most tokens (in and out) the run may use.
    #[arg(long, value_parser = validate::at_least_one::<u64>)]
    max_tokens: Option<u64>,
    /// Sampling temperature of the model calls, from 0 to 2: 0 decides greedily (reproducible),
    /// higher varies.
    #[arg(long, default_value_t = 0.0, value_parser = validate::temperature)]
    temperature: f32,
    /// Print each event as a JSON line instead of text.
    #[arg(long)]
    json: bool,
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
    // Commands that only read the database must not create one.
    if matches!(cli.command, Command::Runs(_) | Command::Actions(_) | Command::Export(_)) {
        validate::existing_db(&db)?;
    }
    let db = db.value;
    match cli.command {
        Command::Run(args) => run(&config, &db, &origins, args).await,
        Command::Resume { run, json, unsafe_sandbox } => resume(&config, &db, &run, json, unsafe_sandbox).await,
        Command::Runs(RunsCommand::List { limit, json }) => list(&db, limit, json),
        Command::Runs(RunsCommand::Show { run, json }) => show(&db, &run, json),
        Command::Models { command } => models::run(&config, command),
        Command::Serve { model, addr } => serve(&config, &origins, model, &addr).await,
        Command::Bench(BenchCommand::Kernel(args)) => bench::kernel(args).await,
        Command::Bench(BenchCommand::Local(args)) => tokio::task::spawn_blocking(move || bench_local::local(args)).await?,
        Command::Bench(BenchCommand::Gym(args)) => bench_gym::gym(&config, &db, &origins, args).await,
        Command::Bench(BenchCommand::Sandbox(args)) => bench_sandbox::sandbox(args).await,
        Command::Actions(command) => actions::run(&db, command).await,
        Command::Export(args) => export::export(&db, args),
    }
}

/// Reads `--role ROLE=URI`.
pub(crate) fn parse_role(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((role, uri)) if !role.trim().is_empty() && !uri.trim().is_empty() => Ok((role.trim().to_string(), uri.trim().to_string())),
        _ => Err(format!("`{text}` is not ROLE=URI; for example --role inner=openai:gpt-4o-mini")),
    }
}

/// A kernel over the database `db` with the configured scheduling, the person at the terminal
/// as operator, and the built-in tools; nobody hears its events yet.
pub(crate) fn kernel_builder(config: &Config, db: &std::path::Path) -> Result<KernelBuilder> {
    let storage = Storage::open(db)?;
    let kernel_config =
        KernelConfig { policy: config.policy()?, max_concurrent_per_model: config.max_concurrent.unwrap_or(16), ..Default::default() };
    let mut builder = Kernel::builder(storage).config(kernel_config).operator(Arc::new(operator::Terminal));
    for tool in agentos_tools::builtin() {
        builder = builder.tool(tool);
    }
    Ok(builder)
}

/// The kernel of `run` and `resume`: printing events, and starting code sandboxes without full
/// confinement if `allow_unsafe` (`--unsafe-sandbox`).
fn kernel(config: &Config, db: &std::path::Path, printer: Arc<Printer>, allow_unsafe: bool) -> Result<Kernel> {
    Ok(kernel_builder(config, db)?.allow_unsafe_sandbox(allow_unsafe).on_event(move |e| printer.event(e)).build()?)
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
    let model = agentos_llm::from_uri(&uri)?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}; pick another --addr"))?;
    eprintln!("serving {uri} at http://{}/v1 (Ctrl-C stops)", listener.local_addr()?);
    agentos_server::serve(listener, model, &uri).await?;
    Ok(0)
}

async fn run(config: &Config, db: &std::path::Path, origins: &Origins, args: RunArgs) -> Result<i32> {
    // Every argument is checked before a model is downloaded or loaded.
    let plan = validate::run(config, origins, &args)?;
    let model = model_uri(config, origins, args.model)?;
    let spec = RunSpec {
        task: args.task,
        strategy: plan.strategy,
        model,
        max_steps: plan.max_steps,
        capabilities: Capabilities {
            tools: plan.tools.into_iter().collect(),
            paths: vec![plan.workdir],
            network: false,
            approval: if args.approve { Approval::Risky } else { Approval::Never },
            code: args.actions == ActionMode::Code,
        },
        budget: Budget { max_model_calls: args.max_calls, max_tokens: args.max_tokens },
        priority: 0,
        temperature: Some(args.temperature),
        roles: args.roles.into_iter().collect(),
        actions: args.actions,
    };
    let printer = Arc::new(Printer::new(args.json));
    let kernel = kernel(config, db, printer, args.unsafe_sandbox)?;
    kernel.model(&spec.model)?;
    let agent = kernel.start(spec).await?;
    finish(&kernel, agent, args.json).await
}

async fn resume(config: &Config, db: &std::path::Path, run: &str, json: bool, unsafe_sandbox: bool) -> Result<i32> {
    if unsafe_sandbox {
        bench_sandbox::check(true)?;
    }
    let kernel = kernel(config, db, Arc::new(Printer::new(json)), unsafe_sandbox)?;
    let snapshot = kernel.snapshot(run)?;
    models::ensure_installed(&snapshot.record.model)?;
    let agent = kernel.restore(snapshot).await?;
    finish(&kernel, agent, json).await
}

/// Drives the agent to its end, suspending it cleanly on Ctrl-C, and prints the outcome.
async fn finish(kernel: &Kernel, agent: agentos_kernel::Agent, json: bool) -> Result<i32> {
    let run = agent.run().clone();
    if !json {
        println!("run {run} ({} on {})\ntask: {}", agent.spec().strategy, agent.spec().model, agent.task());
    }
    let strategy = strategy(&agent.spec().strategy)?;
    let interrupt = {
        let (kernel, run) = (kernel.clone(), run.clone());
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\nsuspending at the next step boundary; carry on later with `agentos resume {run}`");
                kernel.suspend(&run);
            }
        })
    };
    let ending = drive(kernel, &agent, strategy.as_ref()).await?;
    interrupt.abort();
    if !json {
        match &ending {
            Ending::Finished(answer) => println!("\nanswer: {answer}"),
            Ending::Failed(error) => {
                eprintln!("\nrun {run} failed: {error}\nfix the cause, then `agentos resume {run}` retries from the failed step")
            }
            Ending::Suspended => eprintln!("\nrun {run} suspended; `agentos resume {run}` carries it on"),
            Ending::Cancelled => eprintln!("\nrun {run} cancelled"),
        }
    }
    Ok(match ending {
        Ending::Finished(_) => 0,
        Ending::Failed(_) => 1,
        Ending::Suspended => 3,
        Ending::Cancelled => 4,
    })
}

fn list(db: &std::path::Path, limit: usize, json: bool) -> Result<i32> {
    let runs = Storage::open(db)?.runs(limit)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(0);
    }
    if runs.is_empty() {
        println!("no runs yet in {}; start one with `agentos run \"<task>\"`", db.display());
    }
    for r in runs {
        let task: String = r.task.chars().take(60).collect();
        println!("{}  {:<9}  {:<19}  {:<8}  {}", r.id, r.status, &r.created_at[..19.min(r.created_at.len())], r.strategy, task);
    }
    Ok(0)
}

fn show(db: &std::path::Path, run: &str, json: bool) -> Result<i32> {
    let trajectory = agentos_kernel::trajectory(&Storage::open(db)?, run)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&trajectory)?);
    } else {
        print!("{}", render::trajectory(&trajectory));
    }
    Ok(0)
}
