//! How runs look to a person: each step printed live as it happens, and whole trajectories.
//! With `--json`, every event is one JSON line instead.

use agentos_core::{Event, ModelEvent, Step, StepKind, Trajectory};
use std::io::Write;
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// Prints the events of a run as they happen.
pub struct Printer {
    json: bool,
    /// The journal position of the model call whose text is streaming now.
    streaming: Mutex<Option<u64>>,
    /// Fires when standard output is closed (its reader went away).
    closed: CancellationToken,
}

fn cut(text: &str, max: usize) -> String {
    let one_line = text.replace('\n', " ⏎ ");
    match one_line.char_indices().nth(max) {
        Some((at, _)) => format!("{}… ({} chars)", &one_line[..at], text.chars().count()),
        None => one_line,
    }
}

/// One step as the lines a person reads.
pub fn step_lines(step: &Step, replayed: bool) -> String {
    let mark = if replayed { " (replayed)" } else { "" };
    match &step.kind {
        StepKind::Model { response, .. } => {
            let mut out = format!("[{}] model{mark}: {}", step.seq, cut(response.message.content().trim(), 400));
            for call in &response.message.tool_calls {
                out.push_str(&format!("\n      → {}({})", call.name, cut(&call.arguments.to_string(), 200)));
            }
            out
        }
        StepKind::Tool { call, result } => {
            let verdict = if result.is_error { "error: " } else { "" };
            format!(
                "[{}] tool{mark} {}({}) = {verdict}{}",
                step.seq,
                call.name,
                cut(&call.arguments.to_string(), 200),
                cut(&result.content, 400)
            )
        }
        StepKind::AskUser { question, answer } => format!("[{}] asked{mark}: {question}\n      answer: {answer}", step.seq),
        StepKind::Code { code, output } => {
            let mut out = format!("[{}] code{mark}:\n{}\n      output:\n{}", step.seq, indented(code), indented(&output.observation));
            if !output.functions.is_empty() {
                let names: Vec<&str> = output.functions.iter().map(|f| f.signature.as_str()).collect();
                out.push_str(&format!("\n      defined: {}", names.join(", ")));
            }
            out
        }
        StepKind::Library { functions, .. } if functions.is_empty() => {
            format!("[{}] library{mark}: no function relevant to the task", step.seq)
        }
        StepKind::Library { functions, .. } => {
            let names: Vec<&str> = functions.iter().map(|f| f.signature.as_str()).collect();
            format!("[{}] library{mark}: offered {}", step.seq, names.join(", "))
        }
    }
}

/// `text` with every line indented under a step's heading (`|` marks where a line starts).
fn indented(text: &str) -> String {
    let lines: Vec<String> = text.trim_end_matches('\n').lines().map(|line| format!("      | {line}")).collect();
    if lines.is_empty() {
        return "      |".into();
    }
    lines.join("\n")
}

impl Printer {
    /// A printer for people, or for programs with `json`.
    pub fn new(json: bool) -> Self {
        Printer { json, streaming: Mutex::new(None), closed: CancellationToken::new() }
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
        let mut streaming = self.streaming.lock().unwrap();
        self.print(|out| match event {
            Event::Model { seq, delta: ModelEvent::TextDelta { text }, .. } => {
                if *streaming != Some(*seq) {
                    *streaming = Some(*seq);
                    write!(out, "[{seq}] model: ")?;
                }
                write!(out, "{text}")
            }
            Event::Model { delta: ModelEvent::Retry { attempt, wait_ms, reason }, .. } => {
                eprintln!("      (attempt {attempt} in {wait_ms} ms: {reason})");
                Ok(())
            }
            Event::Model { .. } | Event::Finished { .. } => Ok(()),
            Event::Step { step, replayed, .. } => {
                let streamed = *streaming == Some(step.seq);
                *streaming = None;
                let text = step_lines(step, *replayed);
                // The text of a streamed model call is already on screen: finish its line and show
                // only the tool calls.
                let text = if streamed { text.lines().skip(1).map(|l| format!("\n{l}")).collect() } else { text };
                writeln!(out, "{text}")
            }
            Event::Denied { reason, .. } => writeln!(out, "      denied: {reason}"),
        });
    }
}

/// A whole trajectory for a person.
pub fn trajectory(t: &Trajectory) -> String {
    let mut out = format!("run {}  [{}]\ntask: {}\nstrategy: {}  model: {}\n\n", t.run, t.status, t.task, t.strategy, t.model);
    for step in &t.steps {
        out.push_str(&step_lines(step, false));
        out.push('\n');
    }
    if let Some(answer) = &t.answer {
        out.push_str(&format!("\nanswer: {answer}\n"));
    }
    let u = t.usage;
    out.push_str(&format!(
        "usage: {} model calls, {} tokens in, {} tokens out, ${:.4}\n",
        u.model_calls, u.input_tokens, u.output_tokens, u.cost_usd
    ));
    out
}
