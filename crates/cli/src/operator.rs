//! The person at the terminal, as the kernel's [`Operator`]: answers `ask_user` and approves
//! risky tools. Without a terminal on standard input nobody is attached: questions get no answer,
//! and an approval gets none either (the kernel refuses the call, saying nobody was there), with a
//! note on standard error that says how to approve.

use agentos_core::ToolCall;
use agentos_kernel::Operator;
use async_trait::async_trait;
use std::io::{BufRead, IsTerminal, Write};

/// Asks on standard error, reads the answer from standard input.
pub struct Terminal;

async fn prompt(text: String) -> Option<String> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    tokio::task::spawn_blocking(move || {
        eprint!("{text}");
        std::io::stderr().flush().ok()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).ok()?;
        Some(line.trim().to_string())
    })
    .await
    .ok()
    .flatten()
}

#[async_trait]
impl Operator for Terminal {
    async fn ask(&self, question: &str) -> Option<String> {
        prompt(format!("\nThe agent asks: {question}\n> ")).await
    }

    async fn approve(&self, call: &ToolCall) -> Option<bool> {
        let Some(answer) = prompt(format!("\nThe agent wants to run {}({}). Allow? [y/N] ", call.name, call.arguments)).await else {
            eprintln!(
                "\nno person is attached to approve `{}`: standard input is not a terminal; run agentos in a terminal to approve \
                 risky tools, or drop --approve to let them run unasked",
                call.name
            );
            return None;
        };
        Some(matches!(answer.as_str(), "y" | "Y" | "yes"))
    }
}
