//! `agentos bench kernel`: what the kernel costs. N concurrent ReAct agents, each running S steps
//! against a simulated model on loopback that answers after a fixed latency L. Each step is one
//! model call; every step but the last also makes one (cheap) calculator call, and the last gives
//! the answer. No agent can finish sooner than S × L, so wall time ÷ (S × L) is the overhead
//! ratio, with every step journaled in SQLite. The same conversations sent straight through the
//! provider, without the kernel, give the floor that HTTP and this machine set by themselves.
//! Before the clock starts, N concurrent model calls warm the connection pool, on both sides. Then LangGraph's prebuilt ReAct agent runs
//! the same workload against the same server, and the two throughputs are compared.

use agentos_agents::{drive, ReAct};
use agentos_core::{ChatRequest, Message};
use agentos_kernel::{Capabilities, Ending, Kernel, KernelConfig, RunSpec, Storage};
use agentos_llm::simulated::{Reply, SimulatedServer};
use agentos_llm::LanguageModel;
use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Settings of `agentos bench kernel`.
#[derive(Args)]
pub struct KernelArgs {
    /// Concurrent agents.
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    /// Steps (model calls) per agent.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Latency of each simulated model call, in milliseconds.
    #[arg(long, default_value_t = 100)]
    latency_ms: u64,
    /// Skip the LangGraph comparison.
    #[arg(long)]
    no_peer: bool,
    /// Python with LangGraph installed (default: bench/peers/.venv, created on first use from
    /// bench/peers/requirements.txt).
    #[arg(long)]
    python: Option<PathBuf>,
}

/// What one side of the comparison did.
struct Measured {
    wall: Duration,
    agent_steps: usize,
}

impl Measured {
    fn steps_per_second(&self) -> f64 {
        self.agent_steps as f64 / self.wall.as_secs_f64()
    }
}

/// Runs the benchmark and prints its ratios.
pub async fn kernel(args: KernelArgs) -> Result<i32> {
    if args.agents == 0 || args.steps == 0 {
        bail!("--agents and --steps must be at least 1");
    }
    let steps = args.steps;
    let latency = Duration::from_millis(args.latency_ms);
    let script = Arc::new(move |done: usize| {
        if done + 1 < steps {
            Reply::ToolCall { name: "calculator".into(), arguments: json!({ "expression": format!("{done}+1") }) }
        } else {
            Reply::Text("done".into())
        }
    });
    let server = SimulatedServer::start(latency, script).await.context("start the simulated model server")?;
    let uri = format!("openai-compatible:{}#sim", server.base_url());
    let model = agentos_llm::from_uri(&uri)?;
    let bound = (latency * steps as u32).as_secs_f64();
    println!(
        "workload: {} agents × {} steps, simulated model latency {} ms, latency bound S × L = {bound:.3} s",
        args.agents, steps, args.latency_ms
    );
    warm_up(&model, args.agents).await?;

    let floor = http_floor(&model, &args).await?;
    let floor_ratio = floor.wall.as_secs_f64() / bound;
    println!("http floor (the same model calls, no kernel): wall {:.3} s, ratio {floor_ratio:.3}", floor.wall.as_secs_f64());
    let ours = agentos(model, &uri, args.agents, steps).await?;
    let ratio = ours.wall.as_secs_f64() / bound;
    println!(
        "agentos: wall {:.3} s, overhead ratio {ratio:.3} (wall ÷ bound; {:.3} over the http floor), {:.0} agent steps/s, {} steps journaled in SQLite",
        ours.wall.as_secs_f64(),
        ratio / floor_ratio,
        ours.steps_per_second(),
        args.agents * (2 * steps - 1)
    );
    if args.no_peer {
        return Ok(0);
    }
    let (peer, version) = langgraph(&server, &args).await?;
    println!(
        "langgraph {version}: wall {:.3} s, overhead ratio {:.3}, {:.0} agent steps/s (nothing persisted)",
        peer.wall.as_secs_f64(),
        peer.wall.as_secs_f64() / bound,
        peer.steps_per_second()
    );
    println!("throughput agentos / langgraph: {:.2}×", ours.steps_per_second() / peer.steps_per_second());
    Ok(0)
}

/// The same conversations straight through the provider, without the kernel: what the HTTP client,
/// the simulated server and this machine cost by themselves.
async fn http_floor(model: &Arc<dyn LanguageModel>, args: &KernelArgs) -> Result<Measured> {
    let tools: Vec<_> = agentos_tools::builtin().iter().map(|t| t.spec()).filter(|t| t.name == "calculator").collect();
    let started = Instant::now();
    let agents = (0..args.agents).map(|_| {
        let tools = tools.clone();
        async move {
            let mut messages = vec![Message::system("You are an agent."), Message::user(TASK)];
            for _ in 0..args.steps {
                let request = ChatRequest { messages: messages.clone(), tools: tools.clone(), ..Default::default() };
                let reply = model.chat(&request, &|_| {}).await?.message;
                let results: Vec<Message> = reply.tool_calls.iter().map(|c| Message::tool(c.id.clone(), "1")).collect();
                messages.push(reply);
                messages.extend(results);
            }
            anyhow::Ok(())
        }
    });
    for result in futures::future::join_all(agents).await {
        result.context("a model call of the http floor failed")?;
    }
    Ok(Measured { wall: started.elapsed(), agent_steps: args.agents * args.steps })
}

const TASK: &str = "Count up with the calculator.";

async fn agentos(model: Arc<dyn LanguageModel>, uri: &str, agents: usize, steps: usize) -> Result<Measured> {
    let dir = tempfile::tempdir().context("create a folder for the benchmark database")?;
    let storage = Storage::open(dir.path().join("bench.db"))?;
    let config = KernelConfig { max_concurrent_per_model: agents, ..Default::default() };
    let mut builder = Kernel::builder(storage).config(config).model(model);
    for tool in agentos_tools::builtin() {
        builder = builder.tool(tool);
    }
    let kernel = builder.build()?;
    let spec = RunSpec {
        task: TASK.into(),
        strategy: "react".into(),
        model: uri.to_string(),
        max_steps: steps as u32,
        capabilities: Capabilities { tools: ["calculator".to_string()].into(), ..Default::default() },
        budget: Default::default(),
        priority: 0,
        temperature: None,
        roles: Default::default(),
        actions: Default::default(),
        library: true,
        memory_scopes: Vec::new(),
        profile: None,
        working_memory: Default::default(),
        seat: None,
        team_file: None,
    };
    let started = Instant::now();
    let runs = (0..agents).map(|_| {
        let (kernel, spec) = (kernel.clone(), spec.clone());
        tokio::spawn(async move {
            let agent = kernel.start(spec).await?;
            let ending = drive(&kernel, &agent, &ReAct).await?;
            anyhow::Ok((agent.run().clone(), ending))
        })
    });
    let results = futures::future::join_all(runs).await;
    let wall = started.elapsed();
    for result in results {
        let (run, ending) = result??;
        if ending != Ending::Finished("done".into()) {
            bail!("run {run} ended {ending:?} instead of answering `done`");
        }
        let journaled = kernel.storage().steps(&run)?.len();
        if journaled != 2 * steps - 1 {
            bail!("run {run} journaled {journaled} steps, expected {}", 2 * steps - 1);
        }
    }
    Ok(Measured { wall, agent_steps: agents * steps })
}

/// Fills the provider's connection pool with `n` concurrent calls, untimed and unjournaled (the
/// LangGraph peer does the same), so that the timed run measures the kernel, not the one-off cost
/// of opening `n` connections at the same instant.
async fn warm_up(model: &Arc<dyn LanguageModel>, n: usize) -> Result<()> {
    let request = ChatRequest { messages: vec![Message::user("warm up")], ..Default::default() };
    let calls = (0..n).map(|_| model.chat(&request, &|_| {}));
    for result in futures::future::join_all(calls).await {
        result.context("warm-up call to the simulated model")?;
    }
    Ok(())
}

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/peers")
}

/// The Python to run the peer with, setting up bench/peers/.venv on first use.
async fn python(args: &KernelArgs) -> Result<PathBuf> {
    if let Some(p) = &args.python {
        return Ok(p.clone());
    }
    let dir = peers_dir();
    let venv = dir.join(".venv");
    let python = venv.join("bin/python");
    if python.exists() {
        return Ok(python);
    }
    eprintln!("setting up LangGraph in {} (once)…", venv.display());
    let status = tokio::process::Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg(&venv)
        .status()
        .await
        .context("run python3 -m venv (is python3 installed?)")?;
    if !status.success() {
        bail!("python3 -m venv {} failed", venv.display());
    }
    let status = tokio::process::Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "-r"])
        .arg(dir.join("requirements.txt"))
        .status()
        .await?;
    if !status.success() {
        let _ = std::fs::remove_dir_all(&venv);
        bail!("installing bench/peers/requirements.txt failed; check that PyPI is reachable, or pass --python with LangGraph installed, or --no-peer");
    }
    Ok(python)
}

async fn langgraph(server: &SimulatedServer, args: &KernelArgs) -> Result<(Measured, String)> {
    let python = python(args).await?;
    let script = peers_dir().join("langgraph_react.py");
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .args(["--base-url", &server.base_url(), "--agents", &args.agents.to_string(), "--steps", &args.steps.to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()
        .await
        .with_context(|| format!("run {} {}", python.display(), script.display()))?;
    if !output.status.success() {
        bail!("the LangGraph peer failed ({}); its messages are above", output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let report: Value = serde_json::from_str(line).with_context(|| format!("the LangGraph peer printed `{line}`, not its JSON report"))?;
    let wall = report["wall_s"].as_f64().context("the peer's report has no wall_s")?;
    let version = report["langgraph_version"].as_str().unwrap_or("?").to_string();
    Ok((Measured { wall: Duration::from_secs_f64(wall), agent_steps: args.agents * args.steps }, version))
}
