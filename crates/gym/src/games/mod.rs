//! Multi-agent games: every player is a member of a team run (its own run, journal and model),
//! the game is the team's topology, and the outcome is recorded per player.
//!
//! Two games: [`spygame`], Who is the spy (SpyGame; Liang et al., 2023, "Leveraging Word
//! Guessing Games to Assess the Intelligence of Large Language Models"), and [`auction`], an
//! ascending-price auction after AucArena (Chen et al., 2023, "Put Your Money Where Your Mouth
//! Is: Evaluating Strategic Planning and Execution of LLM Agents in an Auction Arena"). Each is a
//! [`Strategy`] over [`Agent::team`](agentos_kernel::Agent::team): players talk only through
//! journaled posts on the team's board, and the game, the team run itself, tells each player
//! what the rules make public (who is out, who holds the price). The per-player outcome is the
//! `detail` of the team's `team_stopped` event ([`agentos_agents::team::conclude`]), and the team
//! run's answer says who won.
//!
//! A game's settings are its stored strategy name, `spygame:players=4,rounds=3,seed=7,styles=
//! cot+cot+direct+cot` (see [`SpyGame::strategy_name`]), and each player's model
//! is the run's [`RunSpec::roles`](agentos_kernel::RunSpec::roles) entry for the player's member
//! name (`player-2`, `bidder-1`; none: the team's model). So [`strategy`] rebuilds the same game
//! from a stored run, and `agentos resume` finds it there: the CLI asks [`strategy`] before the
//! agents' own [`agentos_agents::strategy`]. The deal (words, spy, items, estimates) comes from
//! the seed alone ([`Rng`]), so a resumed game deals the same game and its members replay their
//! journals.
//!
//! Each player plays in a [`Style`]: `cot` (reason, then answer on a last line) or `direct`
//! (the answer alone), chosen per player as `cot@URI` or `direct@URI` ([`Player::parse`]).

pub mod auction;
pub mod spygame;

pub use auction::{Auction, AuctionOutcome, Bidder, Lot};
pub use spygame::{Deal, Side, SpyGame, SpyOutcome, SpyPlayer, SpyRole};

use agentos_agents::team::replies;
use agentos_agents::{AgentError, Strategy, MAX_TOKENS_PER_CALL};
use agentos_core::{ChatRequest, ChatResponse, Message, Sampling};
use agentos_kernel::Agent;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// The names of the games [`strategy`] builds.
pub const GAMES: &[&str] = &["spygame", "auction"];

/// Why a game could not be set up.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum GameError {
    /// A setting is out of its range; `setting` is the flag's name without dashes.
    #[error("--{setting} {value}: {reason}")]
    Setting {
        /// The setting (`players`, `rounds`, `budget`, ...).
        setting: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it, and what would do.
        reason: String,
    },
    /// A player that is not `STYLE@URI`, `STYLE` or `URI`.
    #[error("--player `{given}`: {reason}")]
    Player {
        /// The text given.
        given: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A stored game name that does not read back.
    #[error("game `{name}`: {reason}")]
    Name {
        /// The stored strategy name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The game a stored strategy name names, built from its settings: `None` when `name` is not a
/// game (its part before `:` is none of [`GAMES`]), so that the caller asks
/// [`agentos_agents::strategy`] instead.
///
/// ```
/// use agentos_gym::games::strategy;
/// assert_eq!(strategy("spygame:players=4,rounds=3,seed=1,styles=cot+cot+cot+direct").unwrap().unwrap().name(), "spygame");
/// assert!(strategy("spygame:players=4").unwrap().is_err(), "styles are part of the name");
/// assert!(strategy("debate:3x2").is_none());
/// ```
pub fn strategy(name: &str) -> Option<Result<Box<dyn Strategy>, GameError>> {
    let base = name.split_once(':').map_or(name, |(base, _)| base);
    match base {
        "spygame" => Some(SpyGame::parse(name).map(|g| Box::new(g) as Box<dyn Strategy>)),
        "auction" => Some(Auction::parse(name).map(|g| Box::new(g) as Box<dyn Strategy>)),
        _ => None,
    }
}

/// How a player answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    /// Chain of thought: reasons first, then answers on a last line (Wei et al., 2022).
    Cot,
    /// The answer alone.
    Direct,
}

impl Style {
    /// Its name: `cot` or `direct`.
    pub fn as_str(self) -> &'static str {
        match self {
            Style::Cot => "cot",
            Style::Direct => "direct",
        }
    }

    /// What the player's system message says about answering.
    fn instruction(self) -> &'static str {
        match self {
            Style::Cot => {
                "Think it through step by step first; then give your answer on a last line of its own, in the form the question asks for."
            }
            Style::Direct => "Give only your answer, on one line, in the form the question asks for, without any explanation.",
        }
    }
}

impl fmt::Display for Style {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Style {
    type Err = String;
    fn from_str(s: &str) -> Result<Style, String> {
        match s {
            "cot" => Ok(Style::Cot),
            "direct" => Ok(Style::Direct),
            other => Err(format!("unknown style `{other}`; the styles are cot and direct")),
        }
    }
}

/// One seat's player as `--player` gives it: its style and its model (`None`: the game's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Player {
    /// How it answers.
    pub style: Style,
    /// Its model URI.
    pub model: Option<String>,
}

impl Player {
    /// Reads `cot@URI`, `direct@URI`, a bare style (`cot`, `direct`: the game's model) or a bare
    /// URI (style `cot`). Only a prefix before the first `@` that has no `:` in it is a style, so
    /// a URI with an `@` of its own stays whole.
    ///
    /// ```
    /// use agentos_gym::games::{Player, Style};
    /// let p = Player::parse("direct@openai:gpt-4o-mini").unwrap();
    /// assert_eq!((p.style, p.model.as_deref()), (Style::Direct, Some("openai:gpt-4o-mini")));
    /// assert_eq!(Player::parse("cot").unwrap(), Player { style: Style::Cot, model: None });
    /// assert_eq!(Player::parse("local:qwen2.5-coder-0.5b").unwrap().style, Style::Cot);
    /// assert!(Player::parse("smart@openai:gpt-4o").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Player, GameError> {
        let given = text.trim();
        let error = |reason: String| GameError::Player { given: given.to_string(), reason };
        if given.is_empty() {
            return Err(error("give STYLE@URI, as cot@local:qwen2.5-coder-0.5b".into()));
        }
        if let Ok(style) = given.parse::<Style>() {
            return Ok(Player { style, model: None });
        }
        match given.split_once('@') {
            Some((style, uri)) if !style.contains(':') => {
                let style = style.parse::<Style>().map_err(|e| error(format!("{e}; write cot@URI or direct@URI")))?;
                if uri.trim().is_empty() {
                    return Err(error("no model after the `@`; write STYLE@URI, as direct@openai:gpt-4o-mini".into()));
                }
                Ok(Player { style, model: Some(uri.trim().to_string()) })
            }
            _ => Ok(Player { style: Style::Cot, model: Some(given.to_string()) }),
        }
    }
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a small seeded generator that gives the same numbers
/// on every platform, so a game's seed deals the same game everywhere and again on resume.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number from 0 to `n - 1` (`n` at least 1).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Shuffles `items` (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// The answer on a reply's last line labelled `label` (`Vote`, `Bid`: `Vote: Player 3`, also
/// written `**Vote:** Player 3`), else the reply's last non-empty line; without the label, cut
/// to 300 characters.
///
/// ```
/// use agentos_gym::games::answer_line;
/// assert_eq!(answer_line("I think so.\n**Vote:** Player 3\n", "vote"), "Player 3");
/// assert_eq!(answer_line("Player 2\n\n", "Vote"), "Player 2");
/// ```
pub fn answer_line(reply: &str, label: &str) -> String {
    let bare = |line: &str| line.trim().trim_start_matches(['*', '#', '>', '-', '`', ' ']).to_string();
    let labelled = reply.lines().rev().find_map(|line| {
        let line = bare(line);
        let head = line.get(..label.len())?;
        if !head.eq_ignore_ascii_case(label) {
            return None;
        }
        let rest = line[label.len()..].trim_start_matches(['*', ' ']);
        rest.strip_prefix(':').map(|r| r.trim_matches(['*', '`', ' ']).trim().to_string())
    });
    let answer = labelled.unwrap_or_else(|| reply.lines().rev().map(bare).find(|l| !l.is_empty()).unwrap_or_default());
    answer.chars().take(300).collect()
}

/// A player's request: its role and its style's instruction as the system message, then its
/// conversation; sampled at the run's temperature with `seed`.
fn request(member: &Agent, conversation: &[Message], style: Style, seed: u64) -> ChatRequest {
    let role = member.seat().map_or("", |s| s.role.as_str());
    let mut messages = vec![Message::system(format!("{role}\n\n{}", style.instruction()))];
    messages.extend_from_slice(conversation);
    let sampling =
        Sampling { temperature: member.spec().temperature, seed: Some(seed), max_tokens: Some(MAX_TOKENS_PER_CALL), ..Default::default() };
    ChatRequest { messages, sampling, ..Default::default() }
}

/// One reply to each of `asked` (a member, its conversation, its style and seed), asked at once;
/// `None` when a budget ran out first.
async fn ask(asked: Vec<(&Agent, &[Message], Style, u64)>) -> Result<Option<Vec<ChatResponse>>, AgentError> {
    replies(asked.into_iter().map(|(member, conversation, style, seed)| (member, request(member, conversation, style, seed))).collect())
        .await
}

/// A game's settings, read back from its stored strategy name `game:key=value,...`.
struct Settings<'a> {
    name: &'a str,
    values: BTreeMap<&'a str, &'a str>,
}

impl<'a> Settings<'a> {
    /// Reads `name`, which must be `game:` followed by the keys `keys`, each once.
    fn parse(name: &'a str, game: &str, keys: &[&str]) -> Result<Settings<'a>, GameError> {
        let error = |reason: String| GameError::Name { name: name.to_string(), reason };
        let Some(rest) = name.strip_prefix(game).and_then(|r| r.strip_prefix(':')) else {
            return Err(error(format!("a game's name is `{game}:` followed by its settings, as `agentos play` stores it")));
        };
        let mut values = BTreeMap::new();
        for pair in rest.split(',') {
            let (key, value) = pair.split_once('=').ok_or_else(|| error(format!("`{pair}` is not key=value")))?;
            if !keys.contains(&key) {
                return Err(error(format!("unknown setting `{key}`; the settings are {}", keys.join(", "))));
            }
            if values.insert(key, value).is_some() {
                return Err(error(format!("setting `{key}` is given twice")));
            }
        }
        if let Some(missing) = keys.iter().find(|k| !values.contains_key(*k)) {
            return Err(error(format!("setting `{missing}` is missing")));
        }
        Ok(Settings { name, values })
    }

    /// The number `key` holds.
    fn number<T: FromStr>(&self, key: &str) -> Result<T, GameError> {
        let value = self.values[key];
        value.parse().map_err(|_| GameError::Name { name: self.name.to_string(), reason: format!("{key}={value} is not a whole number") })
    }

    /// The styles `styles` holds, `+`-separated.
    fn styles(&self) -> Result<Vec<Style>, GameError> {
        let error = |reason: String| GameError::Name { name: self.name.to_string(), reason };
        self.values["styles"].split('+').map(|s| s.parse::<Style>().map_err(error)).collect()
    }
}

/// `styles` as a game's name stores them, `+`-separated.
fn styles_setting(styles: &[Style]) -> String {
    styles.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("+")
}

/// Checks that `value` of `setting` lies in `range`.
fn check_range<T: PartialOrd + fmt::Display + Copy>(
    setting: &'static str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<(), GameError> {
    if range.contains(&value) {
        return Ok(());
    }
    Err(GameError::Setting { setting, value: value.to_string(), reason: format!("must be from {} to {}", range.start(), range.end()) })
}

/// Checks that there is one style per seat.
fn check_styles(setting: &'static str, seats: u32, styles: &[Style]) -> Result<(), GameError> {
    if styles.len() == seats as usize {
        return Ok(());
    }
    Err(GameError::Setting {
        setting,
        value: seats.to_string(),
        reason: format!("{} player styles were given for {seats} seats; give one per seat", styles.len()),
    })
}

/// A player's number in a text that names one (`Player 3`, `player-3`, `3`, `P3`): the number
/// after the first `player` or `p` if one follows it, else the first number in the text.
///
/// ```
/// use agentos_gym::games::named_number;
/// assert_eq!(named_number("I vote for Player 3 because of round 2"), Some(3));
/// assert_eq!(named_number("bidder-2"), Some(2));
/// assert_eq!(named_number("p4."), Some(4));
/// assert_eq!(named_number("nobody"), None);
/// ```
pub fn named_number(text: &str) -> Option<u32> {
    let lower = text.to_lowercase();
    let number_at = |rest: &str| -> Option<u32> {
        let digits: String = rest.trim_start_matches([' ', '-', '_', '#', ':']).chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().ok()
    };
    for word in ["player", "bidder"] {
        if let Some(n) = lower.match_indices(word).find_map(|(at, _)| number_at(&lower[at + word.len()..])) {
            return Some(n);
        }
    }
    let bytes = lower.as_bytes();
    for (at, _) in lower.match_indices('p') {
        let starts_word = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
        if starts_word && bytes.get(at + 1).is_some_and(|b| b.is_ascii_digit()) {
            return number_at(&lower[at + 1..]);
        }
    }
    let digits: String = lower.chars().skip_while(|c| !c.is_ascii_digit()).take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}
