//! How runs look to a person: each step printed live as it happens, and whole trajectories.
//! With `--json`, every event is one JSON line instead.

use agentos_core::{
    ChatRequest, ChatResponse, Event, MemoryResult, Message, MessageOp, ModelEvent, Role, RunEvent, Step, StepKind, Trajectory,
};
use std::io::Write;
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// How much of a model's text is shown before it is cut.
const MODEL_TEXT: usize = 2000;
/// How much of a tool result, a message sent to the model or an event is shown.
const RESULT_TEXT: usize = 400;
/// How much of a tool call's arguments is shown.
const ARGUMENTS_TEXT: usize = 200;
/// How much of a task the header of a run shows.
pub const TASK_TEXT: usize = 300;

/// `n` and `noun`, with the plural `s` when `n` is not one: `1 model call`, `3 model calls`.
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `text` cut to its first `max` characters with a note of how much was left out; newlines kept.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => {
            let left_out = text[at..].chars().count() as u64;
            format!("{}… [{}]", &text[..at], plural(left_out, "more character"))
        }
        None => text.to_string(),
    }
}

/// `text` on one line (`⏎` for each line break), cut to `max` characters with a note.
pub fn cut(text: &str, max: usize) -> String {
    clip(&text.replace('\n', " ⏎ "), max)
}

/// `text` cut to at most `width` characters, ending in `…` when cut: a table cell.
pub fn fit(text: &str, width: usize) -> String {
    let one_line = text.replace('\n', " ");
    if one_line.chars().count() <= width {
        return one_line;
    }
    let kept: String = one_line.chars().take(width.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// A duration for people: `35 ms`, `4.2 s`, `3 min 5 s`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
    }
}

/// A stored time (RFC 3339) in this machine's time zone, to the second, with the zone's offset:
/// `2026-12-02 07:01:13 +01:00`. A time that does not parse is shown as stored.
pub fn local_time(stored: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(stored) {
        Ok(time) => time.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S %:z").to_string(),
        Err(_) => stored.to_string(),
    }
}

/// The lines of the steps of one run, in order. It remembers the model text last shown, so that a
/// code step running a block of that text shows its output without printing the code again.
#[derive(Default)]
struct Transcript {
    /// The text of the last model step, as shown.
    model_text: String,
}

impl Transcript {
    /// One step as the lines a person reads; `mark` follows the step's kind (` (replayed)`, or its
    /// duration).
    fn step(&mut self, step: &Step, mark: &str) -> String {
        let seq = step.seq;
        match &step.kind {
            StepKind::Model { response, .. } => {
                let text = clip(response.message.content().trim(), MODEL_TEXT);
                let mut out = if text.contains('\n') {
                    format!("[{seq}] model{mark}:\n{}", indented(&text))
                } else {
                    format!("[{seq}] model{mark}: {text}")
                };
                out.push_str(&tool_call_lines(response));
                self.model_text = text;
                out
            }
            StepKind::Tool { call, result } => {
                let verdict = if result.is_error { "error: " } else { "" };
                format!(
                    "[{seq}] tool{mark} {}({}) = {verdict}{}",
                    call.name,
                    cut(&call.arguments.to_string(), ARGUMENTS_TEXT),
                    cut(&result.content, RESULT_TEXT)
                )
            }
            StepKind::AskUser { question, answer } => format!("[{seq}] asked{mark}: {question}\n      answer: {answer}"),
            StepKind::Code { code, output } => {
                let shown = !code.trim().is_empty() && self.model_text.contains(code.trim());
                let mut out = if shown {
                    format!("[{seq}] code{mark}: the block above\n      output:\n{}", indented(&output.observation))
                } else {
                    format!("[{seq}] code{mark}:\n{}\n      output:\n{}", indented(code), indented(&output.observation))
                };
                if !output.functions.is_empty() {
                    let names: Vec<&str> = output.functions.iter().map(|f| f.signature.as_str()).collect();
                    out.push_str(&format!("\n      defined: {}", names.join(", ")));
                }
                out
            }
            StepKind::Library { functions, .. } if functions.is_empty() => {
                format!("[{seq}] library{mark}: no function relevant to the task")
            }
            StepKind::Library { functions, .. } => {
                let names: Vec<&str> = functions.iter().map(|f| f.signature.as_str()).collect();
                format!("[{seq}] library{mark}: offered {}", names.join(", "))
            }
            StepKind::Memory { op, result } => {
                let got = match result {
                    MemoryResult::Item { item } => format!("kept as {} ({})", item.id, item.trust),
                    MemoryResult::Recalled { items } => format!("\n{}", indented(&agentos_kernel::render_recalled(items))),
                    MemoryResult::Forgotten { existed: true } => "forgotten".into(),
                    MemoryResult::Forgotten { existed: false } => "there was no such item".into(),
                    MemoryResult::Blocks { blocks } if blocks.is_empty() => "no blocks".into(),
                    MemoryResult::Blocks { blocks } => {
                        blocks.iter().map(|b| format!("{} ({})", b.label, b.trust)).collect::<Vec<_>>().join(", ")
                    }
                };
                format!("[{seq}] memory{mark}: {} = {got}", cut(&op.to_string(), ARGUMENTS_TEXT))
            }
            StepKind::Message { op: MessageOp::Post { round, text, .. }, .. } => {
                format!("[{seq}] round {round} post{mark}: {}", cut(text, RESULT_TEXT))
            }
            StepKind::Message { op: MessageOp::Read { round }, posts } => {
                let lines: Vec<String> = posts.iter().map(|p| format!("      {}: {}", p.sender, cut(&p.text, RESULT_TEXT))).collect();
                format!("[{seq}] round {round} read{mark}: {}\n{}", plural(posts.len() as u64, "message"), lines.join("\n"))
            }
        }
    }
}

/// The tool calls a model answered with, a line each (empty when it made none).
fn tool_call_lines(response: &ChatResponse) -> String {
    let lines = response
        .message
        .tool_calls
        .iter()
        .map(|call| format!("\n      → {}({})", call.name, cut(&call.arguments.to_string(), ARGUMENTS_TEXT)));
    lines.collect()
}

/// `text` with every line indented under a step's heading (`|` marks where a line starts).
fn indented(text: &str) -> String {
    let lines: Vec<String> = text.trim_end_matches('\n').lines().map(|line| format!("      | {line}")).collect();
    if lines.is_empty() {
        return "      |".into();
    }
    lines.join("\n")
}

/// Prints the events of a run as they happen.
pub struct Printer {
    json: bool,
    live: Mutex<Live>,
    /// Fires when standard output is closed (its reader went away).
    closed: CancellationToken,
}

#[derive(Default)]
struct Live {
    /// The journal position of the model call whose text is streaming now.
    streaming: Option<u64>,
    /// The text streamed so far for it.
    streamed: String,
    transcript: Transcript,
}

impl Printer {
    /// A printer for people, or for programs with `json`.
    pub fn new(json: bool) -> Self {
        Printer { json, live: Mutex::new(Live::default()), closed: CancellationToken::new() }
    }

    /// Fires once standard output is closed: whoever reads the run went away.
    pub fn closed(&self) -> CancellationToken {
        self.closed.clone()
    }

    /// Prints one line of text.
    pub fn line(&self, text: &str) {
        self.print(|out| writeln!(out, "{text}"));
    }

    /// Writes to standard output and flushes; a closed output fires [`Printer::closed`] instead
    /// of failing (or killing) the run.
    fn print(&self, write: impl FnOnce(&mut std::io::StdoutLock<'static>) -> std::io::Result<()>) {
        let mut out = std::io::stdout().lock();
        if let Err(e) = write(&mut out).and_then(|()| out.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                self.closed.cancel();
            }
        }
    }

    /// Prints one event.
    pub fn event(&self, event: &Event) {
        if self.json {
            return self.print(|out| writeln!(out, "{}", serde_json::to_string(event).expect("events serialize")));
        }
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        self.print(|out| match event {
            Event::Model { seq, delta: ModelEvent::TextDelta { text }, .. } => {
                if live.streaming != Some(*seq) {
                    live.streaming = Some(*seq);
                    live.streamed.clear();
                    write!(out, "[{seq}] model: ")?;
                }
                live.streamed.push_str(text);
                write!(out, "{text}")
            }
            Event::Model { delta: ModelEvent::Retry { attempt, wait_ms, reason }, .. } => {
                eprintln!("      (attempt {attempt} in {wait_ms} ms: {reason})");
                Ok(())
            }
            Event::Model { .. } | Event::Finished { .. } => Ok(()),
            Event::Step { step, replayed, .. } => {
                let streamed = live.streaming.take() == Some(step.seq);
                let text = match &step.kind {
                    // The text of a streamed model call is already on screen: finish its line and
                    // show only the tool calls.
                    StepKind::Model { response, .. } if streamed => {
                        live.transcript.model_text = std::mem::take(&mut live.streamed);
                        tool_call_lines(response)
                    }
                    _ => live.transcript.step(step, if *replayed { " (replayed)" } else { "" }),
                };
                writeln!(out, "{text}")
            }
            Event::Denied { reason, .. } => writeln!(out, "      denied: {reason}"),
        });
    }
}

/// A whole trajectory for a person: each model step with the messages its request added since the
/// previous one, every step with its duration, and the run's events (suspended, resumed, failed,
/// refusals) where they happened, with their times.
pub fn trajectory(t: &Trajectory) -> String {
    let mut out =
        format!("run {}  [{}]\ntask: {}\nstrategy: {}  model: {}\n", t.run, t.status, cut(&t.task, TASK_TEXT), t.strategy, t.model);
    if !t.created_at.is_empty() {
        out.push_str(&format!("started: {}\n", local_time(&t.created_at)));
    }
    out.push('\n');
    let mut transcript = Transcript::default();
    let mut events = t.events.iter().peekable();
    let mut previous: Option<(&ChatRequest, &Message)> = None;
    for step in &t.steps {
        while let Some(event) = events.next_if(|e| e.after_steps <= step.seq) {
            out.push_str(&event_line(event));
        }
        if let StepKind::Model { request, response } = &step.kind {
            out.push_str(&sent_lines(request, previous));
            previous = Some((request, &response.message));
        }
        out.push_str(&transcript.step(step, &format!(" ({})", duration(step.duration_ms))));
        out.push('\n');
    }
    for event in events {
        out.push_str(&event_line(event));
    }
    if let Some(answer) = &t.answer {
        out.push_str(&format!("\nanswer: {answer}\n"));
    }
    let u = t.usage;
    out.push_str(&format!(
        "usage: {}, {} in, {} out, ${:.4}\n",
        plural(u.model_calls, "model call"),
        plural(u.input_tokens, "token"),
        plural(u.output_tokens, "token"),
        u.cost_usd
    ));
    out
}

/// The messages `request` sent that the previous request (and the answer to it, already shown)
/// did not, a line each: what the model was shown before this step.
fn sent_lines(request: &ChatRequest, previous: Option<(&ChatRequest, &Message)>) -> String {
    let shared = previous.map_or(0, |(before, _)| before.messages.iter().zip(&request.messages).take_while(|(a, b)| a == b).count());
    let answered = previous.map(|(_, answer)| answer);
    let mut out = String::new();
    for message in &request.messages[shared..] {
        if answered.is_some_and(|answer| answer.content() == message.content() && answer.tool_calls == message.tool_calls) {
            continue;
        }
        let who = match (message.role, &message.tool_call_id) {
            (Role::Tool, Some(id)) => format!("tool result ({id})"),
            (Role::System, _) => "system".into(),
            (Role::User, _) => "user".into(),
            (Role::Assistant, _) => "assistant".into(),
            (Role::Tool, None) => "tool result".into(),
        };
        out.push_str(&format!("      > {who}: {}\n", cut(message.content().trim(), RESULT_TEXT)));
    }
    out
}

/// One event of a run as a line: its time and what happened.
fn event_line(event: &RunEvent) -> String {
    let text = |key: &str| event.payload.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let what = match event.kind.as_str() {
        "status" => {
            let output = text("output");
            match text("status").as_str() {
                "running" => match event.payload.get("changes").and_then(|c| c.as_object()).filter(|c| !c.is_empty()) {
                    // Limits raised on resume: `{"max_steps": [2, 10]}`.
                    Some(changes) => {
                        let changed: Vec<String> = changes.iter().map(|(name, pair)| format!("{name} {} → {}", pair[0], pair[1])).collect();
                        format!("resumed with {}", changed.join(", "))
                    }
                    None => "resumed".to_string(),
                },
                status if output.is_empty() => status.to_string(),
                status => format!("{status}: {}", cut(&output, RESULT_TEXT)),
            }
        }
        "denied" => format!("denied: {}", cut(&text("reason"), RESULT_TEXT)),
        "team_stopped" => format!("team stopped ({}) in round {}", text("reason"), event.payload["round"]),
        "member_dropped" => format!("member {} left after round {}: it {}", text("member"), event.payload["round"], text("reason")),
        kind => format!("{kind}: {}", cut(&event.payload.to_string(), RESULT_TEXT)),
    };
    format!("-- {}  {what}\n", local_time(&event.at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_cuts_and_durations_read_right() {
        assert_eq!(
            (plural(1u64, "model call"), plural(0u64, "step"), plural(2u64, "episode")),
            ("1 model call".into(), "0 steps".into(), "2 episodes".into())
        );
        assert_eq!(cut("ab\ncd", 3), "ab … [4 more characters]");
        assert_eq!(clip("abcd", 3), "abc… [1 more character]");
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
        assert_eq!((duration(35), duration(4_200), duration(185_000)), ("35 ms".into(), "4.2 s".into(), "3 min 5 s".into()));
    }
}
