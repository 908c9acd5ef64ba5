//! Measures prompt and decode speed of a GGUF model on this machine, alone and with concurrent
//! requests batched together.
//!
//! `cargo run --release -p agentos-local --example speed -- [model.gguf] [concurrent]`
//! (the model defaults to `$AGENTOS_TEST_MODEL`, concurrent to 4).

use agentos_core::{ChatRequest, Message, Sampling};
use agentos_local::{Engine, EngineOptions};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().or_else(|| std::env::var("AGENTOS_TEST_MODEL").ok()).expect("pass a model path or set AGENTOS_TEST_MODEL");
    let concurrent: usize = args.next().map(|n| n.parse().expect("concurrent is a number")).unwrap_or(4);
    let started = Instant::now();
    let engine = Engine::load(&path, EngineOptions { parallel: concurrent.max(1), ..Default::default() }).expect("the model loads");
    println!("loaded {path} in {:.2?} ({} threads, context {} per request)", started.elapsed(), engine.threads(), engine.context_len());

    let long = "Rust's ownership model guarantees memory safety without a garbage collector. ".repeat(40);
    let request = |question: &str| ChatRequest {
        messages: vec![Message::system("You are a concise assistant."), Message::user(format!("{long}\n\n{question}"))],
        sampling: Sampling { temperature: Some(0.0), max_tokens: Some(96), ..Default::default() },
        ..Default::default()
    };
    // Warm-up, then one request alone.
    engine.generate(&request("Say hi."), |_| {}).expect("warm-up");
    let g = engine.generate(&request("Now list the numbers from 1 to 60, one per line."), |_| {}).expect("generation");
    println!(
        "alone: prompt {} tokens in {:.2?} = {:.1} tok/s; decode {} tokens in {:.2?} = {:.1} tok/s",
        g.prompt_tokens,
        g.prompt_time,
        g.prompt_tokens as f64 / g.prompt_time.as_secs_f64(),
        g.completion_tokens,
        g.decode_time,
        (g.completion_tokens.saturating_sub(1)) as f64 / g.decode_time.as_secs_f64()
    );

    // Short prompts and long answers, so decoding dominates: aggregate throughput with
    // `concurrent` sequences decoded in the same batches.
    let short = |i: usize| ChatRequest {
        messages: vec![Message::user(format!("List the numbers from {} to {}, one per line.", i * 100, i * 100 + 60))],
        sampling: Sampling { temperature: Some(0.0), max_tokens: Some(96), ..Default::default() },
        ..Default::default()
    };
    for n in [1, concurrent] {
        let t = Instant::now();
        let tokens: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    s.spawn({
                        let engine = &engine;
                        move || engine.generate(&short(i), |_| {}).expect("generation")
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap().completion_tokens).sum()
        });
        let secs = t.elapsed().as_secs_f64();
        println!("{n} concurrent: {tokens} tokens generated in {secs:.2}s = {:.1} tok/s overall", tokens as f64 / secs);
    }
}
