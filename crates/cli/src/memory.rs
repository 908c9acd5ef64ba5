//! `agentos memory`: what runs remembered, for people: list the items of a scope, show one with
//! its provenance and history, forget one, export them as JSON lines; list a scope's pinned
//! memory blocks, show or set one (MemGPT's working context, Packer et al., 2023).

use agentos_core::{MemoryBlock, MemoryItem};
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
    /// The memory blocks of a scope, by label: the texts pinned in the system message of every
    /// model call of a run granted the scope (`run --memory-scope`), which the agent edits with
    /// its memory_append and memory_replace tools (MemGPT's working context, Letta's core memory).
    /// Each shows its size, who last wrote it, and whether it is trusted.
    #[command(after_help = "Examples:\n  agentos memory blocks person:alice\n  agentos memory blocks agent:helper --json")]
    Blocks {
        /// The scope (person:<name> or agent:<name>).
        #[arg(value_parser = block_scope)]
        scope: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One memory block of a scope: shows it with its provenance, or with --set replaces its text
    /// by hand (a person's edit: trusted, at most 2,000 characters). Runs under way keep the
    /// blocks they pinned; later runs see the new text.
    #[command(
        after_help = "Examples:\n  agentos memory block person:alice human --set \"Alice, a nurse in Leeds. Prefers short answers.\"\n  agentos memory block person:alice human\n  agentos run \"Plan my week\" --memory-scope person:alice"
    )]
    Block {
        /// The scope (person:<name> or agent:<name>).
        #[arg(value_parser = block_scope)]
        scope: String,
        /// The block's label: 1 to 32 of a-z, 0-9, `_` and `-` (e.g. human, persona).
        label: String,
        /// The block's new text.
        #[arg(long, value_name = "TEXT")]
        set: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
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
    /// Whether it may write into a database that does not exist yet (setting a profile or a block
    /// does; the others read or change what is there).
    pub fn writes_new(&self) -> bool {
        matches!(self, MemoryCommand::Profile { set: Some(_), .. } | MemoryCommand::Block { set: Some(_), .. })
    }
}

/// Reads a scope argument.
fn scope(text: &str) -> Result<String, String> {
    agentos_memory::Scope::parse(text).map(|s| s.to_string()).map_err(|e| e.to_string())
}

/// Reads the scope of memory blocks.
fn block_scope(text: &str) -> Result<String, String> {
    agentos_memory::blocks::check_scope(text).map_err(|e| e.to_string())
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
        MemoryCommand::Blocks { scope, json } => {
            let blocks = storage.blocks(&scope)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&blocks)?);
            } else if blocks.is_empty() {
                println!(
                    "{scope} has no memory blocks; runs with `--memory-scope {scope}` make them with memory_append, or set one with `agentos memory block {scope} human --set TEXT`"
                );
            } else {
                let shown: Vec<String> = blocks.iter().map(describe_block).collect();
                print!("{}", shown.join("\n"));
            }
            Ok(0)
        }
        MemoryCommand::Block { scope, label, set: None, json } => {
            let Some(block) = storage.block(&scope, &label)? else {
                bail!("{scope} has no memory block `{label}`; `agentos memory blocks {scope}` lists its blocks")
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&block)?);
            } else {
                print!("{}", describe_block(&block));
            }
            Ok(0)
        }
        MemoryCommand::Block { scope, label, set: Some(text), .. } => {
            let block = storage.set_block(&scope, &label, &text).await?;
            println!(
                "set memory block `{label}` of {scope} ({} characters); runs with `--memory-scope {scope}` see it",
                block.value.chars().count()
            );
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

/// One block for a person: its label, provenance and size, then its text, indented.
fn describe_block(block: &MemoryBlock) -> String {
    let by = if block.run.is_empty() { "set by hand".to_string() } else { format!("written by run {}", block.run) };
    let chars = block.value.chars().count();
    let text: String = block.value.lines().map(|line| format!("  {line}\n")).collect();
    format!(
        "{}  ({}, {by} at {}, {chars} of {} characters)\n{text}",
        block.label,
        block.trust,
        block.updated_at,
        agentos_memory::blocks::MAX_VALUE
    )
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
