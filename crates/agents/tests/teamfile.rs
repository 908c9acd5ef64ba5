//! Declared teams (`--team FILE`, the `team` strategy) over the real kernel with scripted models:
//! round-robin turns and what each actor reads under each structure, the selector (its refused
//! picks and its fallback), handoffs (refused ones become observations), termination conditions
//! combined with `and` / `or` and the stop reasons they record, an actor's tools within its turn,
//! and a team resumed from its stored team file without repeating a member's call.

mod common;

use agentos_agents::{drive, strategy};
use agentos_core::{MessageOp, StepKind};
use agentos_kernel::{Agent, Ending, Interruption, RunSpec};
use common::{call, setup, Asked, Reply, Setup};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A team run of `file` on the scripted model `scripted:m0` for the task `What is 3 + 4?`.
fn team(s: &Setup, file: &str) -> RunSpec {
    RunSpec { team_file: Some(file.to_string()), ..s.spec("team") }
}

/// Three actors, `writer`, `reviewer` and `editor`, after the settings `head`.
fn three(head: &str) -> String {
    let actor = |name: &str| format!("\n[[actor]]\nname = \"{name}\"\nrole = \"You are the {name}.\"\n");
    format!("{head}\n{}{}{}", actor("writer"), actor("reviewer"), actor("editor"))
}

/// The actor whose role prompt `system` is.
fn who(system: &str) -> &'static str {
    ["writer", "reviewer", "editor"].into_iter().find(|name| system.contains(&format!("You are the {name}."))).unwrap_or("selector")
}

/// Replies scripted per actor: each actor's `n`-th call gets its `n`-th line (the last one again
/// after). Every prompt is kept in `prompts`, as (actor, last user message).
fn by_actor(script: Vec<(&'static str, Vec<&'static str>)>, prompts: Arc<Mutex<Vec<(String, String)>>>) -> Box<Reply> {
    let counts: Vec<AtomicUsize> = script.iter().map(|_| AtomicUsize::new(0)).collect();
    Box::new(move |asked: &Asked<'_>| {
        let me = who(asked.system);
        prompts.lock().unwrap().push((me.to_string(), asked.user.to_string()));
        let i = script.iter().position(|(name, _)| *name == me).unwrap_or_else(|| panic!("no script for {me}"));
        let n = counts[i].fetch_add(1, Ordering::SeqCst);
        let lines = &script[i].1;
        lines[n.min(lines.len() - 1)].to_string()
    })
}

/// The `team_stopped` event's reason, round and detail.
fn stop(s: &Setup, agent: &Agent) -> (String, u64, Value) {
    let (stopped, _) = s.stopped(agent);
    (stopped["reason"].as_str().unwrap().to_string(), stopped["round"].as_u64().unwrap(), stopped["detail"].clone())
}

/// Who posted each round of the team's board, in order.
fn speakers(s: &Setup, agent: &Agent) -> Vec<String> {
    let board = s.kernel.storage().board(agent.run().as_str()).unwrap();
    let rounds: Vec<u32> = board.iter().map(|p| p.round).collect();
    assert_eq!(rounds, (0..board.len() as u32).collect::<Vec<_>>(), "one post a round");
    board.iter().map(|p| p.sender.clone()).collect()
}

/// The rounds member `name` of team run `agent` read from the board, and whose posts it saw.
fn reads(s: &Setup, agent: &Agent, name: &str) -> Vec<(u32, Vec<String>)> {
    let run = agentos_core::RunId(format!("{}.{name}", agent.run()));
    let steps = s.kernel.storage().steps(&run).unwrap();
    steps
        .iter()
        .filter_map(|step| match &step.kind {
            StepKind::Message { op: MessageOp::Read { round }, posts } => Some((*round, posts.iter().map(|p| p.sender.clone()).collect())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn round_robin_gives_the_turns_in_order_and_each_actor_reads_each_earlier_round_once() {
    let s = setup(vec![Box::new(|asked: &Asked<'_>| {
        let me = who(asked.system);
        let answer = match me {
            "writer" => 7,
            "reviewer" => 8,
            _ => 9,
        };
        format!("The {me} saw {} turns.\nAnswer: {answer}", asked.user.matches("[round ").count())
    })]);
    let file = three("termination = \"max_rounds(4)\"");
    let (agent, ending) = s.run(team(&s, &file)).await;
    assert_eq!(ending, Ending::Finished("7".into()), "the last reply's answer: the writer's");
    assert_eq!(speakers(&s, &agent), ["writer", "reviewer", "editor", "writer"]);
    let board = s.kernel.storage().board(agent.run().as_str()).unwrap();
    let seen: Vec<&str> = board.iter().map(|p| p.text.lines().next().unwrap()).collect();
    assert_eq!(seen, ["The writer saw 0 turns.", "The reviewer saw 1 turns.", "The editor saw 2 turns.", "The writer saw 3 turns."]);
    assert_eq!(reads(&s, &agent, "writer"), vec![(1, vec!["reviewer".into()]), (2, vec!["editor".into()])], "its own round 0 is not read");
    assert_eq!(reads(&s, &agent, "editor"), vec![(0, vec!["writer".into()]), (1, vec!["reviewer".into()])]);
    assert_eq!(stop(&s, &agent), ("max_rounds".into(), 3, json!({ "condition": "max_rounds(4)", "termination": "max_rounds(4)" })));
    assert_eq!(s.member_calls(&agent), vec![("editor".into(), 1), ("reviewer".into(), 1), ("writer".into(), 2)]);
    let stored = s.kernel.snapshot(agent.run().as_str()).unwrap().spec().unwrap();
    assert_eq!((stored.strategy.as_str(), stored.team_file.as_deref()), ("team", Some(file.as_str())), "the text is stored with the run");
    let member = s.kernel.snapshot(&format!("{}.writer", agent.run())).unwrap().spec().unwrap();
    assert_eq!(member.team_file, None, "members do not carry it");
}

#[tokio::test]
async fn a_centralized_team_shows_the_others_only_the_hubs_turns() {
    let prompts = Arc::new(Mutex::new(Vec::new()));
    let s = setup(vec![by_actor(
        vec![("writer", vec!["Draft.\nAnswer: 7"]), ("reviewer", vec!["Secret review.\nAnswer: 8"]), ("editor", vec!["Edit.\nAnswer: 7"])],
        prompts.clone(),
    )]);
    let (agent, ending) = s.run(team(&s, &three("structure = \"centralized\"\ntermination = \"max_rounds(4)\""))).await;
    assert_eq!(ending, Ending::Finished("7".into()));
    assert_eq!(reads(&s, &agent, "editor"), vec![(0, vec!["writer".into()])], "the editor reads the hub, not the reviewer");
    assert_eq!(reads(&s, &agent, "writer"), vec![(1, vec!["reviewer".into()]), (2, vec!["editor".into()])], "the hub reads everyone");
    let prompts = prompts.lock().unwrap();
    let editor = &prompts.iter().find(|(who, _)| who == "editor").unwrap().1;
    assert!(editor.contains("[round 0] writer:\nDraft.") && !editor.contains("Secret review"), "{editor}");
}

#[tokio::test]
async fn the_selector_picks_each_speaker_never_the_last_one_twice_and_falls_back_after_three_tries() {
    let picks = Arc::new(AtomicUsize::new(0));
    let asked = Arc::new(Mutex::new(Vec::new()));
    let (picked, told) = (picks.clone(), asked.clone());
    let s = setup(vec![
        Box::new(move |a: &Asked<'_>| {
            told.lock().unwrap().push(a.user.to_string());
            assert!(a.system.contains("coordinate a team"), "{}", a.system);
            match picked.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => "writer".to_string(),
                2 => "I pick **Reviewer**.".to_string(),
                _ => "Whoever you like.".to_string(),
            }
        }),
        Box::new(|a: &Asked<'_>| format!("The {} speaks.\nAnswer: 7", who(a.system))),
    ]);
    let file = three("protocol = \"selector\"\ntermination = \"max_rounds(3)\"").replace("role = ", "model = \"scripted:m1\"\nrole = ");
    let (agent, ending) = s.run(team(&s, &file)).await;
    assert_eq!(ending, Ending::Finished("7".into()));
    // Pick 1: the writer. Pick 2: the writer again is refused, then the reviewer. Pick 3: three
    // replies that name nobody, then the actor after the reviewer.
    assert_eq!(speakers(&s, &agent), ["writer", "reviewer", "editor"]);
    assert_eq!((s.calls(0), s.calls(1)), (1 + 2 + 3, 3));
    let own = s.kernel.storage().steps(agent.run()).unwrap();
    assert_eq!(own.iter().filter(|step| matches!(step.kind, StepKind::Model { .. })).count(), 6, "the selector's calls are the team run's");
    let asked = asked.lock().unwrap();
    assert!(
        asked[0].contains("Choose one of: writer, reviewer, editor.") && asked[0].contains("- reviewer: You are the reviewer."),
        "{}",
        asked[0]
    );
    assert!(
        asked[1].contains("[round 0] writer:\nThe writer speaks.") && asked[1].contains("Choose one of: reviewer, editor."),
        "{}",
        asked[1]
    );
    assert!(asked[2].starts_with("`writer` just spoke, and may not speak twice in a row."), "{}", asked[2]);
    assert!(asked[4].starts_with("Your reply names none of the actors who may speak next."), "{}", asked[4]);
    assert_eq!(stop(&s, &agent).0, "max_rounds");
}

#[tokio::test]
async fn handoffs_pass_the_turn_and_a_refused_one_is_an_observation_for_its_speaker() {
    let prompts = Arc::new(Mutex::new(Vec::new()));
    let s = setup(vec![by_actor(
        vec![
            ("writer", vec!["Draft.\nAnswer: 7\nHANDOFF: editor", "Draft.\nAnswer: 7\nHANDOFF: reviewer"]),
            ("reviewer", vec!["Check.\nHANDOFF: ghost", "Checked.\nHANDOFF: **editor**"]),
            ("editor", vec!["APPROVED.\nAnswer: 7"]),
        ],
        prompts.clone(),
    )]);
    let file = three("protocol = \"handoff\"\ntermination = 'mention(\"APPROVED\") or max_rounds(8)'")
        .replace("You are the writer.\"", "You are the writer.\"\nhandoffs = [\"reviewer\"]");
    let (agent, ending) = s.run(team(&s, &file)).await;
    assert_eq!(ending, Ending::Finished("7".into()));
    assert_eq!(speakers(&s, &agent), ["writer", "writer", "reviewer", "reviewer", "editor"]);
    let prompts = prompts.lock().unwrap();
    let said: Vec<&str> = prompts.iter().map(|(_, user)| user.as_str()).collect();
    assert!(said[0].contains("`HANDOFF: <name>` after your `Answer:` line, naming one of: reviewer."), "{}", said[0]);
    assert!(
        said[1]
            .contains("Observation: your handoff to `editor` was refused: you may not pass the turn to it. Hand off to one of: reviewer."),
        "{}",
        said[1]
    );
    assert!(
        said[3].contains("Observation: your handoff to `ghost` was refused: there is no actor of that name in the team. Hand off to one of: writer, editor."),
        "{}",
        said[3]
    );
    assert!(!said[4].contains("Observation"), "{}", said[4]);
    let detail = json!({ "condition": "mention(\"APPROVED\")", "termination": "mention(\"APPROVED\") or max_rounds(8)" });
    assert_eq!(stop(&s, &agent), ("answer".into(), 4, detail));
}

#[tokio::test]
async fn terminations_combine_with_and_or_and_record_the_condition_that_held() {
    // Each reply says TERMINATE; the actors disagree until round 3; each model call is 110 tokens.
    let cases = [
        ("mention(\"TERMINATE\") and min_rounds(3) or max_rounds(6)", "answer", 2, "mention(\"TERMINATE\") and min_rounds(3)"),
        ("consensus or max_rounds(6)", "consensus", 3, "consensus"),
        ("max_tokens(300) or max_rounds(6)", "budget", 2, "max_tokens(300)"),
        ("(consensus and min_rounds(5)) or max_rounds(5)", "consensus", 4, "consensus and min_rounds(5)"),
        ("max_rounds(2) or consensus", "max_rounds", 1, "max_rounds(2)"),
    ];
    for (termination, reason, round, condition) in cases {
        let prompts = Arc::new(Mutex::new(Vec::new()));
        let s = setup(vec![by_actor(
            vec![("writer", vec!["TERMINATE\nAnswer: 7"]), ("reviewer", vec!["TERMINATE\nAnswer: 8", "TERMINATE\nAnswer: 7"])],
            prompts,
        )]);
        let file = three(&format!("termination = '{termination}'"));
        let file = file[..file.find("\n[[actor]]\nname = \"editor\"").unwrap()].to_string();
        let (agent, ending) = s.run(team(&s, &file)).await;
        assert!(matches!(ending, Ending::Finished(_)), "{termination}: {ending:?}");
        assert_eq!(
            stop(&s, &agent),
            (reason.to_string(), round, json!({ "condition": condition, "termination": termination })),
            "{termination}"
        );
    }
}

/// `echo(text)`: says `text` back.
#[tokio::test]
async fn an_actor_calls_its_tools_within_its_turn() {
    let s = setup(vec![
        Box::new(|_: &Asked<'_>| "Answer: 0".to_string()),
        Box::new(|a: &Asked<'_>| {
            if a.tool.is_empty() {
                call("go", json!({"to": "the square"}))
            } else {
                format!("The tool said {}.\nAnswer: {}", a.tool, a.tool)
            }
        }),
    ]);
    let file =
        "termination = \"max_rounds(1)\"\n[[actor]]\nname = \"solver\"\nrole = \"You solve.\"\nmodel = \"scripted:m1\"\ntools = [\"go\"]\n";
    let mut spec = team(&s, file);
    spec.capabilities.tools = ["go".to_string()].into_iter().collect();
    let (agent, ending) = s.run(spec).await;
    assert_eq!(ending, Ending::Finished("arrived at the square".into()));
    assert_eq!(s.moves.load(std::sync::atomic::Ordering::SeqCst), 1);
    let steps = s.kernel.storage().steps(&agentos_core::RunId(format!("{}.solver", agent.run()))).unwrap();
    let kinds: Vec<&str> = steps
        .iter()
        .map(|step| match step.kind {
            StepKind::Model { .. } => "model",
            StepKind::Tool { .. } => "tool",
            StepKind::Message { .. } => "message",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["model", "tool", "model", "message"], "a tool call and its result inside the turn, then the post");
    let board = s.kernel.storage().board(agent.run().as_str()).unwrap();
    assert_eq!(board[0].tokens, 20, "the post carries the whole turn's output tokens");
}

#[tokio::test]
async fn a_team_resumes_from_its_stored_file_without_repeating_a_member_call() {
    let s = setup(vec![Box::new(|a: &Asked<'_>| format!("The {} saw {}.\nAnswer: 7", who(a.system), a.user.matches("[round ").count()))]);
    // The third call never answers: round 2 is in flight when the team is interrupted.
    s.models[0].hang_from.store(2, Ordering::SeqCst);
    let spec = team(&s, &three("termination = \"max_rounds(4)\""));
    let played = strategy("team").unwrap();
    let agent = s.kernel.start(spec).await.unwrap();
    let (kernel, model, run) = (s.kernel.clone(), s.models[0].clone(), agent.run().clone());
    let stopper = tokio::spawn(async move {
        while model.calls.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert!(kernel.interrupt(&run, Interruption::Other("SIGTERM".into())));
    });
    let ending = drive(&s.kernel, &agent, played.as_ref()).await.unwrap();
    stopper.await.unwrap();
    assert_eq!(ending, Ending::Interrupted("SIGTERM".into()));
    let id = agent.run().as_str().to_string();
    drop(agent);

    s.models[0].hang_from.store(usize::MAX, Ordering::SeqCst);
    let resumed = s.kernel.restore(s.kernel.snapshot(&id).unwrap()).await.unwrap();
    let ending = drive(&s.kernel, &resumed, strategy(&resumed.spec().strategy).unwrap().as_ref()).await.unwrap();
    assert_eq!(ending, Ending::Finished("7".into()));
    assert_eq!(s.calls(0), 3 + 2, "rounds 0 and 1 replayed; the interrupted round 2 and round 3 asked");
    assert_eq!(speakers(&s, &resumed), ["writer", "reviewer", "editor", "writer"]);
    let board = s.kernel.storage().board(&id).unwrap();
    assert_eq!(board[3].text.lines().next(), Some("The writer saw 3."), "the writer read what it read before the interruption, and more");
}

#[tokio::test]
async fn a_team_run_without_a_team_file_fails_saying_how_to_give_one() {
    let s = setup(vec![Box::new(|_: &Asked<'_>| "Answer: 7".to_string())]);
    let (_, ending) = s.run(s.spec("team")).await;
    let Ending::Failed(why) = ending else { panic!("{ending:?}") };
    assert!(why.contains("run one with `agentos run --team FILE`"), "{why}");
}
