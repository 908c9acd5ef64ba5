//! `agentos runs list` and `agentos runs show`: the recorded runs for people (a table, a
//! trajectory) and for programs (`--json`, every field).

use crate::render::{self, fit, local_time};
use agentos_core::Trajectory;
use agentos_kernel::{RunOrigin, RunRecord, Storage};
use anyhow::Result;
use clap::Subcommand;
use serde::Serialize;
use std::path::Path;

/// What `agentos runs` can do.
#[derive(Subcommand)]
pub enum RunsCommand {
    /// The most recent runs, newest first: id, status, start (local time), strategy, model and
    /// task. Gym episodes (`agentos bench gym`) are left out unless --gym or --all asks for them.
    #[command(after_help = "Examples:\n  agentos runs list --limit 5\n  agentos runs list --gym\n  agentos runs list --all --json")]
    List {
        /// How many runs to show.
        #[arg(long, default_value_t = 20, value_parser = crate::validate::at_least_one::<usize>)]
        limit: usize,
        /// Show only the episodes of gym benchmarks, with their benchmark.
        #[arg(long, conflicts_with = "all")]
        gym: bool,
        /// Show every run, gym episodes (marked with their benchmark) included.
        #[arg(long)]
        all: bool,
        /// Print JSON instead of a table: every field of each run, and `benchmark` (the gym
        /// benchmark it is an episode of, or null).
        #[arg(long)]
        json: bool,
    },
    /// One run's whole trajectory: each model step with the messages its request added since the
    /// previous one and the answer, every tool call and result, each step's duration, and the
    /// run's status changes (suspended, resumed, failed) with their times. A team run's members
    /// follow as a tree: each with its status, model calls, tokens and messages, and its steps
    /// below it, after the reason the team stopped. Long texts are cut with a note of how much;
    /// --json gives every request and response whole, and a team's members under `team`.
    #[command(
        after_help = "Example:\n  agentos runs show 0193a2c4e5f67890abcdef0123456789\n  agentos runs show 0193a2c4e5f67890abcdef0123456789 --json"
    )]
    Show {
        /// The run's id.
        run: String,
        /// Print the trajectory as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `agentos runs ...` against the database `db`.
pub fn run(db: &Path, command: RunsCommand) -> Result<i32> {
    match command {
        RunsCommand::List { limit, gym, all, json } => {
            let origin = match (gym, all) {
                (true, _) => RunOrigin::Gym,
                (_, true) => RunOrigin::Any,
                _ => RunOrigin::Own,
            };
            list(db, limit, origin, json)
        }
        RunsCommand::Show { run, json } => show(db, &run, json),
    }
}

fn list(db: &Path, limit: usize, origin: RunOrigin, json: bool) -> Result<i32> {
    let storage = Storage::open(db)?;
    let runs = storage.runs_of(limit, origin)?;
    if json {
        let runs: Vec<serde_json::Value> = runs
            .into_iter()
            .map(|(run, benchmark)| {
                let mut value = serde_json::to_value(run).expect("a run record serializes");
                value["benchmark"] = serde_json::json!(benchmark);
                value
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(0);
    }
    let hidden = origin == RunOrigin::Own && !storage.runs_of(1, RunOrigin::Gym)?.is_empty();
    if runs.is_empty() {
        match origin {
            RunOrigin::Gym => println!("no gym episodes in {}; `agentos bench gym` runs some", db.display()),
            _ => println!("no runs yet in {}; start one with `agentos run \"<task>\"`", db.display()),
        }
    } else {
        print!("{}", table(&runs, origin != RunOrigin::Own, terminal_width()));
    }
    if hidden {
        eprintln!("(gym episodes are not listed: `agentos runs list --gym` shows them, `--all` everything)");
    }
    Ok(0)
}

/// The runs as a table with a header, the task cut to fit `width` characters; with a `benchmark`
/// column when `gym`.
fn table(runs: &[(RunRecord, Option<String>)], gym: bool, width: usize) -> String {
    const MODEL: usize = 40;
    let mut header = vec!["ID", "STATUS", "STARTED", "STRATEGY", "MODEL"];
    if gym {
        header.push("BENCHMARK");
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|(r, benchmark)| {
            let mut row = vec![r.id.to_string(), r.status.clone(), local_time(&r.created_at), r.strategy.clone(), fit(&r.model, MODEL)];
            if gym {
                row.push(benchmark.clone().unwrap_or_else(|| "-".into()));
            }
            row
        })
        .collect();
    let widths: Vec<usize> =
        (0..header.len()).map(|i| rows.iter().map(|row| row[i].chars().count()).chain([header[i].len()]).max().unwrap_or(0)).collect();
    let used: usize = widths.iter().map(|w| w + 2).sum();
    let task_width = width.saturating_sub(used).max(20);
    let line = |cells: &[String], task: &str| {
        let mut out = String::new();
        for (cell, w) in cells.iter().zip(&widths) {
            out.push_str(&format!("{cell:<w$}  "));
        }
        out.push_str(&fit(task, task_width));
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>(), "TASK");
    for (row, (run, _)) in rows.iter().zip(runs) {
        out.push_str(&line(row, &run.task));
    }
    out
}

/// The width of the terminal on standard output; `$COLUMNS`, else 120, when it is not one.
fn terminal_width() -> usize {
    // SAFETY: TIOCGWINSZ fills the `winsize` it is given, and only reads the descriptor.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    if unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0 && size.ws_col > 0 {
        return size.ws_col as usize;
    }
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(120)
}

fn show(db: &Path, run: &str, json: bool) -> Result<i32> {
    let storage = Storage::open(db)?;
    let trajectory = agentos_kernel::trajectory(&storage, run)?;
    let team = team(&storage, &trajectory)?;
    if json {
        let mut value = serde_json::to_value(&trajectory)?;
        if let Some(team) = &team {
            value["team"] = serde_json::to_value(team)?;
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", render::trajectory(&trajectory));
        if let Some(team) = &team {
            print!("{}", team_tree(team));
        }
    }
    Ok(0)
}

/// A team run's members and how the team ended, for `runs show`.
#[derive(Serialize)]
struct TeamView {
    /// The `team_stopped` event's payload (reason, round, detail), once the team stopped.
    stopped: Option<serde_json::Value>,
    /// Messages on the team's board.
    messages: usize,
    /// Tokens the members spent on them.
    communication_tokens: u64,
    /// Each member, by name.
    members: Vec<MemberView>,
}

/// One member of a team, for `runs show`.
#[derive(Serialize)]
struct MemberView {
    name: String,
    /// Why it left the team before the end, if it did.
    dropped: Option<String>,
    messages: usize,
    communication_tokens: u64,
    trajectory: Trajectory,
}

/// The team of `trajectory`'s run, when it is a team run.
fn team(storage: &Storage, trajectory: &Trajectory) -> Result<Option<TeamView>> {
    let members = storage.team_members(trajectory.run.as_str())?;
    if members.is_empty() {
        return Ok(None);
    }
    let board = storage.board(trajectory.run.as_str())?;
    let payload = |kind: &'static str| trajectory.events.iter().filter(move |e| e.kind == kind).map(|e| e.payload.clone());
    let dropped: Vec<serde_json::Value> = payload("member_dropped").collect();
    let members = members
        .into_iter()
        .map(|(name, run)| {
            let posts: Vec<&agentos_core::Post> = board.iter().filter(|p| p.sender == name).collect();
            let why = dropped.iter().find(|d| d["member"] == name.as_str()).and_then(|d| d["reason"].as_str()).map(String::from);
            Ok(MemberView {
                dropped: why,
                messages: posts.len(),
                communication_tokens: posts.iter().map(|p| p.tokens).sum(),
                trajectory: agentos_kernel::trajectory(storage, run.as_str())?,
                name,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(TeamView {
        stopped: payload("team_stopped").next_back(),
        messages: board.len(),
        communication_tokens: board.iter().map(|p| p.tokens).sum(),
        members,
    }))
}

/// The team as a tree: how it stopped, then each member with its status, tokens and messages,
/// and its steps indented below it.
fn team_tree(team: &TeamView) -> String {
    let stopped = match &team.stopped {
        Some(stop) => format!("stopped ({}) in round {}", stop["reason"].as_str().unwrap_or("?"), stop["round"]),
        None => "not stopped yet".to_string(),
    };
    let mut out = format!(
        "
team: {} members, {stopped}; {} on the board, {} communication tokens
",
        team.members.len(),
        render::plural(team.messages as u64, "message"),
        team.communication_tokens
    );
    for (i, member) in team.members.iter().enumerate() {
        let last = i + 1 == team.members.len();
        let t = &member.trajectory;
        let left = member.dropped.as_deref().map(|why| format!("; left early: it {why}")).unwrap_or_default();
        out.push_str(&format!(
            "{} {}  [{}]  {}, {} in, {} out, {}{left}  (run {})\n",
            if last { "└─" } else { "├─" },
            member.name,
            t.status,
            render::plural(t.usage.model_calls, "model call"),
            t.usage.input_tokens,
            t.usage.output_tokens,
            render::plural(member.messages as u64, "message"),
            t.run
        ));
        let indent = if last { "    " } else { "│   " };
        // Its steps, without the header that repeats the task.
        for line in render::trajectory(t).lines().skip_while(|l| !l.is_empty()).skip(1) {
            let indent = if line.is_empty() { indent.trim_end() } else { indent };
            out.push_str(&format!("{indent}{line}\n"));
        }
    }
    out
}
