//! `agentos bench local`: how fast the embedded engine decodes, as ratios measured in one run on
//! the same GGUF and thread count: decode speed against the memory-bandwidth roofline (each
//! generated token reads every weight once, so tokens/s × bytes of weights ÷ the bandwidth this
//! machine shows on a large copy is the fraction of the limit reached; LLM Inference Unveiled,
//! Yuan et al., 2024), and the aggregate throughput of N agents decoded together against the
//! same N requests one at a time.

use agentos_core::{ChatRequest, Message, Sampling};
use agentos_local::{Engine, EngineOptions};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

/// Settings of `agentos bench local`.
#[derive(Args)]
pub struct LocalArgs {
    /// The local model: a name from `agentos models` (pulled if missing) or a path to a GGUF file.
    #[arg(long, default_value = agentos_models::DEFAULT_MODEL)]
    model: String,
    /// Concurrent agents for the batching ratio.
    #[arg(long, default_value_t = 8)]
    agents: usize,
    /// Tokens each request generates.
    #[arg(long, default_value_t = 64)]
    tokens: u32,
    /// CPU threads for llama.cpp (default: every core).
    #[arg(long)]
    threads: Option<usize>,
}

/// Runs the benchmark and prints its ratios.
pub fn local(args: LocalArgs) -> Result<i32> {
    if args.agents == 0 || args.tokens < 2 {
        bail!("--agents must be at least 1 and --tokens at least 2");
    }
    let path = if args.model.ends_with(".gguf") {
        PathBuf::from(&args.model)
    } else {
        crate::models::ensure_installed(&format!("local:{}", args.model))?;
        agentos_models::installed(&args.model).with_context(|| format!("no local model `{}`; `agentos models` lists them", args.model))?
    };
    let weights = std::fs::metadata(&path).with_context(|| format!("cannot read {}", path.display()))?.len();
    let options = EngineOptions { threads: args.threads, parallel: args.agents, ..Default::default() };
    let engine = Engine::load(&path, options)?;
    println!("model {} ({:.0} MiB of weights), {} threads", path.display(), weights as f64 / (1 << 20) as f64, engine.threads());

    let bandwidth = copy_bandwidth(engine.threads());
    let request = |i: usize| ChatRequest {
        messages: vec![Message::user(format!("Count from {} upwards, one number per line, and never stop.", i * 1000))],
        sampling: Sampling { temperature: Some(0.0), max_tokens: Some(args.tokens), ..Default::default() },
        ..Default::default()
    };
    engine.generate(&request(0), |_| {})?; // warm-up: page the weights in
    let alone = engine.generate(&request(1), |_| {})?;
    let decode = alone.completion_tokens.saturating_sub(1) as f64 / alone.decode_time.as_secs_f64();
    let roofline = bandwidth / weights as f64;
    println!(
        "decode alone: {decode:.1} tok/s; roofline {roofline:.1} tok/s ({:.1} GB/s copy bandwidth ÷ {:.2} GB of weights per token): {:.0} % of the roofline",
        bandwidth / 1e9,
        weights as f64 / 1e9,
        100.0 * decode / roofline
    );
    println!(
        "prompt: {} tokens in {:.0} ms = {:.1} tok/s",
        alone.prompt_tokens,
        alone.prompt_time.as_secs_f64() * 1e3,
        alone.prompt_tokens as f64 / alone.prompt_time.as_secs_f64()
    );

    let serial_started = Instant::now();
    let mut serial_tokens = 0;
    for i in 0..args.agents {
        serial_tokens += engine.generate(&request(i), |_| {})?.completion_tokens;
    }
    let serial = serial_tokens as f64 / serial_started.elapsed().as_secs_f64();
    let batched_started = Instant::now();
    let batched_tokens: usize = std::thread::scope(|s| {
        let runs: Vec<_> = (0..args.agents)
            .map(|i| {
                s.spawn({
                    let engine = &engine;
                    move || engine.generate(&request(i), |_| {})
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().expect("a generation thread panicked").map(|g| g.completion_tokens)).sum::<Result<usize, _>>()
    })?;
    let batched = batched_tokens as f64 / batched_started.elapsed().as_secs_f64();
    println!("{} agents: batched {batched:.1} tok/s against one at a time {serial:.1} tok/s: {:.2}×", args.agents, batched / serial);
    println!("not measured yet: agentos against llama.cpp's llama-bench, and the prefix cache (not built yet)");
    Ok(0)
}

/// Bytes per second this machine copies through memory with `threads` threads (as many as the
/// engine decodes with): the best of a few copies of a buffer far larger than any cache, each
/// thread copying its own slice, counting bytes read and written.
fn copy_bandwidth(threads: usize) -> f64 {
    const SIZE: usize = 1 << 30;
    let source = vec![1u8; SIZE];
    let mut target = vec![0u8; SIZE];
    let chunk = SIZE.div_ceil(threads.max(1));
    let mut best = f64::MAX;
    for _ in 0..5 {
        let started = Instant::now();
        std::thread::scope(|s| {
            for (to, from) in target.chunks_mut(chunk).zip(source.chunks(chunk)) {
                s.spawn(move || to.copy_from_slice(from));
            }
        });
        std::hint::black_box(&mut target);
        best = best.min(started.elapsed().as_secs_f64());
    }
    2.0 * SIZE as f64 / best
}
