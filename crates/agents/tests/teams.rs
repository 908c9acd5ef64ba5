//! The team topologies' control flow over the real kernel (SQLite journal, member runs, the
//! board) with scripted models: debate's vote, consensus and dropped members, DyLAN's early stop,
//! agent selection and importance scores, MALT's three roles, team budgets that run out
//! mid-round, and a team resumed after it was stopped in the middle of a round.

mod common;

use agentos_agents::{drive, strategy};
use agentos_core::{MessageOp, StepKind};
use agentos_kernel::{Budget, Ending, Interruption, RunSpec};
use common::{setup, Asked};
use std::sync::atomic::Ordering;

#[tokio::test]
async fn debate_votes_after_its_last_round_and_journals_every_message() {
    // Each debater's reply names its round, so that no reply repeats the one before it.
    let s = setup(vec![Box::new(|asked: &Asked<'_>| {
        let me = asked.seed.unwrap();
        let round = asked.turn;
        let answer = if me == 0 { 7 } else { 8 };
        format!("[r{round}] Agent {me} thinks.\nAnswer: {answer}")
    })]);
    let (agent, ending) = s.run(s.spec("debate:3x2")).await;
    assert_eq!(ending, Ending::Finished("8".into()), "two of three say 8");
    assert_eq!(s.calls(0), 9, "3 agents × (1 + 2 rounds)");
    let (stopped, dropped) = s.stopped(&agent);
    assert_eq!((stopped["reason"].as_str(), stopped["round"].as_u64()), (Some("max_rounds"), Some(2)));
    assert!(dropped.is_empty(), "{dropped:?}");
    assert_eq!(s.member_calls(&agent), vec![("agent-1".into(), 3), ("agent-2".into(), 3), ("agent-3".into(), 3)]);
    let board = s.kernel.storage().board(agent.run().as_str()).unwrap();
    assert_eq!(board.len(), 9);
    assert!(board.iter().all(|p| p.tokens == 10), "each post carries its reply's output tokens");
    // Agent 1 read rounds 0 and 1, each time the other two agents' posts, and its last prompt
    // holds what it read.
    let members = s.kernel.storage().team_members(agent.run().as_str()).unwrap();
    let steps = s.kernel.storage().steps(&members[0].1).unwrap();
    let reads: Vec<(u32, Vec<String>)> = steps
        .iter()
        .filter_map(|step| match &step.kind {
            StepKind::Message { op: MessageOp::Read { round }, posts } => Some((*round, posts.iter().map(|p| p.sender.clone()).collect())),
            _ => None,
        })
        .collect();
    assert_eq!(reads, vec![(0, vec!["agent-2".into(), "agent-3".into()]), (1, vec!["agent-2".into(), "agent-3".into()])]);
    // The team's usage is its members'.
    let usage = s.kernel.storage().usage(agent.run()).unwrap();
    assert_eq!((usage.model_calls, usage.output_tokens), (9, 90));
    // Every member run finished with its last message.
    for (_, run) in &members {
        assert_eq!(s.kernel.storage().run(run.as_str()).unwrap().status, "finished");
    }
}

#[tokio::test]
async fn debate_stops_early_on_consensus() {
    let s = setup(vec![Box::new(|asked: &Asked<'_>| format!("Agent {:?}: 3 + 4 = 7.\nAnswer: 7", asked.seed))]);
    let (agent, ending) = s.run(s.spec("debate")).await;
    assert_eq!(ending, Ending::Finished("7".into()));
    assert_eq!(s.calls(0), 3, "everyone agreed after the first answers");
    let (stopped, _) = s.stopped(&agent);
    assert_eq!((stopped["reason"].as_str(), stopped["round"].as_u64()), (Some("consensus"), Some(0)));
}

#[tokio::test]
async fn a_debater_that_never_answers_is_dropped_as_stalled() {
    let s = setup(vec![Box::new(|asked: &Asked<'_>| {
        let me = asked.seed.unwrap();
        let round = asked.turn;
        match me {
            2 => format!("Let me think about it some more ({round})."),
            _ => format!("[r{round}] Agent {me}.\nAnswer: {}", 7 + me),
        }
    })]);
    let (agent, ending) = s.run(s.spec("debate:3x3")).await;
    let (stopped, dropped) = s.stopped(&agent);
    assert_eq!(dropped, vec![("agent-3".into(), "gave no `Answer:` line in two rounds in a row".into())]);
    assert_eq!(stopped["reason"].as_str(), Some("max_rounds"));
    assert_eq!(s.member_calls(&agent), vec![("agent-1".into(), 4), ("agent-2".into(), 4), ("agent-3".into(), 2)]);
    assert_eq!(ending, Ending::Finished("7".into()), "7 and 8 tie; the first answer wins");
}

#[tokio::test]
async fn debaters_that_repeat_themselves_stop_the_team() {
    let s = setup(vec![Box::new(|asked: &Asked<'_>| format!("Answer: {}", 7 + asked.seed.unwrap() % 2))]);
    let (agent, ending) = s.run(s.spec("debate:3x4")).await;
    let (stopped, dropped) = s.stopped(&agent);
    assert_eq!((stopped["reason"].as_str(), stopped["round"].as_u64()), (Some("repetition"), Some(1)));
    assert_eq!(dropped.len(), 3);
    assert!(dropped.iter().all(|(_, why)| why == "repeated its previous message word for word"), "{dropped:?}");
    assert_eq!(s.calls(0), 6, "two rounds, then nobody is left");
    assert_eq!(ending, Ending::Finished("7".into()));
}

#[tokio::test]
async fn a_team_budget_that_runs_out_mid_round_stops_the_team_with_the_answers_it_has() {
    let s = setup(vec![Box::new(|asked: &Asked<'_>| {
        let round = asked.turn;
        format!("[r{round}] Agent {:?}.\nAnswer: {}", asked.seed, if asked.seed == Some(0) { 7 } else { 8 })
    })]);
    let spec = RunSpec { budget: Budget { max_model_calls: Some(4), ..Default::default() }, ..s.spec("debate:3x2") };
    let (agent, ending) = s.run(spec).await;
    assert_eq!(s.calls(0), 4, "the members asked at once could not overrun the team's budget");
    let (stopped, _) = s.stopped(&agent);
    assert_eq!((stopped["reason"].as_str(), stopped["round"].as_u64()), (Some("budget"), Some(1)));
    assert_eq!(ending, Ending::Finished("8".into()));
    let usage = s.kernel.storage().usage(agent.run()).unwrap();
    assert_eq!(usage.model_calls, 4);
}

#[tokio::test]
async fn dylan_stops_once_more_than_two_thirds_agree() {
    let s = setup(vec![Box::new(|_: &Asked<'_>| "3 + 4 = 7.\nAnswer: 7".to_string())]);
    let (agent, ending) = s.run(s.spec("dylan")).await;
    assert_eq!(ending, Ending::Finished("7".into()));
    assert_eq!(s.calls(0), 3, "after 3 of 4 agree, the fourth is never asked");
    let (stopped, _) = s.stopped(&agent);
    assert_eq!((stopped["reason"].as_str(), stopped["round"].as_u64()), (Some("consensus"), Some(0)));
    let importance = stopped["detail"]["importance"].as_object().unwrap();
    let scores: Vec<f64> = importance.values().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(importance.len(), 4);
    assert!((scores.iter().sum::<f64>() - 1.0).abs() < 1e-9, "the three who answered share 1: {scores:?}");
    assert_eq!(scores.iter().filter(|s| **s == 0.0).count(), 1, "the one never asked has none: {scores:?}");
}

#[tokio::test]
async fn dylan_selects_two_agents_from_round_three_and_scores_importance() {
    // Round 0: each role answers differently. Round 1: the assistant and the programmer answer 5,
    // rating solutions with 5 the highest. Round 2 is only the two selected; they agree.
    let s = setup(vec![Box::new(|asked: &Asked<'_>| {
        if asked.user.contains("Which 2 solutions are the best?") {
            let picks: Vec<String> = asked
                .user
                .split("Solution ")
                .skip(1)
                .filter(|part| part.contains("Answer: 5"))
                .map(|part| part.split(':').next().unwrap().to_string())
                .collect();
            return format!("[[{}]]", picks.join(", "));
        }
        let role = ["helpful assistant", "mathematician", "programmer", "economist"].iter().position(|r| asked.system.contains(r)).unwrap();
        if !asked.user.contains("other agents") {
            return format!("Round 0 for {role}.\nAnswer: {}", 5 + role);
        }
        let round = if asked.user.contains("Round 1 for") { 2 } else { 1 };
        let ratings: Vec<&str> =
            asked.user.split("Solution ").skip(1).map(|part| if part.contains("Answer: 5") { "5" } else { "1" }).collect();
        let answer = if role == 0 || role == 2 { 5 } else { 5 + role };
        format!("Round {round} for {role}.\n[[{}]]\nAnswer: {answer}", ratings.join(", "))
    })]);
    let (agent, ending) = s.run(s.spec("dylan")).await;
    assert_eq!(ending, Ending::Finished("5".into()));
    let (stopped, _) = s.stopped(&agent);
    assert_eq!((stopped["reason"].as_str(), stopped["round"].as_u64()), (Some("consensus"), Some(2)));
    assert_eq!(stopped["detail"]["selected"]["2"], serde_json::json!(["assistant", "programmer"]));
    assert_eq!(s.calls(0), 4 + 4 + 1 + 2, "two full rounds, the selection, and the two selected");
    let calls: Vec<(String, usize)> = s.member_calls(&agent);
    assert_eq!(calls, vec![("assistant".into(), 3), ("economist".into(), 2), ("mathematician".into(), 2), ("programmer".into(), 3)]);
    let importance = &stopped["detail"]["importance"];
    let score = |name: &str| importance[name].as_f64().unwrap();
    assert!(score("assistant") > score("mathematician") && score("programmer") > score("economist"), "{importance}");
    let total: f64 = ["assistant", "mathematician", "programmer", "economist"].iter().map(|n| score(n)).sum();
    assert!((total - 3.0).abs() < 1e-9, "1 per round, over 3 rounds: {importance}");
    // The selection is a call of the team run itself.
    let own = s.kernel.storage().steps(agent.run()).unwrap();
    assert_eq!(own.iter().filter(|s| matches!(s.kind, StepKind::Model { .. })).count(), 1);
}

#[tokio::test]
async fn malt_passes_the_solution_through_verifier_and_refiner_each_on_its_own_model() {
    let s = setup(vec![
        Box::new(|_: &Asked<'_>| "3 + 4 = 8.\nAnswer: 8".to_string()),
        Box::new(|asked: &Asked<'_>| {
            assert!(asked.system.contains("verifier") && asked.user.contains("Proposed solution:\n3 + 4 = 8."), "{}", asked.user);
            "Step 1 is wrong: 3 + 4 = 7.\nAnswer: 7".to_string()
        }),
        Box::new(|asked: &Asked<'_>| {
            assert!(asked.system.contains("refiner"));
            assert!(
                asked.user.contains("Proposed solution:") && asked.user.contains("Verifier's critique:\nStep 1 is wrong"),
                "{}",
                asked.user
            );
            "Fixed: 3 + 4 = 7.\nAnswer: 7".to_string()
        }),
    ]);
    let spec = RunSpec {
        roles: [("verifier".to_string(), "scripted:m1".to_string()), ("refiner".to_string(), "scripted:m2".to_string())].into(),
        ..s.spec("malt")
    };
    let (agent, ending) = s.run(spec).await;
    assert_eq!(ending, Ending::Finished("7".into()));
    assert_eq!((s.calls(0), s.calls(1), s.calls(2)), (1, 1, 1), "the generator uses the run's model");
    let (stopped, _) = s.stopped(&agent);
    assert_eq!((stopped["reason"].as_str(), stopped["round"].as_u64()), (Some("answer"), Some(2)));
    let members = s.kernel.storage().team_members(agent.run().as_str()).unwrap();
    let models: Vec<String> = members.iter().map(|(_, run)| s.kernel.storage().run(run.as_str()).unwrap().model).collect();
    assert_eq!(models, ["scripted:m0", "scripted:m2", "scripted:m1"], "generator, refiner, verifier: by name");
}

#[tokio::test]
async fn a_team_stopped_mid_round_resumes_without_repeating_a_member_step() {
    let s = setup(vec![Box::new(|asked: &Asked<'_>| {
        let round = asked.turn;
        format!("[r{round}] Agent {:?}.\nAnswer: {}", asked.seed, if asked.seed == Some(0) { 7 } else { 8 })
    })]);
    // The fifth call never answers: round 1 is in flight when the team is interrupted.
    s.models[0].hang_from.store(4, Ordering::SeqCst);
    let spec = s.spec("debate:3x2");
    let debate = strategy(&spec.strategy).unwrap();
    let agent = s.kernel.start(spec).await.unwrap();
    let run = agent.run().clone();
    let (kernel, model) = (s.kernel.clone(), s.models[0].clone());
    let stopper = tokio::spawn(async move {
        // Both hanging calls have started, and the answered one has had time to be journaled.
        while model.calls.load(Ordering::SeqCst) < 6 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(kernel.interrupt(&run, Interruption::Other("SIGTERM".into())));
    });
    let ending = drive(&s.kernel, &agent, debate.as_ref()).await.unwrap();
    stopper.await.unwrap();
    assert_eq!(ending, Ending::Interrupted("SIGTERM".into()));
    let before = s.calls(0);
    let team = agent.run().as_str().to_string();
    let members = s.kernel.storage().team_members(agent.run().as_str()).unwrap();
    for (_, member) in &members {
        assert_eq!(s.kernel.storage().run(member.as_str()).unwrap().status, "interrupted", "members end as their team does");
    }
    let recorded: usize = s.member_calls(&agent).iter().map(|(_, n)| n).sum();
    assert_eq!(recorded, 4, "round 0 and one answer of round 1 were journaled");
    drop(agent);

    s.models[0].hang_from.store(usize::MAX, Ordering::SeqCst);
    let resumed = s.kernel.restore(s.kernel.snapshot(&team).unwrap()).await.unwrap();
    let ending = drive(&s.kernel, &resumed, debate.as_ref()).await.unwrap();
    assert_eq!(ending, Ending::Finished("8".into()));
    assert_eq!(s.calls(0) - before, 9 - 4, "only the unrecorded member calls ran again");
    assert_eq!(s.kernel.storage().board(resumed.run().as_str()).unwrap().len(), 9, "no message was posted twice");
}
