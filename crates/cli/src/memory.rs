//! `agentos memory`: what runs remembered, for people: list the items of a scope, show one with
//! its provenance and history, forget one, export them as JSON lines.

use agentos_core::MemoryItem;
use agentos_kernel::Storage;
use anyhow::{bail, Result};
use clap::Subcommand;
use std::path::Path;

/// `agentos memory ...`.
#[derive(Subcommand)]
pub enum MemoryCommand {
    /// The current items, oldest first: id, scope, trust, source and text.
    #[command(
        after_help = "Examples:\n  agentos memory list\n  agentos memory list --scope person:alice\n  agentos memory list --history --json"
    )]
    List {
        /// Only this scope (person:<name>, agent:<name>, run:<id>).
        #[arg(long, value_parser = scope)]
        scope: Option<String>,
        /// Superseded items too.
        #[arg(long)]
        history: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One item: its text, scope, provenance (run, agent, source, trust), when it was learned,
    /// and what superseded it.
    #[command(after_help = "Example:\n  agentos memory show 0193a2c4e5f67890abcdef0123456789.4")]
    Show {
        /// The item's id (see `agentos memory list`).
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Deletes an item and the older versions it superseded: no later recall finds it. The
    /// journals of the runs that wrote or recalled it still hold what they saw.
    #[command(after_help = "Example:\n  agentos memory forget 0193a2c4e5f67890abcdef0123456789.4")]
    Forget {
        /// The item's id (see `agentos memory list`).
        id: String,
    },
    /// A person's profile: their preferences in their own words, which `agentos run --profile
    /// NAME` adds to the system message of every model call of the run (after Janus). Shows it,
    /// or with --set replaces it (the old one is kept, superseded).
    #[command(
        after_help = "Examples:\n  agentos memory profile sam --set \"I am vegetarian. Keep answers short. Use metric units.\"\n  agentos memory profile sam\n  agentos run \"Plan my dinner\" --profile sam"
    )]
    Profile {
        /// The person's name (the profile is kept in person:<name>).
        name: String,
        /// The new profile.
        #[arg(long, value_name = "TEXT")]
        set: Option<String>,
    },
    /// Writes the items as JSON lines (one item per line, provenance included) to standard
    /// output or a file.
    #[command(
        after_help = "Examples:\n  agentos memory export --scope person:alice > alice.jsonl\n  agentos memory export --history --out all.jsonl"
    )]
    Export {
        /// Only this scope.
        #[arg(long, value_parser = scope)]
        scope: Option<String>,
        /// Superseded items too.
        #[arg(long)]
        history: bool,
        /// Write to this file (replaced only once it is whole) instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
}

impl MemoryCommand {
    /// Whether it may write into a database that does not exist yet (setting a profile does; the
    /// others read or change what is there).
    pub fn writes_new(&self) -> bool {
        matches!(self, MemoryCommand::Profile { set: Some(_), .. })
    }
}

/// Reads a scope argument.
fn scope(text: &str) -> Result<String, String> {
    agentos_memory::Scope::parse(text).map(|s| s.to_string()).map_err(|e| e.to_string())
}

/// Runs one `agentos memory` command on the database `db`.
pub async fn run(db: &Path, command: MemoryCommand) -> Result<i32> {
    let storage = Storage::open(db)?;
    match command {
        MemoryCommand::List { scope, history, json } => {
            let items = storage.memories(scope.as_deref(), history)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&items)?);
            } else if items.is_empty() {
                println!(
                    "no memory kept in {}{}; runs keep facts with the `remember` tool (`agentos run --memory-scope person:<name>`)",
                    db.display(),
                    scope.map(|s| format!(" for {s}")).unwrap_or_default()
                );
            } else {
                for item in &items {
                    println!("{}", line(item));
                }
            }
            Ok(0)
        }
        MemoryCommand::Show { id, json } => {
            let Some(item) = storage.memory(&id)? else { bail!("no memory item `{id}`; `agentos memory list` shows the ones there are") };
            if json {
                println!("{}", serde_json::to_string_pretty(&item)?);
            } else {
                print!("{}", describe(&item));
            }
            Ok(0)
        }
        MemoryCommand::Forget { id } => {
            if !storage.forget_memory(&id).await? {
                bail!("no memory item `{id}`; `agentos memory list` shows the ones there are");
            }
            println!("forgot {id}");
            Ok(0)
        }
        MemoryCommand::Profile { name, set: None } => {
            let Some(profile) = storage.profile(&name)? else {
                bail!("{name} has no profile; set one with `agentos memory profile {name} --set \"<their preferences>\"`")
            };
            println!("{}\n\n(set at {}, item {})", profile.text, profile.created_at, profile.id);
            Ok(0)
        }
        MemoryCommand::Profile { name, set: Some(text) } => {
            let encoder = crate::models::load_encoder()?;
            let item = storage.set_profile(&name, &text, encoder.as_ref()).await?;
            println!("set the profile of {name} ({}); `agentos run --profile {name}` uses it", item.id);
            Ok(0)
        }
        MemoryCommand::Export { scope, history, out } => {
            let items = storage.memories(scope.as_deref(), history)?;
            let mut text = String::new();
            for item in &items {
                text.push_str(&serde_json::to_string(item)?);
                text.push('\n');
            }
            let to = crate::export::write_out(out.as_deref(), &text)?;
            eprintln!("wrote {} to {to}", crate::render::plural(items.len() as u64, "memory item"));
            Ok(0)
        }
    }
}

/// One item on one line.
fn line(item: &MemoryItem) -> String {
    let superseded = if item.superseded_by.is_some() { " (superseded)" } else { "" };
    format!("{}  {}  {} from {}{superseded}  {}", item.id, item.scope, item.trust, item.source, crate::render::cut(&item.text, 100))
}

/// One item for a person.
fn describe(item: &MemoryItem) -> String {
    let mut out = format!(
        "{}\n\nid: {}\nscope: {}\nsource: {} ({})\nwritten by run {} (agent {}) at {}\n",
        item.text, item.id, item.scope, item.source, item.trust, item.run, item.agent, item.created_at
    );
    if let (Some(at), Some(by)) = (&item.superseded_at, &item.superseded_by) {
        out.push_str(&format!("superseded by {by} at {at}\n"));
    }
    out
}
