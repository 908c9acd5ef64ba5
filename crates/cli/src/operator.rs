//! The person at the terminal, as the kernel's [`Operator`]: answers `ask_user` and approves
//! risky tools. Without a terminal on standard input nobody answers, and approvals are refused.

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

    async fn approve(&self, call: &ToolCall) -> bool {
        let answer = prompt(format!("\nThe agent wants to run {}({}). Allow? [y/N] ", call.name, call.arguments)).await;
        matches!(answer.as_deref(), Some("y" | "Y" | "yes"))
    }
}
