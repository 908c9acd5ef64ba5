//! `agentos play`: the gym's multi-agent games ([`agentos_gym::games`]). A game is a team run
//! whose members are the players, each a run of its own on its own model; it runs, prints and
//! resumes like any run (`agentos resume` rebuilds the game from its stored strategy name), and
//! ends with a table of each player's outcome, read from the team's `team_stopped` event.

use crate::config::Config;
use crate::render::{self, Printer};
use crate::validate::{self, Origins};
use agentos_core::RunId;
use agentos_gym::games::{Auction, AuctionOutcome, Player, SpyGame, SpyOutcome, Style};
use agentos_kernel::{Kernel, RunSpec};
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// The games.
#[derive(Subcommand)]
pub enum PlayCommand {
    /// Who is the spy (SpyGame): every player gets a secret word, one player (the spy) a
    /// different but related one; each round everyone describes their word, then votes out the
    /// player they think is the spy. The civilians win by voting the spy out; the spy wins by
    /// surviving until two players are left or the last round.
    #[command(after_help = SPY_HELP)]
    Spygame(SpyArgs),
    /// An ascending-price auction (AucArena): bidders with budgets bid for items whose true value
    /// each knows only as a noisy estimate; a bid over budget, below the minimum or unreadable
    /// counts as a withdrawal. Each bidder's profit is the true value of what it won minus what it
    /// paid.
    #[command(after_help = AUCTION_HELP)]
    Auction(AuctionArgs),
}

const SPY_HELP: &str = "Examples:
  agentos play spygame                       (4 players, all cot on the default model, 3 rounds)
  agentos play spygame --players 5 --rounds 4 --seed 7
  agentos play spygame --player cot@local:qwen2.5-coder-1.5b,direct@local:qwen2.5-coder-0.5b
  agentos play spygame --player direct@openai:gpt-4o-mini --player cot --json

Each player is a member run (<game run>.player-<n>) with its own journal and model; the --player
values go to the seats in order and repeat to fill them. `agentos runs show <game run>` shows each
player's calls and the board; `agentos resume <game run>` carries an interrupted game on.

Exit status: 0 played to its end, 1 failed, 3 interrupted (resume it), 4 cancelled.";

const AUCTION_HELP: &str = "Examples:
  agentos play auction                       (3 bidders, 5 items, a budget of 400 each)
  agentos play auction --bidders 4 --items 6 --budget 600 --increment 20 --seed 3
  agentos play auction --bidders 2 --player direct@local:qwen2.5-coder-0.5b --player cot

Each bidder is a member run (<game run>.bidder-<n>) with its own journal and model; the --player
values go to the seats in order and repeat to fill them. `agentos resume <game run>` carries an
interrupted auction on.

Exit status: 0 played to its end, 1 failed, 3 interrupted (resume it), 4 cancelled.";

/// What every game takes.
#[derive(Args)]
pub struct CommonArgs {
    /// A player, as STYLE@URI: cot (reasons, then answers on a last line) or direct (answers
    /// only), then its model URI; a bare style plays on --model, a bare URI plays cot.
    /// Repeatable or comma-separated; given to the seats in order and repeated to fill them
    /// (default: every seat cot on --model).
    #[arg(long, value_name = "STYLE@URI", value_delimiter = ',')]
    player: Vec<String>,
    /// The model of players given none of their own, and of the game's team run (default: the
    /// configured model, else the built-in local model).
    #[arg(long, env = "AGENTOS_MODEL")]
    model: Option<String>,
    /// What deals the game (words and spy, items and estimates): the same seed deals the same
    /// game. Default: one from the clock (the game's task line says which).
    #[arg(long)]
    seed: Option<u64>,
    /// Sampling temperature of the players' model calls, from 0 to 2 (0: greedy).
    #[arg(long, default_value_t = 0.0, value_parser = validate::temperature)]
    temperature: f32,
    /// Print each event as a JSON line, and the outcome as a last JSON line, instead of text.
    #[arg(long)]
    json: bool,
}

/// `agentos play spygame`.
#[derive(Args)]
pub struct SpyArgs {
    /// How many players, from 3 to 8.
    #[arg(long, default_value_t = 4)]
    players: u32,
    /// The most rounds, from 1 to 10; the spy wins if it is still in after the last.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    #[command(flatten)]
    common: CommonArgs,
}

/// `agentos play auction`.
#[derive(Args)]
pub struct AuctionArgs {
    /// How many bidders, from 2 to 8.
    #[arg(long, default_value_t = 3)]
    bidders: u32,
    /// How many items are sold, from 1 to 20.
    #[arg(long, default_value_t = 5)]
    items: u32,
    /// Each bidder's budget at the start, from 10 to 1000000.
    #[arg(long, default_value_t = 400)]
    budget: u64,
    /// How much each bid must raise the price by, from 1 to 1000.
    #[arg(long, default_value_t = 10)]
    increment: u64,
    /// How far a bidder's estimate of an item's value may be from the true value, in percent
    /// either way, from 0 to 90.
    #[arg(long, default_value_t = 20)]
    noise: u32,
    #[command(flatten)]
    common: CommonArgs,
}

/// Plays the game `command` names, then prints each player's outcome.
pub async fn run(config: &Config, db: &Path, origins: &Origins, command: PlayCommand) -> Result<i32> {
    let (common, seats) = match &command {
        PlayCommand::Spygame(args) => (&args.common, args.players),
        PlayCommand::Auction(args) => (&args.common, args.bidders),
    };
    let seed = common.seed.unwrap_or_else(clock_seed);
    // Every input is checked before a model is pulled or loaded.
    let players = players(config, origins, common, seats)?;
    let styles: Vec<Style> = players.seats.iter().map(|(style, _)| *style).collect();
    let (name, task, member): (String, String, fn(usize) -> String) = match &command {
        PlayCommand::Spygame(args) => {
            let game = SpyGame::new(args.players, args.rounds, seed, styles)?;
            let task = format!("Who is the spy: {} players, at most {} rounds, seed {seed}", args.players, args.rounds);
            (game.strategy_name(), task, SpyGame::member)
        }
        PlayCommand::Auction(args) => {
            let game = Auction::new(args.bidders, args.items, seed, args.budget, args.increment, args.noise, styles)?;
            let task = format!(
                "Auction: {} bidders, {} items, a budget of {} each, bids raised by at least {}, estimates within {}%, seed {seed}",
                args.bidders, args.items, args.budget, args.increment, args.noise
            );
            (game.strategy_name(), task, Auction::member)
        }
    };
    let mut models: Vec<&String> = players.seats.iter().map(|(_, uri)| uri).chain([&players.team]).collect();
    models.sort();
    models.dedup();
    for uri in &models {
        crate::models::ensure_installed(uri)?;
    }
    let roles: BTreeMap<String, String> = players.seats.iter().enumerate().map(|(i, (_, uri))| (member(i), uri.clone())).collect();
    let spec = RunSpec { roles, temperature: Some(common.temperature), ..RunSpec::new(task, name, players.team.clone()) };
    let printer = Arc::new(Printer::new(common.json));
    let kernel = crate::kernel(config, db, printer.clone(), false, None)?;
    for uri in &models {
        crate::models::load(uri, || kernel.model(uri))?;
    }
    let agent = kernel.start(spec).await?;
    let run = agent.run().clone();
    let code = crate::finish(&kernel, agent, &printer, common.json).await?;
    print_outcome(&kernel, &run, &printer, common.json)?;
    Ok(code)
}

/// The seats' styles and models, and the team run's model.
struct Players {
    seats: Vec<(Style, String)>,
    team: String,
}

/// Reads `--player` and `--model` for `seats` seats: the players given in order, repeated to fill
/// the seats; a player without a model plays on `--model`. The team run is on `--model` when one
/// is set (flag, environment or config.toml), else on the first player's model.
fn players(config: &Config, origins: &Origins, common: &CommonArgs, seats: u32) -> Result<Players> {
    let mut given = common.player.iter().map(|p| Player::parse(p)).collect::<Result<Vec<_>, _>>()?;
    if given.len() > seats as usize {
        bail!(
            "--player was given {} times for {seats} seats; give at most one per seat, or more seats (--players for spygame, --bidders for auction)",
            given.len()
        );
    }
    let chosen = common.model.is_some() || config.model.is_some();
    let needs_default = chosen || given.is_empty() || given.iter().any(|p| p.model.is_none());
    let default = if needs_default { Some(validate::model(config, origins, common.model.clone())?.value) } else { None };
    if given.is_empty() {
        given.push(Player { style: Style::Cot, model: None });
    }
    let mut checked = Vec::new();
    for player in &given {
        let uri = match &player.model {
            Some(uri) => validate::flag_model("--player", uri)?,
            None => default.clone().expect("a default model when a player has none"),
        };
        checked.push((player.style, uri));
    }
    let seats: Vec<(Style, String)> = (0..seats as usize).map(|i| checked[i % checked.len()].clone()).collect();
    let team = match default {
        Some(uri) if chosen => uri,
        _ => seats[0].1.clone(),
    };
    Ok(Players { seats, team })
}

/// A seed from the clock, small enough to type again.
fn clock_seed() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::from(now.subsec_micros()) % 1_000_000
}

/// Prints the per-player outcome recorded in the game's `team_stopped` event (nothing if the
/// game did not get that far): a table for people, one JSON line with `--json`.
fn print_outcome(kernel: &Kernel, run: &RunId, printer: &Printer, json: bool) -> Result<()> {
    let events = kernel.storage().events(run)?;
    let Some((_, stopped)) = events.iter().rev().find(|(kind, _)| kind == "team_stopped") else { return Ok(()) };
    let detail = &stopped["detail"];
    if json {
        printer.line(&serde_json::json!({ "outcome": detail }).to_string());
        return Ok(());
    }
    let text = match detail["game"].as_str() {
        Some("spygame") => spy_table(&serde_json::from_value(detail.clone())?),
        Some("auction") => auction_table(&serde_json::from_value(detail.clone())?),
        _ => return Ok(()),
    };
    printer.line(&format!("\n{text}"));
    Ok(())
}

/// The name `value` (a unit enum variant, as `spy` or `civilians`) is serialized as.
fn serde_name(value: impl serde::Serialize) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

/// Who is the spy's outcome for people.
fn spy_table(outcome: &SpyOutcome) -> String {
    let header = ["PLAYER", "MODEL", "STYLE", "ROLE", "WORD", "WON", "OUT IN ROUND", "VOTES", "DISQUALIFIED", "INVALID VOTES"];
    let rows = outcome
        .players
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                render::fit(&p.model, MODEL_WIDTH),
                p.style.to_string(),
                serde_name(p.role),
                p.word.clone(),
                yes_no(p.won),
                p.eliminated_in.map_or("-".into(), |r| r.to_string()),
                p.votes_received.to_string(),
                yes_no(p.disqualified),
                p.invalid_votes.to_string(),
            ]
        })
        .collect();
    let winner = match outcome.winner {
        Some(side) => serde_name(side),
        None => "none (the game stopped before its end)".into(),
    };
    format!(
        "Who is the spy: civilians' word \"{}\", spy's word \"{}\" ({}); {} played; winner: {winner}\n{}",
        outcome.civilian_word,
        outcome.spy_word,
        outcome.spy,
        render::plural(outcome.rounds.len() as u64, "round"),
        columns(&header, rows)
    )
}

/// The auction's outcome for people: each item's sale, then each bidder.
fn auction_table(outcome: &AuctionOutcome) -> String {
    let sales = outcome
        .sales
        .iter()
        .map(|s| {
            vec![
                s.item.clone(),
                s.value.to_string(),
                s.start.to_string(),
                s.winner.clone().unwrap_or_else(|| "unsold".into()),
                s.price.map_or("-".into(), |p| p.to_string()),
                s.rounds.to_string(),
                s.invalid.len().to_string(),
            ]
        })
        .collect();
    let bidders = outcome
        .players
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                render::fit(&p.model, MODEL_WIDTH),
                p.style.to_string(),
                p.items_won.len().to_string(),
                p.spent.to_string(),
                p.budget_left.to_string(),
                p.profit.to_string(),
                p.bids.to_string(),
                p.invalid_bids.to_string(),
            ]
        })
        .collect();
    let state = if outcome.complete { "" } else { " (stopped before every item was offered)" };
    format!(
        "Auction{state}:\n{}\n{}",
        columns(&["ITEM", "VALUE", "START", "BUYER", "PRICE", "ROUNDS", "INVALID BIDS"], sales),
        columns(&["BIDDER", "MODEL", "STYLE", "ITEMS", "SPENT", "BUDGET LEFT", "PROFIT", "BIDS", "INVALID BIDS"], bidders)
    )
}

/// How much of a model URI a table shows.
const MODEL_WIDTH: usize = 40;

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// `rows` under `header`, each column as wide as its widest cell, two spaces apart.
fn columns(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}
