//! `agentos bench kernel`: what the kernel costs. N concurrent ReAct agents, each running S steps
//! against a simulated model on loopback that answers after a fixed latency L. Each step is one
//! model call; every step but the last also makes one (cheap) calculator call, and the last gives
//! the answer. No agent can finish sooner than S × L, so wall time ÷ (S × L) is the kernel's
//! overhead ratio, with every step journaled in SQLite. Then LangGraph's prebuilt ReAct agent runs
//! the same workload against the same server, and the two throughputs are compared.

use agentos_agents::{drive, ReAct};
use agentos_kernel::{Capabilities, Ending, Kernel, KernelConfig, RunSpec, Storage};
use agentos_llm::simulated::{Reply, SimulatedServer};
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
    let bound = latency * steps as u32;
    println!(
        "workload: {} agents × {} steps, simulated model latency {} ms, latency bound S × L = {:.3} s",
        args.agents,
        steps,
        args.latency_ms,
        bound.as_secs_f64()
    );

    let ours = agentos(&server, &args).await?;
    println!(
        "agentos:   wall {:.3} s, overhead ratio {:.3} (wall ÷ bound), {:.0} agent steps/s, every step journaled in SQLite",
        ours.wall.as_secs_f64(),
        ours.wall.as_secs_f64() / bound.as_secs_f64(),
        ours.steps_per_second()
    );
    if args.no_peer {
        return Ok(0);
    }
    let (peer, version) = langgraph(&server, &args).await?;
    println!(
        "langgraph {version}: wall {:.3} s, overhead ratio {:.3}, {:.0} agent steps/s (nothing persisted)",
        peer.wall.as_secs_f64(),
        peer.wall.as_secs_f64() / bound.as_secs_f64(),
        peer.steps_per_second()
    );
    println!("throughput agentos / langgraph: {:.2}×", ours.steps_per_second() / peer.steps_per_second());
    Ok(0)
}

async fn agentos(server: &SimulatedServer, args: &KernelArgs) -> Result<Measured> {
    let dir = tempfile::tempdir().context("create a folder for the benchmark database")?;
    let storage = Storage::open(dir.path().join("bench.db"))?;
    let config = KernelConfig { max_concurrent_per_model: args.agents, ..Default::default() };
    let mut builder = Kernel::builder(storage).config(config);
    for tool in agentos_tools::builtin() {
        builder = builder.tool(tool);
    }
    let kernel = builder.build()?;
    let spec = RunSpec {
        task: "Count up with the calculator.".into(),
        strategy: "react".into(),
        model: format!("openai-compatible:{}#sim", server.base_url()),
        max_steps: args.steps as u32,
        capabilities: Capabilities { tools: ["calculator".to_string()].into(), ..Default::default() },
        budget: Default::default(),
        priority: 0,
    };
    kernel.model(&spec.model)?;
    let started = Instant::now();
    let runs = (0..args.agents).map(|_| {
        let (kernel, spec) = (kernel.clone(), spec.clone());
        tokio::spawn(async move {
            let agent = kernel.start(spec).await?;
            let ending = drive(&kernel, &agent, &ReAct).await?;
            anyhow::Ok((agent.run().clone(), ending))
        })
    });
    let results = futures::future::join_all(runs).await;
    let wall = started.elapsed();
    let mut journaled = 0;
    for result in results {
        let (run, ending) = result??;
        if ending != Ending::Finished("done".into()) {
            bail!("run {run} ended {ending:?} instead of answering `done`");
        }
        journaled += kernel.storage().steps(&run)?.len();
    }
    let expected = args.agents * (2 * args.steps - 1);
    if journaled != expected {
        bail!("the journal holds {journaled} steps, expected {expected}");
    }
    Ok(Measured { wall, agent_steps: args.agents * args.steps })
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
