//! `agentos export`: the trajectories of a gym benchmark as training data, one JSON object a line.
//!
//! Every episode is one kernel run, and every model call of a run is journaled with its whole
//! request, so the conversation an episode's answer came from is its LAST model call: that
//! call's request messages followed by its response. For ReAct that is the whole trajectory
//! (every thought, tool call and observation); for strategies that make several calls (sc,
//! aiot, giot, toolchain) it is only the last of them (the last sample, the final answering
//! call), not the search or the vote around it.
//!
//! - `sharegpt`: each successful episode ([`agentos_gym::succeeded`]) as a conversation in the
//!   ShareGPT layout used by AgentInstruct (Zeng et al., 2023, "AgentTuning: Enabling
//!   Generalized Agent Abilities for LLMs"), with the function-call roles of LLaMA-Factory:
//!   `system`, `human`, `gpt`, `function_call` (one turn per tool call, its value the JSON
//!   `{"name", "arguments"}`, after a `gpt` turn with the message's text if it has any) and
//!   `observation` (a tool result). `tools` is the JSON text of the offered tools' specs.
//! - `dpo`: for each task with both a successful and a failed episode (across strategies),
//!   preference pairs in TRL's conversational format: `prompt` is the successful conversation up
//!   to and including its first user message (the task), `chosen` the rest of it, `rejected` the
//!   failed conversation after its first user message. Every (success, failure) combination of a
//!   task is one pair. Messages have `role` and `content`; tool calls and tool results keep the
//!   OpenAI Chat Completions shape (`tool_calls` with JSON-text `arguments`, `tool_call_id`).

use crate::render::plural;
use agentos_core::{Message, Role, StepKind, ToolSpec};
use agentos_gym::{succeeded, BenchmarkSpec};
use agentos_kernel::{EpisodeRecord, Storage};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The examples and notes under `agentos export --help`.
pub const HELP: &str = "Examples:
  agentos export --benchmark game24-1a2b3c4d5e --format sharegpt --out train.jsonl
  agentos export --benchmark game24-1a2b3c4d5e --format dpo > pairs.jsonl

An episode's conversation is its last model call (request and response): the whole trajectory for
react, the last call for strategies that make several (sc, aiot, giot, toolchain). sharegpt writes
one line per successful episode; dpo one line per (successful, failed) pair of episodes of a task.";

/// What the trajectories become.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Successful episodes as ShareGPT conversations (AgentInstruct style).
    Sharegpt,
    /// Preference pairs (TRL conversational format) for tasks with a success and a failure.
    Dpo,
}

/// The arguments of `agentos export`.
#[derive(Args)]
pub struct ExportArgs {
    /// The benchmark's id, as `agentos bench gym` prints it.
    #[arg(long, visible_alias = "run", value_name = "ID")]
    benchmark: String,
    /// The training-data format.
    #[arg(long, value_enum)]
    format: Format,
    /// The JSONL file to write (default: standard output, with the count on standard error).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// One ended episode with the conversation of its last model call.
struct Episode {
    record: EpisodeRecord,
    /// The last model call's request messages followed by its response.
    messages: Vec<Message>,
    /// The tools that call offered.
    tools: Vec<ToolSpec>,
}

/// Writes the benchmark's trajectories in the chosen format.
pub fn export(db: &Path, args: ExportArgs) -> Result<i32> {
    let storage = Storage::open(db)?;
    let Some(bench) = storage.benchmark(&args.benchmark)? else {
        let known: Vec<String> = storage.benchmarks()?.into_iter().map(|b| b.id).collect();
        if known.is_empty() {
            bail!("no benchmark `{}` in {}: there are none yet; run one with `agentos bench gym`", args.benchmark, db.display());
        }
        bail!("no benchmark `{}` in {}; the benchmarks are: {}", args.benchmark, db.display(), known.join(", "));
    };
    let spec: BenchmarkSpec = serde_json::from_value(bench.spec.clone())
        .with_context(|| format!("benchmark `{}` has a spec this version cannot read: {}", bench.id, bench.spec))?;
    let records = storage.episodes(&bench)?;
    let mut episodes = Vec::new();
    for record in records.into_iter().filter(EpisodeRecord::ended) {
        let trajectory = agentos_kernel::trajectory(&storage, record.run.as_str())?;
        let last = trajectory.steps.into_iter().rev().find_map(|step| match step.kind {
            StepKind::Model { request, response } => Some((request, response)),
            _ => None,
        });
        // An episode whose run failed before any model call answered has no conversation.
        if let Some((request, response)) = last {
            let mut messages = request.messages;
            messages.push(response.message);
            episodes.push(Episode { record, messages, tools: request.tools });
        }
    }

    let lines = match args.format {
        Format::Sharegpt => sharegpt(&bench.id, &spec.env, &episodes),
        Format::Dpo => dpo(&spec.env, &episodes),
    };
    let (format, n) = (args.format.to_possible_value().expect("no format is skipped").get_name().to_string(), lines.len());
    let what = match args.format {
        Format::Sharegpt => {
            format!("{}: the successful episodes, of {} ended", plural(n as u64, &format!("{format} line")), episodes.len())
        }
        Format::Dpo if n == 0 => format!("0 {format} pairs: no task has both a successful and a failed episode"),
        Format::Dpo => plural(n as u64, &format!("{format} pair")),
    };
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    let to = write_out(args.out.as_deref(), &text)?;
    eprintln!("wrote {what} (benchmark {}) to {to}", bench.id);
    Ok(0)
}

/// Writes `text` to `out` (replaced only once the new file is whole: written beside it, then
/// renamed over it) or to standard output; returns where it went, for a person.
pub(crate) fn write_out(out: Option<&Path>, text: &str) -> Result<String> {
    let Some(path) = out else {
        std::io::stdout().lock().write_all(text.as_bytes()).context("cannot write to standard output")?;
        return Ok("standard output".to_string());
    };
    let fail = || format!("cannot write {}; pick another --out", path.display());
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).with_context(fail)?;
    file.write_all(text.as_bytes()).with_context(fail)?;
    file.persist(path).map_err(|e| e.error).with_context(fail)?;
    Ok(path.display().to_string())
}

/// One ShareGPT line per successful episode.
fn sharegpt(benchmark: &str, env: &str, episodes: &[Episode]) -> Vec<Value> {
    episodes
        .iter()
        .filter(|e| e.record.reward.is_some_and(succeeded))
        .map(|e| {
            let r = &e.record;
            let mut line = json!({
                "id": format!("{benchmark}:{}:{}", r.strategy, r.task),
                "run": r.run,
                "env": env,
                "task": r.task,
                "strategy": r.strategy,
                "conversations": e.messages.iter().flat_map(turns).collect::<Vec<_>>(),
            });
            if !e.tools.is_empty() {
                line["tools"] = json!(serde_json::to_string(&e.tools).expect("tool specs serialize"));
            }
            line
        })
        .collect()
}

/// The ShareGPT turns of one message.
fn turns(m: &Message) -> Vec<Value> {
    let turn = |from: &str, value: String| json!({ "from": from, "value": value });
    match m.role {
        Role::System => vec![turn("system", m.content())],
        Role::User => vec![turn("human", m.content())],
        Role::Tool => vec![turn("observation", m.content())],
        Role::Assistant => {
            let text = m.content();
            let said = (!text.trim().is_empty() || m.tool_calls.is_empty()).then(|| turn("gpt", text));
            let calls = m.tool_calls.iter().map(|c| turn("function_call", json!({ "name": c.name, "arguments": c.arguments }).to_string()));
            said.into_iter().chain(calls).collect()
        }
    }
}

/// Preference pairs: for each task, in the order its episodes were first started, every
/// successful episode against every failed one.
fn dpo(env: &str, episodes: &[Episode]) -> Vec<Value> {
    let mut tasks: Vec<&str> = Vec::new();
    for e in episodes {
        if !tasks.contains(&e.record.task.as_str()) {
            tasks.push(&e.record.task);
        }
    }
    let mut lines = Vec::new();
    for task in tasks {
        let of_task = || episodes.iter().filter(move |e| e.record.task == task);
        let won = |e: &&Episode| e.record.reward.is_some_and(succeeded);
        for chosen in of_task().filter(won) {
            for rejected in of_task().filter(|e| !won(e)) {
                let (Some(prompt), Some(lost)) = (after_task(&chosen.messages), after_task(&rejected.messages)) else { continue };
                lines.push(json!({
                    "prompt": chosen.messages[..prompt].iter().map(openai).collect::<Vec<_>>(),
                    "chosen": chosen.messages[prompt..].iter().map(openai).collect::<Vec<_>>(),
                    "rejected": rejected.messages[lost..].iter().map(openai).collect::<Vec<_>>(),
                    "env": env,
                    "task": task,
                    "chosen_strategy": chosen.record.strategy,
                    "rejected_strategy": rejected.record.strategy,
                    "chosen_run": chosen.record.run,
                    "rejected_run": rejected.record.run,
                }));
            }
        }
    }
    lines
}

/// The index just after the first user message (the task), if there is one.
fn after_task(messages: &[Message]) -> Option<usize> {
    messages.iter().position(|m| m.role == Role::User).map(|i| i + 1)
}

/// A message in the OpenAI Chat Completions shape.
fn openai(m: &Message) -> Value {
    let mut message = json!({ "role": m.role.as_str(), "content": m.content() });
    if !m.tool_calls.is_empty() {
        message["tool_calls"] = agentos_server::tool_calls(&m.tool_calls, false).into();
    }
    if let Some(id) = &m.tool_call_id {
        message["tool_call_id"] = json!(id);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentos_core::ToolCall;

    #[test]
    fn assistant_tool_calls_become_function_call_turns_and_keep_the_openai_shape() {
        let mut reply = Message::assistant("Let me add.");
        reply.tool_calls.push(ToolCall { id: "c1".into(), name: "calculator".into(), arguments: json!({ "expression": "1+2" }) });
        let from: Vec<String> = turns(&reply).iter().map(|t| t["from"].as_str().unwrap().to_string()).collect();
        assert_eq!(from, ["gpt", "function_call"]);
        assert_eq!(turns(&reply)[1]["value"], r#"{"arguments":{"expression":"1+2"},"name":"calculator"}"#);
        let silent = Message { parts: vec![], ..reply.clone() };
        assert_eq!(turns(&silent).len(), 1, "no empty gpt turn before a bare tool call");
        assert_eq!(turns(&Message::assistant(""))[0]["from"], "gpt", "an empty answer is still the model's turn");
        assert_eq!(
            openai(&reply)["tool_calls"][0],
            json!({ "id": "c1", "type": "function", "function": { "name": "calculator", "arguments": "{\"expression\":\"1+2\"}" } })
        );
        assert_eq!(openai(&Message::tool("c1", "3")), json!({ "role": "tool", "content": "3", "tool_call_id": "c1" }));
    }
}
