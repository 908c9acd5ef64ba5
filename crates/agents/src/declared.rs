//! The `team` strategy: plays the team file stored in the run's spec
//! ([`agentos_kernel::RunSpec::team_file`], read and checked by [`TeamFile::parse`]), so that a
//! resumed run rebuilds the same team from the same text.
//!
//! Each actor is a member run of the team. Round `r` is turn `r`: the speaker, chosen by the
//! file's protocol, first reads from the team's board (a journaled [`Team::read`]) every earlier
//! round it has not read yet whose speaker it sees (the file's structure), then makes its model
//! call (with its tools, if it has any and its model calls them natively) on the task and the
//! conversation it has seen, and puts its reply on the board ([`Team::post`], round `r`). After
//! each turn the file's termination is checked; the team stops with the reason of the condition
//! that holds and its text in the `team_stopped` event's detail, and answers with the latest
//! `Answer:` line of the turns (the last reply's when it has one), else what the last reply ends
//! with. A budget of the run that runs out stops the team with [`StopReason::Budget`].
//!
//! Protocols: `round_robin` gives the turns in the file's order; `selector` asks the team run's
//! own agent, in a journaled model call that sees every turn, who speaks next among the actors
//! but the last speaker (a reply that names none of them, or the last speaker, is answered with
//! what was wrong and asked again, [`SELECTOR_ATTEMPTS`] times, then the actor after the last
//! speaker takes the turn); `handoff` starts with the first actor, and a reply whose line
//! `HANDOFF: <name>` names an actor the speaker may pass to gives that actor the next turn,
//! while a reply without one keeps the turn with its speaker (AutoGen's Swarm). A handoff to an
//! actor that is not in the team, or not among the speaker's `handoffs`, is refused as an
//! observation: the speaker speaks again, told why and whom it may pass to.

use crate::answer::labeled_answer;
use crate::team::{conclude, reply, request, turn, Outcome};
use crate::teamfile::{Progress, Protocol, RunGrant, TeamFile};
use crate::{extract_answer, sampling, AgentError, Strategy};
use agentos_core::{ChatRequest, Message, Usage};
use agentos_kernel::{Agent, KernelError, StopReason, Team};
use async_trait::async_trait;
use serde_json::json;

/// The `team` strategy: plays the run's team file. See the module documentation.
pub struct DeclaredTeam;

/// How many times the selector is asked for the next speaker before the actor after the last
/// speaker takes the turn (AutoGen's default).
pub const SELECTOR_ATTEMPTS: u32 = 3;

/// The selector's system message.
const SELECTOR_ROLE: &str = "You coordinate a team of actors who work on a task together. \
Read the task and the conversation so far, and choose the actor who should speak next.";

#[async_trait]
impl Strategy for DeclaredTeam {
    fn name(&self) -> &'static str {
        "team"
    }

    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        let spec = agent.spec();
        let text = spec.team_file.as_deref().ok_or_else(|| {
            KernelError::Config(
                "the `team` strategy plays a team file, and this run has none; run one with `agentos run --team FILE`".into(),
            )
        })?;
        let tools: Vec<String> = spec.capabilities.tools.iter().cloned().collect();
        let file = TeamFile::parse(text, "the run's team file", &RunGrant { tools: &tools, model: Some(&spec.model), check_model: None })?;
        let team = agent.team(file.members()).await?;
        let played = play(agent, &file, &team).await;
        conclude(team, played).await
    }
}

/// One turn as an actor or the selector reads it: its round, its speaker's name and the reply.
struct Said {
    round: u32,
    speaker: String,
    text: String,
}

/// The turns, one a round, until the termination holds or a budget runs out.
async fn play(agent: &Agent, file: &TeamFile, team: &Team<'_>) -> Result<Outcome, AgentError> {
    let members = team.members();
    let n = members.len();
    let temperature = sampling(agent).temperature;
    // What each actor has read (its own turns included) and the first round it has not read.
    let mut seen: Vec<(Vec<Said>, u32)> = (0..n).map(|_| (Vec::new(), 0)).collect();
    // Every turn's speaker and reply, by round.
    let mut turns: Vec<(usize, String)> = Vec::new();
    let mut answers: Vec<Option<String>> = vec![None; n];
    let mut tokens = 0;
    let (mut next, mut note) = (0, None);
    let spent = |turns: &[(usize, String)]| {
        let round = turns.len().saturating_sub(1) as u32;
        Ok(Outcome { answer: answer(turns), reason: StopReason::Budget, round, detail: json!({ "condition": "the run's budget" }) })
    };
    for round in 0u32.. {
        let speaker = match file.protocol {
            Protocol::RoundRobin => round as usize % n,
            Protocol::Handoff => next,
            Protocol::Selector => match select(agent, file, &turns, &mut tokens).await? {
                Some(speaker) => speaker,
                None => return spent(&turns),
            },
        };
        let member = &members[speaker];
        let (read, unread) = &mut seen[speaker];
        for earlier in *unread..round {
            let by = turns[earlier as usize].0;
            if by != speaker && file.sees(speaker, by) {
                for post in team.read(member, earlier).await? {
                    read.push(Said { round: earlier, speaker: post.sender, text: post.text });
                }
            }
        }
        *unread = round;
        let prompt = actor_prompt(agent, file, speaker, read, note.take());
        let ask = request(member, vec![Message::user(prompt)], temperature, speaker);
        let Some(reply) = turn(member, ask, agent.spec().max_steps).await? else { return spent(&turns) };
        tokens += used(reply.usage);
        let text = reply.message.content();
        team.post(member, round, &text, reply.usage.output_tokens).await?;
        read.push(Said { round, speaker: file.actors[speaker].name.clone(), text: text.clone() });
        answers[speaker] = labeled_answer(&text);
        if file.protocol == Protocol::Handoff {
            (next, note) = handoff(file, speaker, &text);
        }
        turns.push((speaker, text));
        let last = &turns[round as usize].1;
        let progress = Progress { rounds: round + 1, tokens, last, answers: &answers };
        if let Some((reason, condition)) = file.termination.holds(&progress) {
            let detail = json!({ "condition": condition, "termination": file.termination.text() });
            return Ok(Outcome { answer: answer(&turns), reason, round, detail });
        }
    }
    unreachable!("the termination is bounded by max_rounds or min_rounds (TeamFile::parse)")
}

/// Tokens in and out of a model call.
fn used(usage: Usage) -> u64 {
    usage.input_tokens + usage.output_tokens
}

/// The team's answer: the latest `Answer:` line of the turns, else what the last reply ends with.
fn answer(turns: &[(usize, String)]) -> Option<String> {
    let labeled = turns.iter().rev().find_map(|(_, text)| labeled_answer(text));
    labeled.or_else(|| turns.last().map(|(_, text)| extract_answer(text))).filter(|a| !a.is_empty())
}

/// The turns `said`, each headed by its round and speaker (`you` marks `me`'s).
fn transcript(said: &[Said], me: Option<&str>) -> String {
    let turn = |s: &Said| {
        let you = if Some(s.speaker.as_str()) == me { " (you)" } else { "" };
        format!("[round {}] {}{you}:\n{}", s.round, s.speaker, s.text.trim())
    };
    said.iter().map(turn).collect::<Vec<_>>().join("\n\n")
}

/// What actor `speaker` is asked: the task, the turns it has read, why its handoff was refused
/// (`note`), and, under the handoff protocol, how to pass the turn.
fn actor_prompt(agent: &Agent, file: &TeamFile, speaker: usize, read: &[Said], note: Option<String>) -> String {
    let name = &file.actors[speaker].name;
    let mut prompt = format!("Task:\n{}", agent.task());
    if !read.is_empty() {
        prompt.push_str(&format!("\n\nThe team's conversation so far:\n\n{}", transcript(read, Some(name))));
    }
    if let Some(note) = note {
        prompt.push_str(&format!("\n\n{note}"));
    }
    prompt.push_str(&format!("\n\nYou are `{name}`, and it is your turn."));
    if file.protocol == Protocol::Handoff {
        let targets: Vec<&str> = file.handoff_targets(speaker).iter().map(|i| file.actors[*i].name.as_str()).collect();
        if !targets.is_empty() {
            prompt.push_str(&format!(
                " To pass the turn to another actor, end your reply with a line `HANDOFF: <name>` after your `Answer:` line, \
                 naming one of: {}. Without it, you speak again.",
                targets.join(", ")
            ));
        }
    }
    prompt
}

/// Who speaks after `speaker`'s reply `text` under the handoff protocol, and what they are told:
/// the actor its last `HANDOFF:` line names, when `speaker` may pass to it; else `speaker`
/// again, told why its handoff was refused if it made one.
fn handoff(file: &TeamFile, speaker: usize, text: &str) -> (usize, Option<String>) {
    let named = text.lines().rev().find_map(|line| {
        let line = line.trim().trim_matches(|c: char| c == '*' || c == '`');
        let label = line.get(..8).filter(|l| l.eq_ignore_ascii_case("handoff:"))?;
        Some(
            line[label.len()..]
                .trim_matches(|c: char| c.is_whitespace() || matches!(c, '*' | '`' | '"' | '\'' | '.' | '<' | '>'))
                .to_string(),
        )
    });
    let Some(named) = named else { return (speaker, None) };
    let targets = file.handoff_targets(speaker);
    let names: Vec<&str> = targets.iter().map(|i| file.actors[*i].name.as_str()).collect();
    match file.position(&named) {
        Some(to) if to == speaker || targets.contains(&to) => (to, None),
        found => {
            let why = if found.is_some() { "you may not pass the turn to it" } else { "there is no actor of that name in the team" };
            let note = format!("Observation: your handoff to `{named}` was refused: {why}. Hand off to one of: {}.", names.join(", "));
            (speaker, Some(note))
        }
    }
}

/// The next speaker, asked of the team run's own agent: any actor but the last speaker. `None`
/// when a budget ran out first.
async fn select(agent: &Agent, file: &TeamFile, turns: &[(usize, String)], tokens: &mut u64) -> Result<Option<usize>, AgentError> {
    let n = file.actors.len();
    let last = turns.last().map(|(speaker, _)| *speaker);
    let candidates: Vec<usize> = (0..n).filter(|i| Some(*i) != last).collect();
    let said: Vec<Said> = turns
        .iter()
        .enumerate()
        .map(|(round, (speaker, text))| Said { round: round as u32, speaker: file.actors[*speaker].name.clone(), text: text.clone() })
        .collect();
    let actors: Vec<String> = file.actors.iter().map(|a| format!("- {}: {}", a.name, a.role.trim())).collect();
    let names: Vec<&str> = candidates.iter().map(|i| file.actors[*i].name.as_str()).collect();
    let mut prompt = format!("Task:\n{}\n\nThe actors:\n{}", agent.task(), actors.join("\n"));
    if !said.is_empty() {
        prompt.push_str(&format!("\n\nThe conversation so far:\n\n{}", transcript(&said, None)));
    }
    prompt.push_str(&format!("\n\nWho speaks next? Choose one of: {}. Reply with the name alone.", names.join(", ")));
    let mut conversation = vec![Message::system(SELECTOR_ROLE), Message::user(prompt)];
    for _ in 0..SELECTOR_ATTEMPTS {
        let ask = ChatRequest { messages: conversation.clone(), sampling: sampling(agent), ..Default::default() };
        let Some(answer) = reply(agent, ask).await? else { return Ok(None) };
        *tokens += used(answer.usage);
        let text = answer.message.content();
        match pick(file, &candidates, last, &text) {
            Ok(speaker) => return Ok(Some(speaker)),
            Err(why) => {
                conversation.push(Message::assistant(text));
                conversation.push(Message::user(format!("{why} Reply with one of: {}, the name alone.", names.join(", "))));
            }
        }
    }
    Ok(Some(last.map_or(0, |l| (l + 1) % n)))
}

/// The actor the selector's reply `text` names among `candidates`: the reply itself, or the one
/// actor it mentions; else what is wrong with it.
fn pick(file: &TeamFile, candidates: &[usize], last: Option<usize>, text: &str) -> Result<usize, String> {
    let lower = text.to_lowercase();
    let bare = lower.trim().trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    let mut named: Vec<usize> = match file.position(bare) {
        Some(i) => vec![i],
        None => lower.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')).filter_map(|w| file.position(w)).collect(),
    };
    named.sort_unstable();
    named.dedup();
    match named[..] {
        [i] if candidates.contains(&i) => Ok(i),
        [i] if Some(i) == last => Err(format!("`{}` just spoke, and may not speak twice in a row.", file.actors[i].name)),
        [] | [_] => Err("Your reply names none of the actors who may speak next.".into()),
        _ => Err("Your reply names more than one actor.".into()),
    }
}
