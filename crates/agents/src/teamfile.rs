//! Team files: a team declared in TOML rather than written as a topology in Rust (issue item 3;
//! the dimensions are the multi-agent collaboration survey's, Tran et al., 2025: actors,
//! structure, coordination protocol; the protocols and the termination conditions combined with
//! `and` / `or` are AutoGen AgentChat's RoundRobin, Selector and Swarm teams). [`TeamFile::parse`]
//! reads and checks one, and every mistake is refused before anything runs, naming the file, the
//! line and the fix ([`TeamFileError`]); [`crate::DeclaredTeam`] plays it.
//!
//! ```toml
//! structure = "decentralized"   # centralized | decentralized | hierarchical (default decentralized)
//! protocol = "round_robin"      # round_robin | selector | handoff (default round_robin)
//! termination = 'mention("APPROVED") and min_rounds(2) or max_rounds(6)'
//!
//! [[actor]]
//! name = "writer"               # 1 to 32 of a-z, 0-9, - and _
//! role = "You write the answer."
//! model = "openai:gpt-4o-mini"  # optional: the run's model
//! tools = ["calculator"]        # optional: some of the run's tools (--tools)
//! handoffs = ["reviewer"]       # protocol = "handoff" only: whom it may pass to (default: anyone)
//! lead = "chief"                # structure = "hierarchical" only: the actor above it
//! ```
//!
//! Structure says whose turns an actor reads: `decentralized`, every earlier turn; `centralized`,
//! the first actor (the hub) reads every turn and the others only the hub's; `hierarchical`,
//! every actor but the first names its `lead`, an actor declared above it, and reads the turns of
//! its lead and of the actors it leads. Every actor reads its own turns.
//!
//! Termination is an expression of conditions combined with `and` (binding tighter) and `or`,
//! with parentheses: `max_rounds(N)` (N turns were played), `min_rounds(N)` (the same, as a
//! guard: `mention("X") and min_rounds(2)`), `mention("TEXT")` (the last reply contains TEXT),
//! `max_tokens(N)` (the team's model calls used N tokens, in and out), and `consensus` (every
//! actor's last reply gives the same `Answer:`). It must be able to end the team by itself: some
//! `max_rounds` or `min_rounds` must bound it (`mention("X")` alone is refused).

use crate::answer::same_answer;
use agentos_kernel::{MemberSpec, StopReason};
use serde::Deserialize;
use std::fmt;
use toml::Spanned;

/// A team file, read and checked ([`TeamFile::parse`]).
#[derive(Clone, Debug, PartialEq)]
pub struct TeamFile {
    /// Whose turns each actor reads.
    pub structure: Structure,
    /// Who speaks next.
    pub protocol: Protocol,
    /// When the team stops.
    pub termination: Termination,
    /// The actors, in the order the file declares them.
    pub actors: Vec<Actor>,
}

/// One actor of a team file: a member of the team (see [`MemberSpec`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Actor {
    /// Its name: the member's name, part of its run id `<team>.<name>`.
    pub name: String,
    /// Its role prompt.
    pub role: String,
    /// Its model URI (`None`: the run's).
    pub model: Option<String>,
    /// The tools it may call, some of the run's.
    pub tools: Vec<String>,
    /// Whom it may hand off to (protocol `handoff`; `None`: any other actor).
    pub handoffs: Option<Vec<String>>,
    /// The actor above it (structure `hierarchical`), by position.
    pub lead: Option<usize>,
}

/// Whose turns each actor reads (the survey's structures).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Structure {
    /// The first actor is the hub: it reads every turn, the others only its turns.
    Centralized,
    /// Every actor reads every turn.
    #[default]
    Decentralized,
    /// Each actor reads its lead's turns and those of the actors it leads.
    Hierarchical,
}

/// Who speaks next (AutoGen AgentChat's team protocols).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// The actors in the file's order, over and over (RoundRobinGroupChat).
    #[default]
    RoundRobin,
    /// A model call of the team run's own agent picks the next speaker, never the last one
    /// twice in a row (SelectorGroupChat).
    Selector,
    /// An actor passes the turn with a last line `HANDOFF: <name>`; without one it speaks again
    /// (Swarm). The first actor starts.
    Handoff,
}

/// Why a team file is refused: where and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamFileError {
    /// The file, as the person named it.
    pub file: String,
    /// The line (from 1) of what is wrong.
    pub line: usize,
    /// What is wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

impl fmt::Display for TeamFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}; {}", self.file, self.line, self.problem, self.fix)
    }
}

impl std::error::Error for TeamFileError {}

/// A check of a model URI: what is wrong with it, if anything.
pub type ModelCheck = dyn Fn(&str) -> Result<(), String>;

/// What the run grants a team file's actors: the tools and the model they may use.
pub struct RunGrant<'a> {
    /// The tools the run was granted; every actor's tools must be among them.
    pub tools: &'a [String],
    /// The run's model, when it has one; an actor without a model of its own uses it.
    pub model: Option<&'a str>,
    /// Checks the model URI an actor names, saying what is wrong (`None`: any URI is taken).
    pub check_model: Option<&'a ModelCheck>,
}

/// A team file as TOML gives it, every value with where it was written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    structure: Option<Spanned<Structure>>,
    protocol: Option<Spanned<Protocol>>,
    termination: Option<Spanned<String>>,
    #[serde(default)]
    actor: Vec<RawActor>,
}

/// A list of names, each with where it was written, and the list too.
type Names = Spanned<Vec<Spanned<String>>>;

/// An `[[actor]]` table as TOML gives it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActor {
    name: Spanned<String>,
    role: Spanned<String>,
    model: Option<Spanned<String>>,
    #[serde(default)]
    tools: Vec<Spanned<String>>,
    handoffs: Option<Names>,
    lead: Option<Spanned<String>>,
}

/// Whether `name` can name a member (1 to 32 of `a-z`, `0-9`, `-`, `_`; the kernel's rule).
fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl TeamFile {
    /// Reads the team file `text` (called `file` in errors) and checks it against what `run`
    /// grants: the TOML and its keys, the actors (at least one, names valid and distinct, a role
    /// each, tools among the run's, a model each when the run has none), the handoffs and leads
    /// (to actors that exist), and the termination expression (it parses and can end the team).
    pub fn parse(text: &str, file: &str, run: &RunGrant<'_>) -> Result<TeamFile, TeamFileError> {
        let at = |offset: usize, problem: String, fix: &str| TeamFileError {
            file: file.to_string(),
            line: text[..offset.min(text.len())].matches('\n').count() + 1,
            problem,
            fix: fix.to_string(),
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let problem = e.message().trim_end_matches('\n').to_string();
            let fix = if problem.starts_with("unknown field") {
                "remove the key, or correct its spelling"
            } else if problem.starts_with("missing field") {
                "add it"
            } else if problem.starts_with("unknown variant") {
                "use one of the values it lists"
            } else {
                "see the team file format in README.md (Declarative teams)"
            };
            at(e.span().map_or(0, |s| s.start), problem, fix)
        })?;
        let structure = raw.structure.as_ref().map_or(Structure::default(), |s| *s.get_ref());
        let protocol = raw.protocol.as_ref().map_or(Protocol::default(), |p| *p.get_ref());
        if raw.actor.is_empty() {
            return Err(at(0, "the team has no actors".into(), "add an `[[actor]]` table with a `name` and a `role`"));
        }
        let names: Vec<&str> = raw.actor.iter().map(|a| a.name.get_ref().as_str()).collect();
        let mut actors = Vec::with_capacity(raw.actor.len());
        for (i, a) in raw.actor.iter().enumerate() {
            let name = a.name.get_ref();
            if !valid_name(name) {
                return Err(at(
                    a.name.span().start,
                    format!("the actor name `{name}` is not a member name"),
                    "use 1 to 32 of a-z, 0-9, - and _ (it becomes part of the member's run id)",
                ));
            }
            if names[..i].contains(&name.as_str()) {
                return Err(at(a.name.span().start, format!("two actors are named `{name}`"), "give each actor its own name"));
            }
            if a.role.get_ref().trim().is_empty() {
                return Err(at(a.role.span().start, format!("actor `{name}` has an empty role"), "say who it is and what it does"));
            }
            if let Some(tool) = a.tools.iter().find(|t| !run.tools.contains(t.get_ref())) {
                return Err(at(
                    tool.span().start,
                    format!(
                        "actor `{name}` asks for the tool `{}`, which the run is not granted (it has: {})",
                        tool.get_ref(),
                        list(run.tools)
                    ),
                    "grant it to the run with --tools, or remove it from the actor",
                ));
            }
            match (&a.model, run.model) {
                (None, None) => {
                    return Err(at(
                        a.name.span().start,
                        format!("actor `{name}` has no model, and the run has none"),
                        "add `model = \"<uri>\"` to the actor, or give the run one with --model",
                    ))
                }
                (Some(model), _) => {
                    if let Some(Err(why)) = run.check_model.map(|check| check(model.get_ref())) {
                        return Err(at(
                            model.span().start,
                            format!("actor `{name}`'s model `{}`: {why}", model.get_ref()),
                            "fix its `model`, or remove it to use the run's",
                        ));
                    }
                }
                (None, Some(_)) => {}
            }
            let handoffs = match &a.handoffs {
                None => None,
                Some(_) if protocol != Protocol::Handoff => {
                    let span = a.handoffs.as_ref().map_or(0, |h| h.span().start);
                    return Err(at(
                        span,
                        format!("actor `{name}` declares handoffs, but the protocol is not `handoff`"),
                        "set `protocol = \"handoff\"`, or remove `handoffs`",
                    ));
                }
                Some(list) => {
                    if let Some(to) = list.get_ref().iter().find(|to| !names.contains(&to.get_ref().as_str())) {
                        return Err(at(
                            to.span().start,
                            format!(
                                "actor `{name}` hands off to `{}`, which is not an actor of the team (they are: {})",
                                to.get_ref(),
                                names.join(", ")
                            ),
                            "name one of the team's actors, or add an `[[actor]]` of that name",
                        ));
                    }
                    Some(list.get_ref().iter().map(|to| to.get_ref().clone()).collect())
                }
            };
            let lead = match (&a.lead, structure, i) {
                (Some(lead), s, _) if s != Structure::Hierarchical => {
                    return Err(at(
                        lead.span().start,
                        format!("actor `{name}` has a lead, but the structure is not `hierarchical`"),
                        "set `structure = \"hierarchical\"`, or remove `lead`",
                    ));
                }
                (None, Structure::Hierarchical, 1..) => {
                    return Err(at(
                        a.name.span().start,
                        format!("actor `{name}` has no lead in a hierarchical team"),
                        &format!("add `lead = \"<name>\"`, naming an actor declared above it (as `{}`)", names[0]),
                    ));
                }
                (Some(lead), _, 0) => {
                    return Err(at(
                        lead.span().start,
                        format!("the first actor, `{name}`, is the top of the hierarchy and has no lead"),
                        "remove its `lead`, or declare it after its lead",
                    ));
                }
                (Some(lead), _, _) => match names[..i].iter().position(|n| n == lead.get_ref()) {
                    Some(position) => Some(position),
                    None => {
                        return Err(at(
                            lead.span().start,
                            format!(
                                "actor `{name}`'s lead `{}` is not an actor declared above it (those are: {})",
                                lead.get_ref(),
                                names[..i].join(", ")
                            ),
                            "name an actor declared above it, or move that actor's table up",
                        ))
                    }
                },
                (None, _, _) => None,
            };
            actors.push(Actor {
                name: name.clone(),
                role: a.role.get_ref().clone(),
                model: a.model.as_ref().map(|m| m.get_ref().clone()),
                tools: a.tools.iter().map(|t| t.get_ref().clone()).collect(),
                handoffs,
                lead,
            });
        }
        if protocol == Protocol::Selector && actors.len() < 2 {
            let span = raw.protocol.as_ref().map_or(0, |p| p.span().start);
            return Err(at(
                span,
                "the selector never picks the same actor twice in a row, and the team has one actor".into(),
                "add another `[[actor]]`, or use `protocol = \"round_robin\"`",
            ));
        }
        let Some(expression) = &raw.termination else {
            return Err(at(0, "the team has no termination".into(), "add one, as `termination = 'mention(\"DONE\") or max_rounds(6)'`"));
        };
        let termination = Termination::parse(expression.get_ref()).map_err(|e| {
            let problem = format!("termination `{}`: {} (column {})", expression.get_ref(), e.problem, e.column);
            at(expression.span().start, problem, &e.fix)
        })?;
        if !termination.bounded() {
            return Err(at(
                expression.span().start,
                format!("termination `{}` may never hold, and the team would never stop", expression.get_ref()),
                &format!("bound it, as `{} or max_rounds(6)`", termination.text()),
            ));
        }
        Ok(TeamFile { structure, protocol, termination, actors })
    }

    /// The members [`agentos_kernel::Agent::team`] opens: one per actor, in order.
    pub fn members(&self) -> Vec<MemberSpec> {
        self.actors
            .iter()
            .map(|a| MemberSpec { model: a.model.clone(), tools: a.tools.clone(), ..MemberSpec::new(a.name.clone(), a.role.clone()) })
            .collect()
    }

    /// The team run's own model when the run has none: the first actor's.
    pub fn lead_model(&self) -> Option<&str> {
        self.actors.first().and_then(|a| a.model.as_deref())
    }

    /// Whether actor `reader` reads the turns of actor `speaker` (see [`Structure`]).
    pub fn sees(&self, reader: usize, speaker: usize) -> bool {
        reader == speaker
            || match self.structure {
                Structure::Decentralized => true,
                Structure::Centralized => reader == 0 || speaker == 0,
                Structure::Hierarchical => self.actors[reader].lead == Some(speaker) || self.actors[speaker].lead == Some(reader),
            }
    }

    /// The actors `from` may hand off to, by position: those its `handoffs` name, else every
    /// other actor.
    pub fn handoff_targets(&self, from: usize) -> Vec<usize> {
        match &self.actors[from].handoffs {
            Some(names) => names.iter().filter_map(|n| self.position(n)).collect(),
            None => (0..self.actors.len()).filter(|i| *i != from).collect(),
        }
    }

    /// The position of the actor called `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.actors.iter().position(|a| a.name == name)
    }
}

/// `items`, comma-separated, or `none`.
fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// One condition of a termination expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// `max_rounds(N)`: N turns were played.
    MaxRounds(u32),
    /// `min_rounds(N)`: N turns were played (a guard for the other conditions).
    MinRounds(u32),
    /// `mention("TEXT")`: the last reply contains TEXT.
    Mention(String),
    /// `max_tokens(N)`: the team's model calls used N tokens, in and out.
    MaxTokens(u64),
    /// `consensus`: every actor's last reply gives the same `Answer:`.
    Consensus,
}

/// When a team stops: conditions combined with `and` and `or`, each node with its text.
#[derive(Clone, Debug, PartialEq)]
pub enum Termination {
    /// One condition.
    Is(Condition, String),
    /// Every part holds.
    All(Vec<Termination>, String),
    /// Some part holds.
    Any(Vec<Termination>, String),
}

/// Where a team stands after a turn, as the termination conditions read it.
pub struct Progress<'a> {
    /// Turns played.
    pub rounds: u32,
    /// Tokens (in and out) of every model call of the team so far.
    pub tokens: u64,
    /// The last turn's reply.
    pub last: &'a str,
    /// Each actor's last reply's `Answer:` (`None`: it has not spoken, or gave none).
    pub answers: &'a [Option<String>],
}

/// How much a stop reason says, for the reason of conditions that hold together: an answer the
/// team agreed on says most, a count of turns least.
fn weight(reason: StopReason) -> u8 {
    match reason {
        StopReason::Consensus => 3,
        StopReason::Answer => 2,
        StopReason::Budget => 1,
        _ => 0,
    }
}

impl Termination {
    /// Parses a termination expression (see the module documentation).
    ///
    /// ```
    /// use agentos_agents::{Condition, Termination};
    /// let t = Termination::parse(r#"max_rounds(6) or (mention("TERMINATE") and min_rounds(2))"#).unwrap();
    /// let Termination::Any(parts, _) = &t else { panic!("{t:?}") };
    /// assert_eq!(parts[0], Termination::Is(Condition::MaxRounds(6), "max_rounds(6)".into()));
    /// assert_eq!(parts[1].text(), r#"mention("TERMINATE") and min_rounds(2)"#);
    /// assert!(Termination::parse("max_rounds(6) xor consensus").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Termination, ExpressionError> {
        let mut parser = Parser { text, chars: text.char_indices().collect(), at: 0 };
        let expression = parser.any()?;
        parser.skip_space();
        if let Some(&(_, c)) = parser.chars.get(parser.at) {
            let word = parser.word();
            let what = if word.is_empty() { c.to_string() } else { word };
            return Err(parser.error(format!("`{what}` after a complete expression"), "join conditions with `and` or `or`"));
        }
        Ok(expression)
    }

    /// Its text, as written (without surrounding parentheses).
    pub fn text(&self) -> &str {
        match self {
            Termination::Is(_, text) | Termination::All(_, text) | Termination::Any(_, text) => text,
        }
    }

    /// Whether it holds once enough turns are played, whatever the replies say: some
    /// `max_rounds` or `min_rounds` bounds it.
    pub fn bounded(&self) -> bool {
        match self {
            Termination::Is(condition, _) => matches!(condition, Condition::MaxRounds(_) | Condition::MinRounds(_)),
            Termination::All(parts, _) => parts.iter().all(Termination::bounded),
            Termination::Any(parts, _) => parts.iter().any(Termination::bounded),
        }
    }

    /// Whether the team must stop at `progress`: why ([`StopReason`]: max_rounds and
    /// min_rounds → max rounds, mention → answer, consensus → consensus, max_tokens → budget;
    /// of conditions that hold together, the one that says most) and the text of the part that
    /// holds.
    pub fn holds(&self, progress: &Progress<'_>) -> Option<(StopReason, &str)> {
        match self {
            Termination::Is(condition, text) => {
                let reason = match condition {
                    Condition::MaxRounds(n) | Condition::MinRounds(n) => (progress.rounds >= *n).then_some(StopReason::MaxRounds),
                    Condition::Mention(what) => progress.last.contains(what.as_str()).then_some(StopReason::Answer),
                    Condition::MaxTokens(n) => (progress.tokens >= *n).then_some(StopReason::Budget),
                    Condition::Consensus => {
                        let first = progress.answers.first().cloned().flatten();
                        let agreed = first
                            .is_some_and(|first| progress.answers.iter().all(|a| a.as_deref().is_some_and(|a| same_answer(a, &first))));
                        agreed.then_some(StopReason::Consensus)
                    }
                };
                reason.map(|r| (r, text.as_str()))
            }
            Termination::All(parts, text) => {
                let mut reason = StopReason::MaxRounds;
                for part in parts {
                    let (r, _) = part.holds(progress)?;
                    if weight(r) > weight(reason) {
                        reason = r;
                    }
                }
                Some((reason, text.as_str()))
            }
            Termination::Any(parts, _) => parts.iter().filter_map(|p| p.holds(progress)).fold(None, |best, hit| match best {
                Some(best @ (r, _)) if weight(r) >= weight(hit.0) => Some(best),
                _ => Some(hit),
            }),
        }
    }
}

/// Why a termination expression does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpressionError {
    /// Where, in characters from 1.
    pub column: usize,
    /// What is wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

impl fmt::Display for ExpressionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}; {}", self.column, self.problem, self.fix)
    }
}

impl std::error::Error for ExpressionError {}

/// The conditions, as an error lists them.
const CONDITIONS: &str = "max_rounds(N), min_rounds(N), mention(\"TEXT\"), max_tokens(N), consensus";

/// A recursive-descent parser of termination expressions: `or` of `and`s of conditions or
/// parenthesised expressions.
struct Parser<'a> {
    text: &'a str,
    chars: Vec<(usize, char)>,
    at: usize,
}

impl Parser<'_> {
    fn error(&self, problem: String, fix: &str) -> ExpressionError {
        ExpressionError { column: self.at + 1, problem, fix: fix.to_string() }
    }

    fn skip_space(&mut self) {
        while self.chars.get(self.at).is_some_and(|(_, c)| c.is_whitespace()) {
            self.at += 1;
        }
    }

    /// The byte offset of character `i` (the text's end past the last).
    fn offset(&self, i: usize) -> usize {
        self.chars.get(i).map_or(self.text.len(), |(o, _)| *o)
    }

    /// The text from character `start` to the parser's position, trimmed.
    fn since(&self, start: usize) -> String {
        self.text[self.offset(start)..self.offset(self.at)].trim().to_string()
    }

    /// The word (letters, digits, `_`) at the parser's position, without moving.
    fn word(&self) -> String {
        self.chars[self.at..].iter().map(|(_, c)| *c).take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
    }

    /// Takes the keyword `keyword` if it is next.
    fn keyword(&mut self, keyword: &str) -> bool {
        self.skip_space();
        if self.word() == keyword {
            self.at += keyword.len();
            return true;
        }
        false
    }

    fn any(&mut self) -> Result<Termination, ExpressionError> {
        self.joined("or", Self::all, Termination::Any)
    }

    fn all(&mut self) -> Result<Termination, ExpressionError> {
        self.joined("and", Self::atom, Termination::All)
    }

    /// Parts read by `part` joined by `keyword`: one part alone, or `join` of them all.
    fn joined(
        &mut self,
        keyword: &str,
        part: fn(&mut Self) -> Result<Termination, ExpressionError>,
        join: fn(Vec<Termination>, String) -> Termination,
    ) -> Result<Termination, ExpressionError> {
        self.skip_space();
        let start = self.at;
        let mut parts = vec![part(self)?];
        while self.keyword(keyword) {
            parts.push(part(self)?);
        }
        Ok(if parts.len() == 1 { parts.pop().unwrap() } else { join(parts, self.since(start)) })
    }

    fn atom(&mut self) -> Result<Termination, ExpressionError> {
        self.skip_space();
        let start = self.at;
        match self.chars.get(self.at).map(|(_, c)| *c) {
            None => Err(self.error("the expression ends where a condition should be".into(), &format!("add one of {CONDITIONS}"))),
            Some('(') => {
                self.at += 1;
                let inner = self.any()?;
                self.skip_space();
                if self.chars.get(self.at).map(|(_, c)| *c) != Some(')') {
                    return Err(self.error(format!("the `(` at column {} is not closed", start + 1), "add a `)`"));
                }
                self.at += 1;
                Ok(inner)
            }
            Some(_) => {
                let name = self.word();
                if name.is_empty() || name == "and" || name == "or" {
                    let what = if name.is_empty() { self.chars[self.at].1.to_string() } else { name };
                    return Err(self.error(format!("`{what}` where a condition should be"), &format!("write one of {CONDITIONS}")));
                }
                self.at += name.len();
                let condition = self.condition(&name, start)?;
                Ok(Termination::Is(condition, self.since(start)))
            }
        }
    }

    /// The condition called `name` (already read, from character `start`), with its argument.
    fn condition(&mut self, name: &str, start: usize) -> Result<Condition, ExpressionError> {
        let argument = self.argument()?;
        let count = |arg: &Option<Argument>| match arg {
            Some(Argument::Number(n)) if *n >= 1 => Ok(*n),
            _ => Err(ExpressionError {
                column: start + 1,
                problem: format!("`{name}` takes a whole number of at least 1"),
                fix: format!("write it as `{name}(6)`"),
            }),
        };
        Ok(match name {
            "max_rounds" => Condition::MaxRounds(u32::try_from(count(&argument)?).unwrap_or(u32::MAX)),
            "min_rounds" => Condition::MinRounds(u32::try_from(count(&argument)?).unwrap_or(u32::MAX)),
            "max_tokens" => Condition::MaxTokens(count(&argument)?),
            "mention" => match argument {
                Some(Argument::Text(text)) if !text.is_empty() => Condition::Mention(text),
                _ => {
                    return Err(ExpressionError {
                        column: start + 1,
                        problem: "`mention` takes a text in double quotes".into(),
                        fix: "write it as `mention(\"TERMINATE\")`".into(),
                    })
                }
            },
            "consensus" if argument.is_none() => Condition::Consensus,
            "consensus" => {
                return Err(ExpressionError {
                    column: start + 1,
                    problem: "`consensus` takes nothing".into(),
                    fix: "write it as `consensus`".into(),
                })
            }
            other => {
                return Err(ExpressionError {
                    column: start + 1,
                    problem: format!("unknown condition `{other}`"),
                    fix: format!("the conditions are {CONDITIONS}"),
                })
            }
        })
    }

    /// A condition's argument in parentheses, if it has any: a whole number or a quoted text
    /// (`\"` and `\\` escape).
    fn argument(&mut self) -> Result<Option<Argument>, ExpressionError> {
        self.skip_space();
        if self.chars.get(self.at).map(|(_, c)| *c) != Some('(') {
            return Ok(None);
        }
        let open = self.at;
        self.at += 1;
        self.skip_space();
        let argument = match self.chars.get(self.at).map(|(_, c)| *c) {
            Some(')') => None,
            Some('"') => {
                self.at += 1;
                let mut text = String::new();
                loop {
                    match self.chars.get(self.at).map(|(_, c)| *c) {
                        None => return Err(self.error("the text is not closed".into(), "end it with a `\"`")),
                        Some('"') => break,
                        Some('\\') if matches!(self.chars.get(self.at + 1).map(|(_, c)| *c), Some('"' | '\\')) => {
                            text.push(self.chars[self.at + 1].1);
                            self.at += 2;
                        }
                        Some(c) => {
                            text.push(c);
                            self.at += 1;
                        }
                    }
                }
                self.at += 1;
                Some(Argument::Text(text))
            }
            Some(c) if c.is_ascii_digit() => {
                let digits = self.word();
                self.at += digits.len();
                let n = digits.parse().map_err(|_| self.error(format!("`{digits}` is not a whole number"), "write digits only, as `6`"))?;
                Some(Argument::Number(n))
            }
            _ => {
                return Err(self.error(
                    "a condition's argument is a whole number or a text in double quotes".into(),
                    "as `max_rounds(6)` or `mention(\"DONE\")`",
                ))
            }
        };
        self.skip_space();
        if self.chars.get(self.at).map(|(_, c)| *c) != Some(')') {
            return Err(self.error(format!("the `(` at column {} is not closed", open + 1), "add a `)`"));
        }
        self.at += 1;
        Ok(argument)
    }
}

/// A condition's argument.
enum Argument {
    Number(u64),
    Text(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOOLS: &[&str] = &["calculator", "read_file"];

    /// `text` read with the run granted [`TOOLS`] and the model `model`.
    fn read(text: &str, model: Option<&str>) -> Result<TeamFile, TeamFileError> {
        let tools: Vec<String> = TOOLS.iter().map(|t| t.to_string()).collect();
        TeamFile::parse(text, "team.toml", &RunGrant { tools: &tools, model, check_model: None })
    }

    /// `text` is refused at `line`, the error saying each of `says`.
    fn refused(text: &str, model: Option<&str>, line: usize, says: &[&str]) {
        let error = read(text, model).expect_err(text);
        assert_eq!((error.file.as_str(), error.line), ("team.toml", line), "{error}");
        let shown = error.to_string();
        assert!(shown.starts_with(&format!("team.toml:{line}: ")), "{shown}");
        for s in says {
            assert!(shown.contains(s), "expected `{s}` in: {shown}");
        }
    }

    const REVIEW: &str = r#"structure = "decentralized"
protocol = "round_robin"
termination = 'max_rounds(6) or (mention("TERMINATE") and min_rounds(2))'

[[actor]]
name = "writer"
role = "You write."
tools = ["calculator"]

[[actor]]
name = "reviewer"
role = "You review."
model = "scripted:reviewer.json"
"#;

    #[test]
    fn reads_a_team_file() {
        let file = read(REVIEW, Some("scripted:m.json")).unwrap();
        assert_eq!((file.structure, file.protocol), (Structure::Decentralized, Protocol::RoundRobin));
        assert_eq!(file.actors.len(), 2);
        assert_eq!(file.actors[0].tools, vec!["calculator".to_string()]);
        assert_eq!(file.actors[1].model.as_deref(), Some("scripted:reviewer.json"));
        let members = file.members();
        assert_eq!((members[0].name.as_str(), members[0].model.as_deref()), ("writer", None));
        assert_eq!(file.termination.text(), r#"max_rounds(6) or (mention("TERMINATE") and min_rounds(2))"#);
    }

    #[test]
    fn bad_toml_and_unknown_keys_are_refused_at_their_line() {
        refused(
            "protocol = \"round_robin\"\nterminaton = 'max_rounds(2)'\n",
            None,
            2,
            &["unknown field `terminaton`", "remove the key, or correct its spelling"],
        );
        let text = "termination = 'max_rounds(2)'\n[[actor]]\nname = \"a\"\nrole = \"r\"\nmodle = \"x\"\n";
        refused(text, Some("m"), 5, &["unknown field `modle`", "expected one of", "remove the key"]);
        refused("protocol = \"round-robin\"\n", None, 1, &["unknown variant `round-robin`", "use one of the values it lists"]);
        refused("termination = 'max_rounds(2)'\n[[actor]]\nname = \"a\"\nrole = \n", None, 4, &["team file format"]);
    }

    #[test]
    fn an_empty_team_is_refused() {
        refused("termination = 'max_rounds(2)'\n", Some("m"), 1, &["the team has no actors", "add an `[[actor]]` table"]);
    }

    #[test]
    fn duplicate_and_bad_names_are_refused() {
        let text = "termination = 'max_rounds(2)'\n[[actor]]\nname = \"a\"\nrole = \"r\"\n[[actor]]\nname = \"a\"\nrole = \"s\"\n";
        refused(text, Some("m"), 6, &["two actors are named `a`", "give each actor its own name"]);
        let text = "termination = 'max_rounds(2)'\n[[actor]]\nname = \"Writer One\"\nrole = \"r\"\n";
        refused(text, Some("m"), 3, &["`Writer One` is not a member name", "use 1 to 32 of a-z"]);
    }

    #[test]
    fn an_unknown_tool_is_refused() {
        let text =
            "termination = 'max_rounds(2)'\n[[actor]]\nname = \"a\"\nrole = \"r\"\ntools = [\n  \"calculator\",\n  \"write_file\",\n]\n";
        refused(
            text,
            Some("m"),
            7,
            &["the tool `write_file`", "not granted (it has: calculator, read_file)", "grant it to the run with --tools"],
        );
    }

    #[test]
    fn an_actor_without_a_model_is_refused_when_the_run_has_none() {
        refused(
            REVIEW,
            None,
            6,
            &[
                "actor `writer` has no model, and the run has none",
                "add `model = \"<uri>\"` to the actor, or give the run one with --model",
            ],
        );
        let text = REVIEW.replace("role = \"You write.\"", "role = \"You write.\"\nmodel = \"not a uri\"");
        let tools = vec!["calculator".to_string()];
        let check = |uri: &str| if uri.contains(':') { Ok(()) } else { Err("no provider".to_string()) };
        let error = TeamFile::parse(&text, "team.toml", &RunGrant { tools: &tools, model: None, check_model: Some(&check) }).unwrap_err();
        assert_eq!(error.line, 8, "{error}");
        assert!(error.to_string().contains("actor `writer`'s model `not a uri`: no provider; fix its `model`"), "{error}");
        assert_eq!(read(&text.replace("not a uri", "scripted:w.json"), None).unwrap().lead_model(), Some("scripted:w.json"));
    }

    #[test]
    fn a_handoff_to_a_missing_actor_is_refused() {
        let text = "protocol = \"handoff\"\ntermination = 'max_rounds(4)'\n[[actor]]\nname = \"a\"\nrole = \"r\"\nhandoffs = [\"b\", \"c\"]\n[[actor]]\nname = \"b\"\nrole = \"s\"\n";
        refused(
            text,
            Some("m"),
            6,
            &["hands off to `c`, which is not an actor of the team (they are: a, b)", "name one of the team's actors"],
        );
        let file = read(&text.replace(", \"c\"", ""), Some("m")).unwrap();
        assert_eq!((file.handoff_targets(0), file.handoff_targets(1)), (vec![1], vec![0]));
        let round_robin = text.replace("handoff\"", "round_robin\"").replace(", \"c\"", "");
        refused(&round_robin, Some("m"), 6, &["declares handoffs, but the protocol is not `handoff`", "set `protocol = \"handoff\"`"]);
    }

    #[test]
    fn hierarchies_name_leads_declared_above() {
        let text = "structure = \"hierarchical\"\ntermination = 'max_rounds(4)'\n[[actor]]\nname = \"chief\"\nrole = \"r\"\n[[actor]]\nname = \"a\"\nrole = \"s\"\nlead = \"chief\"\n[[actor]]\nname = \"b\"\nrole = \"t\"\nlead = \"a\"\n";
        let file = read(text, Some("m")).unwrap();
        assert_eq!(file.actors.iter().map(|a| a.lead).collect::<Vec<_>>(), vec![None, Some(0), Some(1)]);
        assert!(file.sees(0, 1) && file.sees(1, 2) && file.sees(2, 1) && !file.sees(0, 2) && !file.sees(2, 0));
        refused(
            &text.replace("lead = \"a\"", "lead = \"c\""),
            Some("m"),
            13,
            &["lead `c` is not an actor declared above it (those are: chief, a)"],
        );
        refused(
            &text.replace("lead = \"a\"\n", ""),
            Some("m"),
            11,
            &["actor `b` has no lead", "naming an actor declared above it (as `chief`)"],
        );
        refused(&text.replace("hierarchical", "centralized"), Some("m"), 9, &["has a lead, but the structure is not `hierarchical`"]);
        let star =
            read(&text.replace("hierarchical", "centralized").replace("lead = \"chief\"\n", "").replace("lead = \"a\"\n", ""), Some("m"))
                .unwrap();
        assert!(star.sees(0, 2) && star.sees(2, 0) && star.sees(1, 1) && !star.sees(1, 2));
    }

    #[test]
    fn bad_termination_expressions_are_refused_at_their_line() {
        let file = |termination: &str| {
            format!("protocol = \"round_robin\"\n\ntermination = '{termination}'\n[[actor]]\nname = \"a\"\nrole = \"r\"\n")
        };
        refused(
            &file("max_rounds(6) xor consensus"),
            Some("m"),
            3,
            &["`xor` after a complete expression (column 15)", "join conditions with `and` or `or`"],
        );
        refused(
            &file("max_rounds(6) or mention(DONE)"),
            Some("m"),
            3,
            &["argument is a whole number or a text in double quotes (column 26)"],
        );
        refused(&file("max_round(6)"), Some("m"), 3, &["unknown condition `max_round` (column 1)", "the conditions are max_rounds(N)"]);
        refused(&file("(max_rounds(6) or consensus"), Some("m"), 3, &["the `(` at column 1 is not closed", "add a `)`"]);
        refused(&file("max_rounds(0)"), Some("m"), 3, &["`max_rounds` takes a whole number of at least 1", "write it as `max_rounds(6)`"]);
        refused(&file("max_rounds(6) and"), Some("m"), 3, &["ends where a condition should be"]);
        refused(
            &file("mention(\"DONE\") or consensus"),
            Some("m"),
            3,
            &["may never hold", "bound it, as `mention(\"DONE\") or consensus or max_rounds(6)`"],
        );
        refused("[[actor]]\nname = \"a\"\nrole = \"r\"\n", Some("m"), 1, &["the team has no termination", "add one"]);
    }

    #[test]
    fn a_selector_needs_two_actors() {
        let text = "protocol = \"selector\"\ntermination = 'max_rounds(4)'\n[[actor]]\nname = \"a\"\nrole = \"r\"\n";
        refused(text, Some("m"), 1, &["the selector never picks the same actor twice in a row", "add another `[[actor]]`"]);
    }

    #[test]
    fn terminations_combine_with_and_or_and_say_why_they_hold() {
        let t = Termination::parse(r#"max_rounds(6) or (mention("TERMINATE") and min_rounds(2)) or consensus"#).unwrap();
        assert!(t.bounded());
        let answers = [Some("7".to_string()), Some("8".to_string())];
        let at = |rounds, last| Progress { rounds, tokens: 0, last, answers: &answers };
        assert_eq!(t.holds(&at(1, "TERMINATE")), None, "min_rounds(2) guards the mention");
        assert_eq!(t.holds(&at(2, "TERMINATE")), Some((StopReason::Answer, r#"mention("TERMINATE") and min_rounds(2)"#)));
        assert_eq!(t.holds(&at(6, "go on")), Some((StopReason::MaxRounds, "max_rounds(6)")));
        assert_eq!(t.holds(&at(6, "TERMINATE")).unwrap().0, StopReason::Answer, "an answer says more than a count");
        let agreed = [Some("7".to_string()), Some("7.0".to_string())];
        assert_eq!(t.holds(&Progress { rounds: 3, tokens: 0, last: "", answers: &agreed }), Some((StopReason::Consensus, "consensus")));
        let tokens = Termination::parse("max_tokens(100) or max_rounds(9)").unwrap();
        assert_eq!(
            tokens.holds(&Progress { rounds: 1, tokens: 120, last: "", answers: &answers }),
            Some((StopReason::Budget, "max_tokens(100)"))
        );
        assert!(!Termination::parse("max_tokens(100)").unwrap().bounded(), "a provider may report no tokens");
        let escaped = Termination::parse(r#"mention("say \"done\"") and max_rounds(2)"#).unwrap();
        assert!(escaped.holds(&at(2, "I say \"done\"")).is_some());
    }
}
