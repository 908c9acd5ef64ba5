//! Code execution as a syscall: one confined Python sandbox (agentos-sandbox) per live run,
//! started lazily in the run's work directory, with the run's granted tools as Python functions
//! whose calls come back through the kernel's tool path.
//!
//! The journal: a code cell takes the next sequence number, and each tool call the cell makes
//! takes the numbers after it, journaled as a `tool` step of its own (validated, access-checked,
//! refusals recorded as `denied` events) while the cell runs; the `code` step, holding the cell's
//! output and how many tool calls it made, is recorded when the cell ends, before its output is
//! returned. So a run killed mid-cell has its finished tool calls in the journal but not the cell.
//!
//! Replay: a recorded `code` step returns its recorded output and consumes its tool steps; neither
//! the code nor its tools run again. The interpreter's state (the variables, imports and functions
//! of earlier cells) is not in the journal, so it is rebuilt when live execution begins: the first
//! cell run live in a resumed process starts a fresh sandbox that first executes, in order, the
//! code of every replayed cell since the interpreter's last restart (a cell that was interrupted
//! is left out, as its interpreter was killed), answering their tool calls with the results
//! recorded for them instead of calling the tools, and discarding their outputs. This is honest
//! about tools and models (never called twice) but not about the code's own effects: a replayed
//! cell that appends to a file in the work directory appends again, and code that reads the clock
//! or random numbers may rebuild different values. A cell killed mid-way runs again from its
//! start; its tool calls that were journaled are answered from the journal when it asks for the
//! same calls in the same order.
//!
//! A strategy must not make other syscalls of the same agent while a cell runs: the cell's tool
//! calls are numbered right after it.

use crate::access::Denied;
use crate::agent::{describe, Agent, Asked};
use crate::error::KernelError;
use agentos_core::{CodeOutput, Event, FunctionDefinition, Step, StepKind, ToolCall, ToolResult};
use agentos_sandbox::{Execution, Sandbox, SandboxConfig, ToolHandler};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// A run's code sandbox and what it is started with.
#[derive(Default)]
pub(crate) struct CodeState {
    /// The live sandbox, once a cell has run live.
    sandbox: Option<Sandbox>,
    /// The library functions offered to the run, defined in the sandbox when it starts.
    pub(crate) offered: Vec<FunctionDefinition>,
    /// Replayed cells whose code rebuilds the interpreter's state when live execution begins.
    restore: Vec<RecordedCell>,
    /// Whether the run executed code or was offered library functions, live or replayed.
    pub(crate) used: bool,
}

/// A replayed cell: its code, and the results its tool calls got, in order.
struct RecordedCell {
    code: String,
    results: Vec<ToolResult>,
}

impl CodeState {
    /// Whether the sandbox has started.
    pub(crate) fn started(&self) -> bool {
        self.sandbox.is_some()
    }

    /// Notes a replayed cell for the restoration of the interpreter's state: a cell that ran in
    /// a fresh interpreter drops the cells before it, and one that was interrupted (its
    /// interpreter killed) drops itself too.
    fn remember(&mut self, code: &str, output: &CodeOutput, results: Vec<ToolResult>) {
        if output.denied.is_some() {
            return;
        }
        if output.restarted || output.interruption.is_some() {
            self.restore.clear();
        }
        if output.interruption.is_none() {
            self.restore.push(RecordedCell { code: code.to_string(), results });
        }
    }
}

impl Agent {
    /// Syscall: runs `code` as the next cell of the run's Python sandbox (CodeAct, Wang et al.,
    /// 2024) and returns what it printed, returned or raised, with the observation for the model
    /// ([`CodeOutput`]'s `Display`).
    ///
    /// The sandbox starts at the first cell, confined to the run's first granted folder (its work
    /// directory), with the kernel config's limits, Python and `allow_unsafe`; the run's granted
    /// tools are Python functions whose calls are journaled as `tool` steps after this one, and
    /// the library functions offered by [`Agent::retrieve_actions`] are defined. Variables persist
    /// between cells. Bad code (syntax errors, exceptions, timeouts, a killed interpreter) is an
    /// observation, never an error; so is code from a run without [`Capabilities::code`]
    /// (recorded as a `denied` event, nothing runs). `Err` means the run cannot go on: no work
    /// directory, no usable sandbox on this machine, the journal failed, or the run was
    /// suspended or cancelled (a cell in flight is then abandoned and not journaled).
    ///
    /// On resume a recorded cell returns its recorded output without running; the interpreter's
    /// state is rebuilt by re-executing recorded cells when live execution begins, their tool
    /// calls answered from the journal (see the module documentation for what that does and does
    /// not repeat).
    ///
    /// [`Capabilities::code`]: crate::Capabilities::code
    pub async fn execute_code(&self, code: &str) -> Result<CodeOutput, KernelError> {
        let seq = self.begin()?;
        let mut state = self.code.lock().await;
        state.used = true;
        // What the cell prints comes from outside the model: the run's own memories are
        // untrusted from here on.
        self.taint();
        if let Some(StepKind::Code { output, .. }) = self.replay(seq, Asked::Code(code))? {
            let results = self.replay_cell_tools(seq, output.tool_calls)?;
            state.remember(code, &output, results);
            return Ok(output);
        }
        let started = Instant::now();
        let output = match self.tool_context.capabilities.check_code() {
            Err(Denied(reason)) => {
                self.deny_code(seq, code, &reason).await?;
                CodeOutput::denied(reason)
            }
            Ok(()) => self.run_cell(&mut state, seq, code).await?,
        };
        let step = Step { seq, kind: StepKind::Code { code: code.to_string(), output }, duration_ms: started.elapsed().as_millis() as u64 };
        self.record(&step, None).await?;
        let StepKind::Code { output, .. } = step.kind else { unreachable!("built as a code step above") };
        Ok(output)
    }

    /// Shuts the run's sandbox down, if it started; returns whether the run used code at all.
    pub(crate) async fn close_code(&self) -> bool {
        let mut state = self.code.lock().await;
        if let Some(sandbox) = state.sandbox.take() {
            sandbox.shutdown().await;
        }
        state.used
    }

    /// Runs one cell live, its tool calls going through the kernel.
    async fn run_cell(&self, state: &mut CodeState, seq: u64, code: &str) -> Result<CodeOutput, KernelError> {
        let sandbox = self.sandbox(state).await?;
        let tools = KernelTools { agent: self, cell: seq, journaled: AtomicU32::new(0), fatal: Mutex::new(None) };
        let execution = tokio::select! {
            execution = sandbox.execute(code, &tools) => execution?,
            stop = self.stopped() => return Err(stop),
        };
        if let Some(error) = tools.fatal.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(error);
        }
        Ok(output_of(execution, tools.journaled.into_inner()))
    }

    /// What a sandbox of this run is started with: its work directory (its first granted folder),
    /// the kernel's Python, limits and `allow_unsafe`, its granted tools, and `library`.
    fn sandbox_config(&self, library: Vec<FunctionDefinition>) -> Result<SandboxConfig, KernelError> {
        let work_dir = self.tool_context.capabilities.paths.first().cloned().ok_or_else(|| {
            KernelError::Config(format!(
                "run {}: code runs in the run's work directory, its first granted folder, and this run was granted none; \
                 grant one (--workdir, Capabilities::paths)",
                self.run
            ))
        })?;
        let settings = &self.kernel.config;
        Ok(SandboxConfig {
            work_dir,
            python: settings.python.clone(),
            limits: settings.sandbox_limits.clone(),
            env: Vec::new(),
            tools: self.tools(),
            allow_unsafe: settings.allow_unsafe,
            library,
        })
    }

    /// Defines `functions` as library functions in a fresh sandbox of this run, as a later run
    /// would get them, and returns those that could not be defined, by name, with why (see
    /// [`SandboxConfig::library`]).
    pub(crate) async fn check_library(&self, functions: &[FunctionDefinition]) -> Result<BTreeMap<String, String>, KernelError> {
        let sandbox = Sandbox::start(self.sandbox_config(functions.to_vec())?).await?;
        let failures = sandbox.library_failures();
        sandbox.shutdown().await;
        Ok(failures)
    }

    /// The run's sandbox, started (and its state rebuilt from replayed cells) if it was not yet.
    async fn sandbox<'s>(&self, state: &'s mut CodeState) -> Result<&'s mut Sandbox, KernelError> {
        if state.sandbox.is_none() {
            let mut sandbox = Sandbox::start(self.sandbox_config(state.offered.clone())?).await?;
            let failures = sandbox.library_failures();
            if !failures.is_empty() {
                self.kernel.storage.record_event(&self.run, "library_failed", json!({ "failures": failures })).await?;
            }
            let restore = std::mem::take(&mut state.restore);
            if !restore.is_empty() {
                for cell in &restore {
                    let answers = Recorded { results: Mutex::new(cell.results.clone().into_iter()) };
                    sandbox.execute(&cell.code, &answers).await?;
                }
                self.kernel.storage.record_event(&self.run, "code_restored", json!({ "cells": restore.len() })).await?;
            }
            state.sandbox = Some(sandbox);
        }
        Ok(state.sandbox.as_mut().expect("started above"))
    }

    /// Takes the `count` tool steps recorded after the replayed cell at `seq` out of the journal,
    /// as replayed, and returns their results in order.
    fn replay_cell_tools(&self, seq: u64, count: u32) -> Result<Vec<ToolResult>, KernelError> {
        let mut results = Vec::with_capacity(count as usize);
        for offset in 1..=u64::from(count) {
            let step = self.journal.lock().unwrap().remove(&(seq + offset));
            match step {
                Some(step @ Step { kind: StepKind::Tool { .. }, .. }) => {
                    self.emit(|| Event::Step { run: self.run.clone(), step: step.clone(), replayed: true });
                    let StepKind::Tool { result, .. } = step.kind else { unreachable!("matched as a tool step") };
                    results.push(result);
                }
                other => {
                    return Err(KernelError::ReplayDiverged {
                        run: self.run.to_string(),
                        seq: seq + offset,
                        recorded: other.map_or_else(|| "nothing".to_string(), |s| describe(&s.kind)),
                        asked: format!("tool call {offset} of {count} of the code cell at step {seq}"),
                    })
                }
            }
        }
        self.next_seq.fetch_add(u64::from(count), Ordering::SeqCst);
        Ok(results)
    }

    /// Records the refusal of code from a run without the code capability.
    async fn deny_code(&self, seq: u64, code: &str, reason: &str) -> Result<(), KernelError> {
        let call = ToolCall { id: format!("cell{seq}"), name: "execute_code".into(), arguments: json!({ "code": code }) };
        self.kernel.storage.record_event(&self.run, "denied", json!({ "seq": seq, "call": call, "reason": reason })).await?;
        self.emit(|| Event::Denied { run: self.run.clone(), call, reason: reason.to_string() });
        Ok(())
    }
}

/// The journaled form of an execution that made `tool_calls` journaled tool calls.
fn output_of(execution: Execution, tool_calls: u32) -> CodeOutput {
    let observation = execution.to_string();
    CodeOutput {
        stdout: execution.stdout,
        stderr: execution.stderr,
        value: execution.value,
        exception: execution.exception.map(|e| e.traceback),
        final_answer: execution.final_answer,
        interruption: execution.interruption.map(|i| i.to_string()),
        restarted: execution.restarted,
        denied: None,
        tool_calls,
        functions: execution.functions,
        library_calls: execution.library_calls,
        library_raised: execution.library_raised,
        observation,
    }
}

/// Answers a live cell's tool calls through the kernel's tool path, each journaled after the
/// cell's position. A syscall error (suspended, cancelled, the journal failed) is kept, the call
/// fails in Python, and the cell's execution ends with that error once the cell returns.
struct KernelTools<'a> {
    agent: &'a Agent,
    cell: u64,
    journaled: AtomicU32,
    fatal: Mutex<Option<KernelError>>,
}

impl KernelTools<'_> {
    fn stop(&self, error: KernelError) -> Result<String, String> {
        let text = format!("the run cannot make tool calls any more: {error}");
        self.fatal.lock().unwrap().get_or_insert(error);
        Err(text)
    }
}

#[async_trait]
impl ToolHandler for KernelTools<'_> {
    async fn call(&self, name: &str, arguments: Value) -> Result<String, String> {
        if self.fatal.lock().unwrap().is_some() {
            return Err("the run is stopping and makes no more tool calls".into());
        }
        let seq = match self.agent.begin() {
            Ok(seq) => seq,
            Err(error) => return self.stop(error),
        };
        let n = self.journaled.load(Ordering::SeqCst) + 1;
        let call = ToolCall { id: format!("cell{}-{n}", self.cell), name: name.to_string(), arguments };
        match self.agent.call_tool(&call, seq).await {
            Ok(result) => {
                self.journaled.fetch_add(1, Ordering::SeqCst);
                if result.is_error {
                    Err(result.content)
                } else {
                    Ok(result.content)
                }
            }
            Err(error) => self.stop(error),
        }
    }
}

/// Answers the tool calls of a replayed cell, while the interpreter's state is rebuilt, with the
/// results recorded for it, in order; no tool runs.
struct Recorded {
    results: Mutex<std::vec::IntoIter<ToolResult>>,
}

#[async_trait]
impl ToolHandler for Recorded {
    async fn call(&self, name: &str, _arguments: Value) -> Result<String, String> {
        match self.results.lock().unwrap().next() {
            Some(result) if result.name == name && result.is_error => Err(result.content),
            Some(result) if result.name == name => Ok(result.content),
            _ => Err(format!(
                "`{name}` was not called at this point when this cell first ran, so no recorded result answers it while the \
                 interpreter's state is rebuilt"
            )),
        }
    }
}
