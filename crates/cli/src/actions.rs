//! `agentos actions`: the action library (DynaSaur) for people: the functions code-mode runs
//! wrote and kept, how often later runs used them, their source, and removing one.

use crate::render::plural;
use agentos_kernel::{ActionRecord, Storage};
use anyhow::{bail, Result};
use clap::Subcommand;
use std::path::Path;

/// `agentos actions ...`.
#[derive(Subcommand)]
pub enum ActionsCommand {
    /// Every function in the library: name, runs that used it, how many of them succeeded, and
    /// the first line of its docstring.
    #[command(after_help = "Example:\n  agentos actions list\n  agentos actions list --json")]
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One function: its signature, statistics, the run that wrote it, and its source.
    #[command(after_help = "Example:\n  agentos actions show column_mean")]
    Show {
        /// The function's name (see `agentos actions list`).
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Removes a function from the library: later runs are no longer offered it.
    #[command(after_help = "Example:\n  agentos actions rm column_mean")]
    Rm {
        /// The function's name (see `agentos actions list`).
        name: String,
    },
}

/// Runs one `agentos actions` command on the database `db`.
pub async fn run(db: &Path, command: ActionsCommand) -> Result<i32> {
    let storage = Storage::open(db)?;
    match command {
        ActionsCommand::List { json } => list(&storage, db, json),
        ActionsCommand::Show { name, json } => show(&storage, &name, json),
        ActionsCommand::Rm { name } => {
            if !storage.remove_action(&name).await? {
                bail!("no function `{name}` in the action library; `agentos actions list` shows the ones there are");
            }
            println!("removed `{name}` from the action library");
            Ok(0)
        }
    }
}

fn list(storage: &Storage, db: &Path, json: bool) -> Result<i32> {
    let actions = storage.actions()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&actions)?);
        return Ok(0);
    }
    if actions.is_empty() {
        println!(
            "the action library in {} is empty; functions that `agentos run --actions code` runs define are kept when the run finishes",
            db.display()
        );
        return Ok(0);
    }
    let width = actions.iter().map(|a| a.name.len()).max().unwrap_or(4).max(4);
    println!("{:<width$}  {:>4}  {:>9}  about", "name", "uses", "successes");
    for action in &actions {
        println!("{:<width$}  {:>4}  {:>9}  {}", action.name, action.uses, action.successes, action.summary());
    }
    Ok(0)
}

fn show(storage: &Storage, name: &str, json: bool) -> Result<i32> {
    let Some(action) = storage.action(name)? else {
        bail!("no function `{name}` in the action library; `agentos actions list` shows the ones there are");
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&action)?);
    } else {
        print!("{}", describe(&action));
    }
    Ok(0)
}

/// One function of the library for a person.
fn describe(action: &ActionRecord) -> String {
    format!(
        "{}\noffered to {}, used by {}, {} of them succeeded\nwritten by run {} (kept {}, last written {})\n\n{}\n",
        action.signature,
        plural(action.offers, "run"),
        action.uses,
        action.successes,
        action.created_run,
        action.created_at,
        action.updated_at,
        action.source.trim_end()
    )
}
