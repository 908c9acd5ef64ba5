//! `agentos bench memory`: answering questions about earlier sessions with memory (each turn
//! remembered, the question's closest turns recalled into the prompt) against the whole history
//! in the prompt, on the multi-session tasks of `agentos_gym::sessions`: answer accuracy,
//! recall@k (the share of a question's evidence turns among those recalled), prompt tokens and
//! latency per question, side by side in one run. Every remember, recall and model call is a
//! syscall of a kernel run, journaled like any other.

use crate::config::Config;
use crate::validate::{self, Origins};
use crate::{kernel_builder, model_uri, models};
use agentos_core::{ChatRequest, Message, Sampling};
use agentos_gym::sessions::{conversations, Question};
use agentos_kernel::{Agent, Ending, Kernel, RunSpec};
use anyhow::{bail, Result};
use clap::Args;
use std::path::Path;
use std::time::Instant;

/// `agentos bench memory` arguments.
#[derive(Args)]
pub struct MemoryArgs {
    /// The model URI (default: as for `agentos run`).
    #[arg(long, env = "AGENTOS_MODEL")]
    model: Option<String>,
    /// How many conversations.
    #[arg(long, default_value_t = 2, value_parser = validate::at_least_one::<usize>)]
    conversations: usize,
    /// Problems (so questions) per conversation.
    #[arg(long, default_value_t = 5, value_parser = validate::at_least_one::<usize>)]
    problems: usize,
    /// Sessions per conversation.
    #[arg(long, default_value_t = 4, value_parser = validate::at_least_one::<usize>)]
    sessions: usize,
    /// Turns recalled per question.
    #[arg(short, long, default_value_t = 8, value_parser = validate::at_least_one::<usize>)]
    k: usize,
    /// The first GSM8K row used (rows before it are skipped).
    #[arg(long, default_value_t = 0)]
    offset: usize,
    /// The benchmark data folder (default: `$AGENTOS_DATA`, else ../shared/data).
    #[arg(long)]
    data: Option<std::path::PathBuf>,
}

const PROMPT: &str = "You answer the person's question from what they told you in earlier conversations, \
listed below. Use only what they told you. Work it out step by step, then end with one line `Answer: <number>`.";

/// What one condition measured.
#[derive(Default)]
struct Tally {
    questions: usize,
    right: usize,
    evidence: usize,
    recalled: usize,
    prompt_tokens: u64,
    millis: u128,
}

impl Tally {
    fn row(&self, name: &str, k: Option<usize>) -> String {
        let n = self.questions.max(1) as f64;
        let recall = match k {
            Some(k) => format!("{:.0} % (k = {k})", 100.0 * self.recalled as f64 / self.evidence.max(1) as f64),
            None => "all turns".to_string(),
        };
        format!(
            "| {name} | {}/{} ({:.0} %) | {recall} | {:.0} | {:.1} s |",
            self.right,
            self.questions,
            100.0 * self.right as f64 / n,
            self.prompt_tokens as f64 / n,
            self.millis as f64 / n / 1000.0
        )
    }
}

/// Runs the benchmark and prints its table.
pub async fn memory(config: &Config, db: &Path, origins: &Origins, args: MemoryArgs) -> Result<i32> {
    let data = match args.data {
        Some(dir) => dir,
        None => agentos_gym::data_dir()?,
    };
    let problems = agentos_gym::gsm8k::load(&data)?.tasks().iter().skip(args.offset).cloned().collect::<Vec<_>>();
    let chosen = conversations(&problems, args.problems, args.sessions, args.conversations);
    if chosen.len() < args.conversations {
        bail!("the GSM8K file from row {} holds only {} such conversations; lower --conversations or --offset", args.offset, chosen.len());
    }
    let model = model_uri(config, origins, args.model)?;
    let kernel = kernel_builder(config, db)?.encoder(models::load_encoder()?).build()?;
    models::load(&model, || kernel.model(&model))?;
    let (mut memory, mut full) = (Tally::default(), Tally::default());
    for (c, conversation) in chosen.iter().enumerate() {
        let scope = format!("person:bench-memory-{}-{c}", agentos_core::RunId::new());
        let ingest = start(&kernel, &model, "ingest the sessions", &scope).await?;
        // Which turn each remembered item is, by its id.
        let mut turn_of = std::collections::HashMap::new();
        for (index, turn) in conversation.turns.iter().enumerate() {
            let item = ingest.remember(&scope, &format!("[session {}] {}", turn.session, turn.text), "person").await?;
            turn_of.insert(item.id, index);
        }
        kernel.finish(&ingest, Ending::Finished(format!("{} turns", conversation.turns.len()))).await?;
        for question in &conversation.questions {
            let agent = start(&kernel, &model, &question.text, &scope).await?;
            let started = Instant::now();
            let found = agent.recall(&[&scope], &question.text, args.k, false).await?;
            let ids: Vec<usize> = found.iter().filter_map(|r| turn_of.get(&r.item.id).copied()).collect();
            let mut told: Vec<usize> = ids.clone();
            told.sort_unstable();
            let told: Vec<&str> = told.iter().map(|&i| conversation.turns[i].text.as_str()).collect();
            answer(&kernel, &agent, question, &told, started, &mut memory).await?;
            memory.evidence += question.evidence.len();
            memory.recalled += question.evidence.iter().filter(|e| ids.contains(e)).count();

            let agent = start(&kernel, &model, &question.text, &scope).await?;
            let everything: Vec<&str> = conversation.turns.iter().map(|t| t.text.as_str()).collect();
            answer(&kernel, &agent, question, &everything, Instant::now(), &mut full).await?;
            eprintln!("conversation {}: {}/{} questions", c + 1, memory.questions - c * args.problems, args.problems);
        }
    }
    println!("Memory against the whole history, {} questions over {} conversations of {} sessions ({} problems each, GSM8K rows from {}), model {model}\n", memory.questions, chosen.len(), args.sessions, args.problems, args.offset);
    println!("| context | right | recall@k | prompt tokens / question | latency / question |\n| --- | --- | --- | --- | --- |");
    println!("{}", memory.row("memory (recalled turns)", Some(args.k)));
    println!("{}", full.row("whole history", None));
    Ok(0)
}

/// A run for one question (or the ingest), granted the conversation's scope.
async fn start(kernel: &Kernel, model: &str, task: &str, scope: &str) -> Result<Agent> {
    let spec = RunSpec {
        max_steps: 1,
        temperature: Some(0.0),
        memory_scopes: vec![scope.to_string()],
        ..RunSpec::new(task, "bench-memory", model)
    };
    Ok(kernel.start(spec).await?)
}

/// Asks `question` with `told` as what the person said, checks the answer and counts it.
async fn answer(kernel: &Kernel, agent: &Agent, question: &Question, told: &[&str], started: Instant, tally: &mut Tally) -> Result<()> {
    let listing: Vec<String> = told.iter().map(|t| format!("- {t}")).collect();
    let request = ChatRequest {
        messages: vec![
            Message::system(PROMPT),
            Message::user(format!("What the person told you:\n{}\n\nQuestion: {}", listing.join("\n"), question.text)),
        ],
        sampling: Sampling { temperature: Some(0.0), max_tokens: Some(400), ..Default::default() },
        ..Default::default()
    };
    let response = agent.model(request).await?;
    tally.millis += started.elapsed().as_millis();
    tally.prompt_tokens += response.usage.input_tokens;
    tally.questions += 1;
    let reply = response.message.content();
    if question.check(&reply).reward == 1.0 {
        tally.right += 1;
    }
    kernel.finish(agent, Ending::Finished(reply)).await?;
    Ok(())
}
