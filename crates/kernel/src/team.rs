//! Teams: a team run owns member runs, and its members talk over one board (after the
//! multi-agent collaboration survey's blackboard; Tran et al., 2025).
//!
//! A team is a run like any other (its strategy is the team's topology) whose [`Agent`] opens
//! members with [`Agent::team`]. Each member is a run of its own with the stable id
//! `<team>.<member>`, its seat in the team ([`Seat`]) stored in its spec and in `team_members`,
//! and its own journal, usage and budget. A resumed team opens the same members by those ids,
//! never by position, and each replays its own journal: no member repeats a recorded step.
//!
//! Members talk only through journaled syscalls on the team's board: [`Team::post`] puts a
//! member's message of a round on it (the step and the board's row in one transaction), and
//! [`Team::read`] gives a member the other members' messages of a round, journaled with what it
//! saw. Topologies read a round only once every member has posted in it, so a replayed read and a
//! live one see the same messages.
//!
//! Budgets: each member's own ([`MemberSpec::budget`]), and the team run's budget over the team
//! as a whole (the lead's and every member's usage together), both checked by the kernel before
//! every model call. Every team records why it stopped ([`StopReason`], a `team_stopped` event),
//! and why a member was dropped before it (`member_dropped`).

use crate::agent::Agent;
use crate::context::Snapshot;
use crate::error::KernelError;
use crate::storage::{RunRecord, StorageError};
use crate::{Budget, Ending, Kernel, RunSpec};
use agentos_core::{MessageOp, Post, RunId, Step, StepKind, Usage};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The tables of teams: each member run's seat, and the board.
pub(crate) const SCHEMA: &str = r#"
-- A member run's seat in its team run (crate::team); the member's run id is `<team>.<member>`.
CREATE TABLE team_members (
    team   INTEGER NOT NULL REFERENCES runs(key),
    member TEXT NOT NULL,
    run    INTEGER NOT NULL UNIQUE REFERENCES runs(key),
    PRIMARY KEY (team, member)
);
-- The team's board: one message per member and round, written with the post step that
-- journals it (run, seq).
CREATE TABLE board (
    team   INTEGER NOT NULL REFERENCES runs(key),
    round  INTEGER NOT NULL,
    sender TEXT NOT NULL,
    text   TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    run    INTEGER NOT NULL REFERENCES runs(key),
    seq    INTEGER NOT NULL,
    PRIMARY KEY (team, round, sender)
);
"#;

/// Who a member of a team is: what a topology asks [`Agent::team`] for.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberSpec {
    /// Its name in the team: 1 to 32 of `a-z`, `0-9`, `-`, `_`; its run id is `<team>.<name>`.
    pub name: String,
    /// Its role prompt, the system message of its model calls.
    pub role: String,
    /// Its model URI (`None`: the team's).
    pub model: Option<String>,
    /// The tools it may call: some of the team's.
    pub tools: Vec<String>,
    /// What it may spend on its own (the team's budget bounds the team as a whole).
    pub budget: Budget,
}

impl MemberSpec {
    /// A member `name` with `role`, on the team's model, with no tools and no budget of its own.
    pub fn new(name: impl Into<String>, role: impl Into<String>) -> Self {
        MemberSpec { name: name.into(), role: role.into(), model: None, tools: Vec::new(), budget: Budget::default() }
    }
}

/// A member run's seat in its team, stored in its [`RunSpec::seat`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seat {
    /// The team run's id.
    pub team: String,
    /// The member's name in the team.
    pub member: String,
    /// Its role prompt.
    pub role: String,
}

/// Why a team stopped, recorded as its `team_stopped` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Enough members agreed.
    Consensus,
    /// The topology reached its answer (a pipeline's last role answered).
    Answer,
    /// A budget of the team or a member ran out.
    Budget,
    /// The last round was played without consensus.
    MaxRounds,
    /// Every member still in the team stopped giving answers.
    Stall,
    /// Every member still in the team repeated its previous message word for word.
    Repetition,
}

impl StopReason {
    /// Its name, as stored: `consensus`, `answer`, `budget`, `max_rounds`, `stall`, `repetition`.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Consensus => "consensus",
            StopReason::Answer => "answer",
            StopReason::Budget => "budget",
            StopReason::MaxRounds => "max_rounds",
            StopReason::Stall => "stall",
            StopReason::Repetition => "repetition",
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a team spends, shared by its lead and members: the team budget is checked against it.
pub(crate) struct Ledger {
    team: RunId,
    budget: Budget,
    /// The usage of the lead and of each member, and the model calls admitted but not yet
    /// answered.
    spent: Mutex<(Vec<Arc<Mutex<Usage>>>, u64)>,
}

/// A model call admitted under a team's budget; it stops counting as in flight when dropped
/// (after its usage was charged).
pub(crate) struct Admitted<'a>(&'a Ledger);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.spent.lock().unwrap().1 -= 1;
    }
}

impl Ledger {
    /// Admits one more model call unless the team as a whole has spent its budget; calls in
    /// flight count as made, so members asked at once cannot overrun the budget together.
    pub(crate) fn admit(&self) -> Result<Admitted<'_>, KernelError> {
        let mut spent = self.spent.lock().unwrap();
        let mut used = Usage::default();
        for usage in &spent.0 {
            used += *usage.lock().unwrap();
        }
        used.model_calls += spent.1;
        crate::agent::check_spent(&self.team, &self.budget, used, None)?;
        spent.1 += 1;
        Ok(Admitted(self))
    }
}

/// A team's open members, for its topology: their agents (for model calls), the board and the
/// team's ending.
pub struct Team<'a> {
    lead: &'a Agent,
    members: Vec<Agent>,
}

/// Whether `name` can name a member (and so be part of a run id).
fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl Agent {
    /// Opens this run's team: one member run per spec, created the first time and found again by
    /// its stable id `<team>.<name>` on resume (its journal replays; a member that had finished
    /// only replays). Members share this run's controls (interrupting the team interrupts them)
    /// and its budget, which bounds the team as a whole.
    pub async fn team(&self, members: Vec<MemberSpec>) -> Result<Team<'_>, KernelError> {
        if members.is_empty() {
            return Err(KernelError::Config("a team needs at least one member".into()));
        }
        let kernel = Kernel { inner: self.kernel.clone() };
        let mut names = std::collections::BTreeSet::new();
        for m in &members {
            if !valid_name(&m.name) {
                return Err(KernelError::Config(format!(
                    "member name `{}`: use 1 to 32 of a-z, 0-9, - and _ (it becomes part of the member's run id)",
                    m.name
                )));
            }
            if !names.insert(&m.name) {
                return Err(KernelError::Config(format!("two members are named `{}`; give each its own name", m.name)));
            }
            let granted = &self.spec.capabilities.tools;
            if let Some(tool) = m.tools.iter().find(|t| !granted.contains(*t)) {
                return Err(KernelError::Config(format!(
                    "member `{}` asks for tool `{tool}`, which the team was not granted; grant it to the team (--tools) or drop it",
                    m.name
                )));
            }
        }
        let ledger =
            Arc::new(Ledger { team: self.run.clone(), budget: self.spec.budget.clone(), spent: Mutex::new((vec![self.usage.clone()], 0)) });
        let mut opened = Vec::with_capacity(members.len());
        for m in members {
            let member = self.open_member(&kernel, m).await?;
            ledger.spent.lock().unwrap().0.push(member.usage.clone());
            let _ = member.ledger.set(ledger.clone());
            opened.push(member);
        }
        let _ = self.ledger.set(ledger);
        Ok(Team { lead: self, members: opened })
    }

    /// One member run: found again by its id, or created.
    async fn open_member(&self, kernel: &Kernel, m: MemberSpec) -> Result<Agent, KernelError> {
        let id = RunId(format!("{}.{}", self.run, m.name));
        let snapshot = match Snapshot::load(&self.kernel.storage, id.as_str()) {
            Ok(snapshot) => Some(snapshot),
            Err(KernelError::Storage(StorageError::UnknownRun(_))) => None,
            Err(e) => return Err(e),
        };
        let member = match snapshot {
            Some(snapshot) if snapshot.record.status == "finished" => {
                let spec = snapshot.spec()?;
                kernel.replay_only(snapshot, spec)?
            }
            Some(snapshot) => kernel.restore(snapshot).await?,
            None => {
                let seat = Seat { team: self.run.to_string(), member: m.name.clone(), role: m.role };
                let spec = RunSpec {
                    strategy: format!("{}/{}", self.spec.strategy, m.name),
                    model: m.model.unwrap_or_else(|| self.spec.model.clone()),
                    capabilities: crate::Capabilities { tools: m.tools.into_iter().collect(), ..self.spec.capabilities.clone() },
                    budget: m.budget,
                    roles: BTreeMap::new(),
                    memory_scopes: Vec::new(),
                    seat: Some(seat),
                    team_file: None,
                    task: self.task().to_string(),
                    ..self.spec.clone()
                };
                let agent = kernel.agent(id.clone(), spec.clone(), Vec::new())?;
                let value = serde_json::to_value(&spec).expect("a run spec serializes");
                let record = RunRecord::starting(id, &spec.task, &spec.strategy, &spec.model, value);
                self.kernel.storage.create_member(record, &self.run, &m.name).await?;
                agent
            }
        };
        Ok(member.controlled_by(self.control.clone()))
    }
}

impl Team<'_> {
    /// The members, in the order they were asked for.
    pub fn members(&self) -> &[Agent] {
        &self.members
    }

    /// The member called `name`.
    pub fn member(&self, name: &str) -> Option<&Agent> {
        self.members.iter().find(|m| m.seat().is_some_and(|s| s.member == name))
    }

    /// Syscall of `member`: puts `text`, its message of `round`, on the team's board; `tokens`
    /// is what it spent writing it (its reply's output tokens).
    pub async fn post(&self, member: &Agent, round: u32, text: &str, tokens: u64) -> Result<(), KernelError> {
        let seat = member.seat().ok_or_else(|| KernelError::Config(format!("run {} is not a member of a team", member.run)))?.clone();
        let op = MessageOp::Post { round, text: text.to_string(), tokens };
        let seq = member.begin()?;
        if member.replay(seq, crate::agent::Asked::Message(&op))?.is_some() {
            return Ok(());
        }
        let started = Instant::now();
        let step = Step { seq, kind: StepKind::Message { op, posts: Vec::new() }, duration_ms: started.elapsed().as_millis() as u64 };
        let (team, run, text) = (seat.team, member.run.to_string(), text.to_string());
        member
            .kernel
            .storage
            .record_step_with(&member.run, &step, move |c| {
                c.prepare_cached(
                    "INSERT INTO board (team, round, sender, text, tokens, run, seq) \
                     SELECT t.key, ?2, ?3, ?4, ?5, m.key, ?7 FROM runs t, runs m WHERE t.id = ?1 AND m.id = ?6",
                )?
                .execute(params![team, round, seat.member, text, tokens as i64, run, seq as i64])?;
                Ok(())
            })
            .await?;
        member.emit(|| agentos_core::Event::Step { run: member.run.clone(), step, replayed: false });
        Ok(())
    }

    /// Syscall of `member`: the other members' messages of `round`, in the order of their names,
    /// journaled with what it saw.
    pub async fn read(&self, member: &Agent, round: u32) -> Result<Vec<Post>, KernelError> {
        let seat = member.seat().ok_or_else(|| KernelError::Config(format!("run {} is not a member of a team", member.run)))?;
        let op = MessageOp::Read { round };
        let seq = member.begin()?;
        if let Some(StepKind::Message { posts, .. }) = member.replay(seq, crate::agent::Asked::Message(&op))? {
            return Ok(posts);
        }
        let started = Instant::now();
        let posts: Vec<Post> =
            member.kernel.storage.board(&seat.team)?.into_iter().filter(|p| p.round == round && p.sender != seat.member).collect();
        let step = Step { seq, kind: StepKind::Message { op, posts: posts.clone() }, duration_ms: started.elapsed().as_millis() as u64 };
        member.record(&step, None).await?;
        Ok(posts)
    }

    /// Records that `member` leaves the team's remaining rounds, and why (a `member_dropped`
    /// event of the team run).
    pub async fn drop_member(&self, member: &Agent, round: u32, why: &str) -> Result<(), KernelError> {
        let name = member.seat().map_or_else(|| member.run.to_string(), |s| s.member.clone());
        let payload = serde_json::json!({ "member": name, "round": round, "reason": why });
        self.lead.kernel.storage.record_event(&self.lead.run, "member_dropped", payload).await?;
        Ok(())
    }

    /// Ends the team: records why it stopped (`team_stopped`, with the round and `detail`) and
    /// ends every member that is still live, as `ending` says (a finished team's members finish
    /// with their last message).
    pub async fn stop(self, reason: StopReason, round: u32, detail: serde_json::Value, ending: &Ending) -> Result<(), KernelError> {
        let payload = serde_json::json!({ "reason": reason, "round": round, "detail": detail });
        self.lead.kernel.storage.record_event(&self.lead.run, "team_stopped", payload).await?;
        self.dismiss(ending).await
    }

    /// Ends every member that is still live as `ending` says, without recording a stop reason:
    /// for a team whose run ends on an error (interrupted, suspended, failed).
    pub async fn dismiss(self, ending: &Ending) -> Result<(), KernelError> {
        let kernel = Kernel { inner: self.lead.kernel.clone() };
        let posts = self.lead.kernel.storage.board(self.lead.run.as_str())?;
        for member in &self.members {
            if member.replay_only {
                continue;
            }
            let ending = match ending {
                Ending::Finished(_) => {
                    let name = member.seat().map(|s| s.member.as_str());
                    let last = posts.iter().rev().find(|p| Some(p.sender.as_str()) == name).map(|p| p.text.clone());
                    Ending::Finished(last.unwrap_or_default())
                }
                other => other.clone(),
            };
            kernel.finish(member, ending).await?;
        }
        Ok(())
    }
}

impl crate::Storage {
    /// Every message on the board of team run `team`, by round, then sender (none for a run that
    /// is not a team).
    pub fn board(&self, team: &str) -> Result<Vec<Post>, StorageError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT round, sender, text, tokens FROM board WHERE team = (SELECT key FROM runs WHERE id = ?1) ORDER BY round, sender",
            )?;
            let rows = stmt
                .query_map([team], |r| {
                    Ok(Post { round: r.get(0)?, sender: r.get(1)?, text: r.get(2)?, tokens: r.get::<_, i64>(3)? as u64 })
                })?
                .collect::<rusqlite::Result<Vec<_>>>();
            rows
        })
    }

    /// The members of team run `team`, by name, each with its run id (none for a run that is not
    /// a team).
    pub fn team_members(&self, team: &str) -> Result<Vec<(String, RunId)>, StorageError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT tm.member, r.id FROM team_members tm JOIN runs r ON r.key = tm.run \
                 WHERE tm.team = (SELECT key FROM runs WHERE id = ?1) ORDER BY tm.member",
            )?;
            let rows = stmt.query_map([team], |r| Ok((r.get(0)?, RunId(r.get(1)?))))?.collect::<rusqlite::Result<Vec<_>>>();
            rows
        })
    }
}
