//! `agentos bench local`: how fast the embedded engine is, as ratios measured in one run on the
//! same GGUF and thread count:
//! - prompt and decode tokens/s against llama.cpp's own `llama-bench`, built against the same
//!   llama.cpp source (`bench/peers/llama_cpp.sh`);
//! - decode speed against the memory-bandwidth roofline (each generated token reads every weight
//!   once, so tokens/s × bytes of weights ÷ the bandwidth this machine shows on a large copy is the
//!   fraction of the limit reached; LLM Inference Unveiled, Yuan et al., 2024);
//! - the aggregate decode throughput of N agents decoded together against the same N requests one
//!   at a time, beside the same ratio from llama.cpp's `llama-batched-bench`;
//! - calls that share a long prompt prefix, with the prefix cache against without (Parrot, Lin et
//!   al., 2024).

use agentos_core::{ChatRequest, Message, Sampling};
use agentos_local::{Engine, EngineOptions};
use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

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
    /// Calls of the prefix-cache ratio, each its shared prefix and a question of its own.
    #[arg(long, default_value_t = 20)]
    prefix_calls: usize,
    /// Tokens of the prefix they share.
    #[arg(long, default_value_t = 1500)]
    prefix_tokens: usize,
    /// Folder with llama.cpp's `llama-bench` and `llama-batched-bench` (default: built on first use
    /// by bench/peers/llama_cpp.sh).
    #[arg(long)]
    llama_cpp: Option<PathBuf>,
    /// Skip the comparison with llama.cpp's own tools.
    #[arg(long)]
    no_peer: bool,
}

/// Prompt tokens of the prompt-speed measurement (llama-bench's default `pp512`).
const PROMPT_TOKENS: usize = 512;
/// Repetitions of each speed measurement whose mean is reported (llama-bench's default).
const REPETITIONS: usize = 3;

/// Runs the benchmark and prints its ratios.
pub fn local(args: LocalArgs) -> Result<i32> {
    if args.agents == 0 || args.tokens < 2 || args.prefix_calls == 0 || args.prefix_tokens < 16 {
        bail!("--agents and --prefix-calls must be at least 1, --tokens at least 2 and --prefix-tokens at least 16");
    }
    let path = if args.model.ends_with(".gguf") {
        PathBuf::from(&args.model)
    } else {
        crate::models::ensure_installed(&format!("local:{}", args.model))?;
        agentos_models::installed(&args.model).with_context(|| format!("no local model `{}`; `agentos models` lists them", args.model))?
    };
    let weights = std::fs::metadata(&path).with_context(|| format!("cannot read {}", path.display()))?.len();
    // Built before anything is timed: the build takes the cores.
    let peer = if args.no_peer { None } else { Some(llama_cpp_tools(args.llama_cpp.as_deref())?) };
    let options = EngineOptions { threads: args.threads, parallel: args.agents, ..Default::default() };
    let engine = Engine::load(&path, options)?;
    let threads = engine.threads();
    println!("model {} ({:.0} MiB of weights), {threads} threads", path.display(), weights as f64 / (1 << 20) as f64);

    let bandwidth = copy_bandwidth(threads);
    let request = |i: usize| ChatRequest {
        messages: vec![Message::user(format!("Count from {} upwards, one number per line, and never stop.", i * 1000))],
        sampling: greedy(args.tokens),
        ..Default::default()
    };
    engine.generate(&request(0), |_| {})?; // warm-up: page the weights in
                                           // The mean of three, as llama-bench reports.
    let mut decode = 0.0;
    for i in 1..=REPETITIONS {
        let alone = engine.generate(&request(i), |_| {})?;
        decode += alone.completion_tokens.saturating_sub(1) as f64 / alone.decode_time.as_secs_f64() / REPETITIONS as f64;
    }
    let roofline = bandwidth / weights as f64;
    println!(
        "decode alone: {decode:.1} tok/s; roofline {roofline:.1} tok/s ({:.1} GB/s copy bandwidth ÷ {:.2} GB of weights per token): {:.0} % of the roofline",
        bandwidth / 1e9,
        weights as f64 / 1e9,
        100.0 * decode / roofline
    );
    let plain = Engine::load(&path, EngineOptions { threads: Some(threads), parallel: 1, prefix_cache: false, ..Default::default() })?;
    let long = with_prefix(&plain, PROMPT_TOKENS, "Say yes.", 1)?;
    let mut prompt = 0.0;
    let mut prompt_tokens = 0;
    for _ in 0..REPETITIONS {
        let g = plain.generate(&long, |_| {})?;
        prompt_tokens = g.prompt_tokens;
        prompt += g.prompt_tokens as f64 / g.prompt_time.as_secs_f64() / REPETITIONS as f64;
    }
    println!("prompt: {prompt_tokens} tokens at {prompt:.1} tok/s");
    if let Some(tools) = &peer {
        let (their_prompt, their_decode) = llama_bench(tools, &path, threads, prompt_tokens, args.tokens)?;
        println!(
            "against llama.cpp's llama-bench (pp{} {their_prompt:.1} tok/s, tg{} {their_decode:.1} tok/s): prompt {:.2}×, decode {:.2}×",
            prompt_tokens,
            args.tokens,
            prompt / their_prompt,
            decode / their_decode
        );
    }

    let batched = batched_ratio(&engine, args.agents, &request)?;
    print!(
        "{} agents: batched {:.1} tok/s against one at a time {:.1} tok/s: {:.2}×",
        args.agents,
        batched.0,
        batched.1,
        batched.0 / batched.1
    );
    match &peer {
        Some(tools) => println!(
            "; llama.cpp's llama-batched-bench on the same model: {:.2}×",
            llama_batched_bench(tools, &path, threads, args.agents, args.tokens)?
        ),
        None => println!(),
    }

    let (with, without) = prefix_cache_ratio(&path, threads, &args)?;
    println!(
        "{} calls sharing a {}-token prefix: {:.1} s with the prefix cache, {:.1} s without: {:.2}× faster",
        args.prefix_calls,
        args.prefix_tokens,
        with.as_secs_f64(),
        without.as_secs_f64(),
        without.as_secs_f64() / with.as_secs_f64()
    );
    Ok(0)
}

fn greedy(max_tokens: u32) -> Sampling {
    Sampling { temperature: Some(0.0), max_tokens: Some(max_tokens), ..Default::default() }
}

/// A request whose system prompt makes the rendered prompt about `tokens` tokens before the
/// user's `question`.
fn with_prefix(engine: &Engine, tokens: usize, question: &str, max_tokens: u32) -> Result<ChatRequest> {
    let mut system = String::from("You are a careful assistant. Keep to these notes.\n");
    let mut request = ChatRequest { sampling: greedy(max_tokens), ..Default::default() };
    for line in 1.. {
        request.messages = vec![Message::system(system.clone())];
        if engine.tokenize(&engine.render_prompt(&request)?).len() >= tokens {
            break;
        }
        system.push_str(&format!("Note {line}: the value of item {line} is {} units.\n", line * 7 % 100));
    }
    request.messages.push(Message::user(question));
    Ok(request)
}

/// Aggregate tokens/s of `agents` requests decoded together, and of the same requests one at a
/// time.
fn batched_ratio(engine: &Engine, agents: usize, request: &(dyn Fn(usize) -> ChatRequest + Sync)) -> Result<(f64, f64)> {
    let serial_started = Instant::now();
    let mut serial_tokens = 0;
    for i in 0..agents {
        serial_tokens += engine.generate(&request(i), |_| {})?.completion_tokens;
    }
    let serial = serial_tokens as f64 / serial_started.elapsed().as_secs_f64();
    let batched_started = Instant::now();
    let batched_tokens: usize = std::thread::scope(|s| {
        let runs: Vec<_> = (0..agents).map(|i| s.spawn(move || engine.generate(&request(i), |_| {}))).collect();
        runs.into_iter().map(|r| r.join().expect("a generation thread panicked").map(|g| g.completion_tokens)).sum::<Result<usize, _>>()
    })?;
    Ok((batched_tokens as f64 / batched_started.elapsed().as_secs_f64(), serial))
}

/// The wall time of `--prefix-calls` calls, one after another, that share a `--prefix-tokens`
/// prefix and ask questions of their own: with the prefix cache, and without.
fn prefix_cache_ratio(path: &Path, threads: usize, args: &LocalArgs) -> Result<(Duration, Duration)> {
    let mut requests = Vec::new();
    let mut times = Vec::new();
    for prefix_cache in [true, false] {
        let engine = Engine::load(path, EngineOptions { threads: Some(threads), parallel: 1, prefix_cache, ..Default::default() })?;
        if requests.is_empty() {
            // The shared prefix is sized once; each call swaps in its own question.
            let shared = with_prefix(&engine, args.prefix_tokens, "", 8)?;
            requests = (1..=args.prefix_calls)
                .map(|item| {
                    let mut request = shared.clone();
                    request.messages.pop();
                    request.messages.push(Message::user(format!("What is the value of item {item}? Answer with the number only.")));
                    request
                })
                .collect();
        }
        let started = Instant::now();
        for (i, request) in requests.iter().enumerate() {
            engine.generate(request, |_| {})?;
            eprint!("\rprefix cache {}: call {}/{}", if prefix_cache { "on" } else { "off" }, i + 1, args.prefix_calls);
        }
        eprintln!();
        times.push(started.elapsed());
    }
    Ok((times[0], times[1]))
}

/// The folder holding llama.cpp's `llama-bench` and `llama-batched-bench`: `given`, or the one
/// bench/peers/llama_cpp.sh builds (once) against the engine's llama.cpp source.
fn llama_cpp_tools(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = given {
        return Ok(dir.to_path_buf());
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/peers/llama_cpp.sh");
    let output = Command::new(&script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("run {} (or pass --llama-cpp DIR, or --no-peer)", script.display()))?;
    if !output.status.success() {
        bail!("{} failed (see above); pass --llama-cpp DIR with llama-bench built, or --no-peer", script.display());
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
}

/// Runs one of llama.cpp's tools and returns its standard output.
fn run_tool(tools: &Path, name: &str, args: &[String]) -> Result<String> {
    let tool = tools.join(name);
    let output = Command::new(&tool).args(args).output().with_context(|| format!("run {}", tool.display()))?;
    if !output.status.success() {
        bail!("{} {} failed: {}", tool.display(), args.join(" "), String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// llama-bench's prompt and decode tokens/s (mean of 3 repetitions).
fn llama_bench(tools: &Path, model: &Path, threads: usize, prompt: usize, generate: u32) -> Result<(f64, f64)> {
    let args = [
        "-m".into(),
        model.display().to_string(),
        "-t".into(),
        threads.to_string(),
        "-p".into(),
        prompt.to_string(),
        "-n".into(),
        generate.to_string(),
        "-r".into(),
        REPETITIONS.to_string(),
        "-o".into(),
        "json".into(),
    ];
    let out = run_tool(tools, "llama-bench", &args)?;
    let tests: Vec<Value> = serde_json::from_str(&out).with_context(|| format!("llama-bench printed no JSON: {out}"))?;
    let speed = |prompt_test: bool| {
        tests.iter().find(|t| (t["n_prompt"].as_u64().unwrap_or(0) > 0) == prompt_test).and_then(|t| t["avg_ts"].as_f64())
    };
    match (speed(true), speed(false)) {
        (Some(p), Some(d)) => Ok((p, d)),
        _ => bail!("llama-bench's JSON lacks a prompt or a decode result: {out}"),
    }
}

/// llama-batched-bench's decode throughput of `agents` sequences over that of one.
fn llama_batched_bench(tools: &Path, model: &Path, threads: usize, agents: usize, generate: u32) -> Result<f64> {
    let args = [
        "-m".into(),
        model.display().to_string(),
        "-t".into(),
        threads.to_string(),
        "-c".into(),
        (agents * (64 + generate as usize)).max(512).to_string(),
        "-npp".into(),
        "32".into(),
        "-ntg".into(),
        generate.to_string(),
        "-npl".into(),
        format!("1,{agents}"),
        "--output-format".into(),
        "jsonl".into(),
    ];
    let out = run_tool(tools, "llama-batched-bench", &args)?;
    let speed = |pl: usize| {
        out.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["pl"].as_u64() == Some(pl as u64))
            .and_then(|v| v["speed_tg"].as_f64())
    };
    match (speed(agents), speed(1)) {
        (Some(many), Some(one)) => Ok(many / one),
        _ => bail!("llama-batched-bench printed no results for 1 and {agents} sequences: {out}"),
    }
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
