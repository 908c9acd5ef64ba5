//! `agentos bench sandbox`: the start-up time of a confined Python sandbox and the round trip of
//! a trivial execution, next to a plain `python3 -c pass` on the same machine; and the check the
//! CLI makes before code runs in a sandbox (what this machine lacks, and `--unsafe-sandbox`).

use agentos_sandbox::{missing_mechanisms, SandboxConfig};
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;

/// `agentos bench sandbox` arguments.
#[derive(Args)]
pub struct SandboxArgs {
    /// Samples of each measurement; the median is printed.
    #[arg(long, default_value_t = 20)]
    samples: usize,
    /// The Python to measure (default: `python3` on PATH).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Measure even where this machine lacks a confinement mechanism (the report names it).
    #[arg(long)]
    unsafe_sandbox: bool,
}

/// Runs the benchmark in a temporary folder and prints its table and the isolation report.
pub async fn sandbox(args: SandboxArgs) -> Result<i32> {
    if args.samples == 0 {
        bail!("--samples 0 measures nothing; give at least 1");
    }
    check(args.unsafe_sandbox)?;
    let dir = tempfile::tempdir()?;
    let mut config = SandboxConfig::new(dir.path().join("bench"));
    config.python = args.python;
    config.allow_unsafe = args.unsafe_sandbox;
    let report = agentos_sandbox::bench(config, args.samples).await?;
    println!("{report}");
    Ok(0)
}

/// Before code runs in a sandbox: refuses when this machine lacks a confinement mechanism,
/// unless `allow_unsafe` (`--unsafe-sandbox`), which instead prints what is missing.
pub fn check(allow_unsafe: bool) -> Result<()> {
    let missing = missing_mechanisms();
    if missing.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = missing.iter().map(|m| format!("  - {m}")).collect();
    if allow_unsafe {
        eprintln!("warning: --unsafe-sandbox: code runs without what this machine lacks:\n{}", list.join("\n"));
        return Ok(());
    }
    bail!(
        "this machine lacks what the code sandbox needs to confine code:\n{}\nfix the machine, or pass --unsafe-sandbox to run with only what it has",
        list.join("\n")
    )
}
