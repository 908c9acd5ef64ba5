//! Cross-Team Collaboration, ReAd, α-UMi, Polaris and similar cases over the real kernel (SQLite
//! journal, member runs, the board, the tool registry) with scripted models: which proposals are
//! pruned and what the merge sees, the refinement loop until a positive advantage or its limit,
//! planner → caller → summarizer with a real tool and each role on its own model, budgets that
//! run out midway, a primary consulting a specialist (and told of one that does not exist), and
//! cases written before the answer.

mod common;

use agentos_core::StepKind;
use agentos_kernel::{Budget, Capabilities, Ending, RunSpec};
use common::{call, setup, Asked};
use serde_json::json;
use std::sync::atomic::Ordering;

/// The three teams' proposals (by seed) and the scorer's ratings: team-2's wrong sum scores 2,
/// the others 9 and 7, so the mean is 6 and team-2 alone is pruned.
fn crossteam_model(asked: &Asked<'_>) -> String {
    if asked.system.contains("rate its quality") {
        let score = if asked.user.contains("3 + 4 = 8") {
            2
        } else if asked.user.contains("seven") {
            7
        } else {
            9
        };
        return format!("Checked.\nScore: {score}");
    }
    if asked.system.contains("You merge") {
        return "Both kept solutions agree.\nAnswer: 7 (merged)".into();
    }
    match asked.seed {
        Some(0) => "3 + 4 = 7.\nAnswer: 7".into(),
        Some(1) => "3 + 4 = 8.\nAnswer: 8".into(),
        _ => "Three and four make seven.\nAnswer: 7".into(),
    }
}

#[tokio::test]
async fn crossteam_prunes_the_proposals_below_the_mean_and_merges_the_rest() {
    let s = setup(vec![Box::new(crossteam_model)]);
    let (agent, ending) = s.run(s.spec("crossteam")).await;
    assert_eq!(ending, Ending::Finished("7 (merged)".into()), "the merge call's answer");
    assert_eq!(s.calls(0), 3 + 3 + 1, "three proposals, three scores, one merge");
    let (stopped, _) = s.stopped(&agent);
    assert_eq!((stopped["reason"].as_str(), stopped["round"].as_u64()), (Some("answer"), Some(0)));
    let detail = &stopped["detail"];
    assert_eq!(detail["pruned"], json!(["team-2"]));
    assert_eq!(detail["kept"], json!(["team-1", "team-3"]));
    assert_eq!(detail["scores"], json!({"team-1": 9.0, "team-2": 2.0, "team-3": 7.0}));
    assert_eq!(detail["mean"], json!(6.0));
    assert_eq!(s.member_calls(&agent), vec![("team-1".into(), 1), ("team-2".into(), 1), ("team-3".into(), 1)]);
    assert_eq!(s.kernel.storage().board(agent.run().as_str()).unwrap().len(), 3, "each team posted its proposal");
    // The scoring and the merge are the team run's own calls; the merge shows only the kept.
    let own = s.own_requests(&agent);
    assert_eq!(own.len(), 4);
    let merge = own[3].messages.last().unwrap().content();
    assert!(merge.contains("Solution 1:\n```\n3 + 4 = 7.") && merge.contains("Solution 2:\n```\nThree and four make seven."), "{merge}");
    assert!(!merge.contains("3 + 4 = 8") && !merge.contains("Solution 3"), "the pruned proposal is not merged: {merge}");
}

#[tokio::test]
async fn crossteam_with_one_proposal_kept_answers_with_it_without_a_merge() {
    // Two teams: 9 and 2, mean 5.5; team-1 alone is kept.
    let s = setup(vec![Box::new(crossteam_model)]);
    let (agent, ending) = s.run(s.spec("crossteam:2")).await;
    assert_eq!(ending, Ending::Finished("7".into()));
    assert_eq!(s.calls(0), 2 + 2, "no merge call for a single proposal");
    let (stopped, _) = s.stopped(&agent);
    assert_eq!((stopped["reason"].as_str(), stopped["detail"]["pruned"].clone()), (Some("answer"), json!(["team-2"])));
}

#[tokio::test]
async fn a_crossteam_budget_spent_while_scoring_stops_with_the_majority_of_the_proposals() {
    let s = setup(vec![Box::new(crossteam_model)]);
    let spec = RunSpec { budget: Budget { max_model_calls: Some(4), ..Default::default() }, ..s.spec("crossteam") };
    let (agent, ending) = s.run(spec).await;
    assert_eq!(s.calls(0), 4, "three proposals and one score; the other scores were refused");
    let (stopped, _) = s.stopped(&agent);
    assert_eq!((stopped["reason"].as_str(), stopped["round"].as_u64()), (Some("budget"), Some(0)));
    assert_eq!(ending, Ending::Finished("7".into()), "two of the three proposals say 7");
}

/// A planner whose plans A, B, C (by turn) answer 8, 6, 7, checking that each refinement is told
/// the critic's score and feedback; a critic that scores them with `advantages`.
fn read_models(advantages: [i32; 3]) -> Vec<Box<common::Reply>> {
    let planner = |asked: &Asked<'_>| {
        assert!(asked.system.contains("planner"), "{}", asked.system);
        if asked.turn > 0 {
            assert!(asked.user.contains("advantage at -") && asked.user.contains("Its feedback:\n\nPlan "), "{}", asked.user);
        }
        ["Plan A: 3 + 4 = 8.\nAnswer: 8", "Plan B: 3 + 4 = 6.\nAnswer: 6", "Plan C: 3 + 4 = 7.\nAnswer: 7"][asked.turn].to_string()
    };
    let critic = move |asked: &Asked<'_>| {
        assert!(asked.system.contains("critic") && asked.system.contains("Advantage:"), "{}", asked.system);
        let plan = ["Plan A", "Plan B", "Plan C"].iter().position(|p| asked.user.contains(p)).unwrap();
        assert_eq!(asked.user.matches("Plan ").count(), 1, "the critic sees only the plan it scores: {}", asked.user);
        format!("{} checked.\nAdvantage: {}", ["Plan A", "Plan B", "Plan C"][plan], advantages[plan])
    };
    vec![Box::new(|_: &Asked<'_>| panic!("the run's own model is not asked")), Box::new(planner), Box::new(critic)]
}

/// A ReAd run with the planner on model 1 and the critic on model 2.
fn read_spec(s: &common::Setup, strategy: &str) -> RunSpec {
    RunSpec {
        roles: [("planner".to_string(), "scripted:m1".to_string()), ("critic".to_string(), "scripted:m2".to_string())].into(),
        ..s.spec(strategy)
    }
}

#[tokio::test]
async fn read_refines_while_the_advantage_is_not_positive() {
    let s = setup(read_models([-3, -1, 4]));
    let (agent, ending) = s.run(read_spec(&s, "read")).await;
    assert_eq!(ending, Ending::Finished("7".into()), "plan C was accepted");
    assert_eq!((s.calls(0), s.calls(1), s.calls(2)), (0, 3, 3), "three plans, three scores, each role on its model");
    let (stopped, _) = s.stopped(&agent);
    assert_eq!((stopped["reason"].as_str(), stopped["round"].as_u64()), (Some("answer"), Some(2)));
    assert_eq!(stopped["detail"]["advantages"], json!([-3.0, -1.0, 4.0]));
    assert_eq!(stopped["detail"]["accepted"], json!(2));
    assert_eq!(s.member_calls(&agent), vec![("critic".into(), 3), ("planner".into(), 3)]);
    assert_eq!(s.kernel.storage().board(agent.run().as_str()).unwrap().len(), 6);
}

#[tokio::test]
async fn read_answers_with_the_best_scored_plan_when_the_refinements_run_out() {
    let s = setup(read_models([-3, -1, -2]));
    let (agent, ending) = s.run(read_spec(&s, "read:2")).await;
    assert_eq!(ending, Ending::Finished("6".into()), "plan B scored highest");
    assert_eq!((s.calls(1), s.calls(2)), (3, 3), "the first plan and two refinements");
    let (stopped, _) = s.stopped(&agent);
    assert_eq!((stopped["reason"].as_str(), stopped["round"].as_u64()), (Some("max_rounds"), Some(2)));
    assert_eq!(stopped["detail"]["advantages"], json!([-3.0, -1.0, -2.0]));
    assert_eq!((stopped["detail"]["accepted"].clone(), stopped["detail"]["answered_with"].clone()), (json!(null), json!(1)));
}

#[tokio::test]
async fn a_read_budget_spent_before_a_refinement_is_scored_answers_with_the_best_scored_plan() {
    let s = setup(read_models([-3, 5, 5]));
    let spec = RunSpec { budget: Budget { max_model_calls: Some(3), ..Default::default() }, ..read_spec(&s, "read") };
    let (agent, ending) = s.run(spec).await;
    assert_eq!((s.calls(1), s.calls(2)), (2, 1), "plan B was written but never scored");
    let (stopped, _) = s.stopped(&agent);
    assert_eq!((stopped["reason"].as_str(), stopped["round"].as_u64()), (Some("budget"), Some(1)));
    assert_eq!(stopped["detail"]["advantages"], json!([-3.0]));
    assert_eq!(ending, Ending::Finished("8".into()), "plan A is the only scored plan");
}

/// α-UMi's roles on models 1 (planner), 2 (caller) and 3 (summarizer); the run's model 0 is never
/// asked. The planner asks for a move to A, then to B, and hands over once it has arrived at
/// `last`.
fn umi_models(last: &'static str) -> Vec<Box<common::Reply>> {
    let planner = move |asked: &Asked<'_>| {
        assert!(asked.system.contains("planner") && asked.system.contains("- go: Goes to a place."), "{}", asked.system);
        assert!(asked.tools.is_empty(), "the planner calls no tool");
        match asked.turn {
            0 => "We must go to A first.\nNext: caller".to_string(),
            _ if asked.user.contains(&format!("arrived at {last}")) => format!("We are at {last}.\nNext: summarizer"),
            _ => {
                assert!(
                    asked.user.contains("The caller's result:\nAction: go({\"to\":\"A\"})\nObservation: arrived at A"),
                    "{}",
                    asked.user
                );
                "Now go on to B.\nNext: caller".to_string()
            }
        }
    };
    let caller = |asked: &Asked<'_>| {
        assert_eq!(asked.tools, ["go"], "the caller is offered the team's tools");
        let to = if asked.user.contains("go to A") { "A" } else { "B" };
        assert!(asked.user.starts_with("The planner's rationale:\n"), "{}", asked.user);
        call("go", json!({ "to": to }))
    };
    let summarizer = |asked: &Asked<'_>| {
        assert!(asked.system.contains("summarizer"));
        assert!(
            asked.user.contains("Planner's rationale (step 1):\nWe must go to A first.")
                && asked.user.contains("Caller's tool call (step 1):\nAction: go({\"to\":\"A\"})\nObservation: arrived at A"),
            "{}",
            asked.user
        );
        let at = if asked.user.contains("arrived at B") { "B" } else { "A" };
        format!("You are at {at}.\nAnswer: {at}")
    };
    vec![Box::new(|_: &Asked<'_>| panic!("the run's own model is not asked")), Box::new(planner), Box::new(caller), Box::new(summarizer)]
}

/// An α-UMi run granted the `go` tool, each role on its own model.
fn umi_spec(s: &common::Setup, max_steps: u32) -> RunSpec {
    let roles = [("planner", "scripted:m1"), ("caller", "scripted:m2"), ("summarizer", "scripted:m3")];
    RunSpec {
        task: "Go to A, then B, and tell me where you are.".into(),
        max_steps,
        capabilities: Capabilities { tools: ["go".to_string()].into(), ..Default::default() },
        roles: roles.iter().map(|(r, m)| (r.to_string(), m.to_string())).collect(),
        ..s.spec("umi")
    }
}

#[tokio::test]
async fn umi_plans_calls_a_real_tool_and_summarizes_each_role_on_its_own_model() {
    let s = setup(umi_models("B"));
    let (agent, ending) = s.run(umi_spec(&s, 5)).await;
    assert_eq!(ending, Ending::Finished("B".into()));
    assert_eq!((s.calls(0), s.calls(1), s.calls(2), s.calls(3)), (0, 3, 2, 1), "planner ×3, caller ×2, summarizer ×1");
    assert_eq!(s.moves.load(Ordering::SeqCst), 2, "the tool ran once per caller turn");
    let (stopped, _) = s.stopped(&agent);
    assert_eq!((stopped["reason"].as_str(), stopped["round"].as_u64()), (Some("answer"), Some(2)));
    assert_eq!(stopped["detail"]["calls"], json!(["go", "go"]));
    let members = s.kernel.storage().team_members(agent.run().as_str()).unwrap();
    let models: Vec<String> = members.iter().map(|(_, run)| s.kernel.storage().run(run.as_str()).unwrap().model).collect();
    assert_eq!(models, ["scripted:m2", "scripted:m1", "scripted:m3"], "caller, planner, summarizer: by name");
    // The tool calls are the caller's journaled steps.
    let steps = s.kernel.storage().steps(&members[0].1).unwrap();
    let tools: Vec<String> = steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Tool { call, result } => Some(format!("{} → {}", call.arguments["to"], result.content)),
            _ => None,
        })
        .collect();
    assert_eq!(tools, ["\"A\" → arrived at A", "\"B\" → arrived at B"]);
    let board = s.kernel.storage().board(agent.run().as_str()).unwrap();
    let posts: Vec<(u32, &str)> = board.iter().map(|p| (p.round, p.sender.as_str())).collect();
    assert_eq!(posts, [(0, "caller"), (0, "planner"), (1, "caller"), (1, "planner"), (2, "planner"), (2, "summarizer")]);
}

#[tokio::test]
async fn umi_hands_over_to_the_summarizer_at_the_step_limit() {
    // The planner wants to go on to C, which it never reaches within 2 steps.
    let s = setup(umi_models("C"));
    let (agent, ending) = s.run(umi_spec(&s, 2)).await;
    assert_eq!(ending, Ending::Finished("B".into()));
    assert_eq!((s.calls(1), s.calls(2), s.calls(3)), (2, 2, 1));
    let (stopped, _) = s.stopped(&agent);
    assert_eq!((stopped["reason"].as_str(), stopped["round"].as_u64()), (Some("max_rounds"), Some(2)));
}

#[tokio::test]
async fn a_umi_budget_spent_before_the_summary_stops_the_team_without_an_answer() {
    let s = setup(umi_models("B"));
    let spec = RunSpec { budget: Budget { max_model_calls: Some(4), ..Default::default() }, ..umi_spec(&s, 5) };
    let (agent, ending) = s.run(spec).await;
    assert_eq!((s.calls(1), s.calls(2), s.calls(3)), (2, 2, 0), "the planner's third turn was refused");
    let (stopped, _) = s.stopped(&agent);
    assert_eq!((stopped["reason"].as_str(), stopped["round"].as_u64()), (Some("budget"), Some(2)));
    assert!(matches!(&ending, Ending::Failed(why) if why.contains("stopped (budget) in round 2 without an answer")), "{ending:?}");
}

#[tokio::test]
async fn cases_writes_similar_solved_cases_first_and_the_solver_answers_from_them() {
    let s = setup(vec![
        Box::new(|asked: &Asked<'_>| {
            assert!(asked.system.contains("write 3 different problems"), "{}", asked.system);
            "Case 1: 2 + 2 = 4.\nCase 2: 5 + 1 = 6.\nCase 3: 9 + 9 = 18.".to_string()
        }),
        Box::new(|asked: &Asked<'_>| {
            assert!(
                asked.user.starts_with("Solved cases:\n\nCase 1: 2 + 2 = 4.") && asked.user.ends_with("Task:\nWhat is 3 + 4?"),
                "{}",
                asked.user
            );
            "Like the cases: 3 + 4 = 7.\nAnswer: 7".to_string()
        }),
    ]);
    let spec = RunSpec { roles: [("solver".to_string(), "scripted:m1".to_string())].into(), ..s.spec("cases") };
    let (agent, ending) = s.run(spec).await;
    assert_eq!(ending, Ending::Finished("7".into()));
    assert_eq!((s.calls(0), s.calls(1)), (1, 1), "the case writer on the run's model, the solver on its role's");
    let (stopped, _) = s.stopped(&agent);
    assert_eq!((stopped["reason"].as_str(), stopped["round"].as_u64()), (Some("answer"), Some(1)));
    assert_eq!(s.kernel.storage().board(agent.run().as_str()).unwrap().len(), 2);
}

/// The primary consults `arithmetic` once, then answers with what it was told.
fn primary(asked: &Asked<'_>) -> String {
    if asked.system.starts_with("You check calculations") {
        assert!(asked.user.contains("Its question to you: is 3 + 4 = 8?"), "{}", asked.user);
        return "No: 3 + 4 = 7.\nAnswer: 7".into();
    }
    if asked.user.contains("arithmetic says:") {
        return "The specialist corrected me.\nAnswer: 7".into();
    }
    "I get 3 + 4 = 8.\nConsult: arithmetic: is 3 + 4 = 8?".into()
}

#[tokio::test]
async fn polaris_consults_a_specialist_and_answers_with_its_check() {
    let s = setup(vec![Box::new(primary)]);
    let (agent, ending) = s.run(s.spec("polaris")).await;
    assert_eq!(ending, Ending::Finished("7".into()));
    let (stopped, _) = s.stopped(&agent);
    assert_eq!((stopped["reason"].as_str(), stopped["round"].as_u64()), (Some("answer"), Some(1)));
    assert_eq!(stopped["detail"]["consulted"], json!(["arithmetic"]));
    assert_eq!(s.member_calls(&agent), vec![("arithmetic".into(), 1), ("primary".into(), 2), ("reasoning".into(), 0)]);
}

#[tokio::test]
async fn polaris_tells_the_primary_of_an_unknown_specialist_and_stops_at_the_step_limit() {
    let s = setup(vec![Box::new(|asked: &Asked<'_>| {
        if asked.turn > 0 {
            assert!(asked.user.contains("There is no specialist `lawyer`; consult one of: arithmetic, reasoning."), "{}", asked.user);
        }
        format!("Still unsure ({}).\nConsult: lawyer: may I?", asked.turn)
    })]);
    let spec = RunSpec { max_steps: 3, ..s.spec("polaris") };
    let (agent, ending) = s.run(spec).await;
    let (stopped, _) = s.stopped(&agent);
    assert_eq!((stopped["reason"].as_str(), stopped["round"].as_u64()), (Some("max_rounds"), Some(2)));
    assert_eq!(s.calls(0), 3, "one reply a round, nobody consulted");
    assert!(matches!(ending, Ending::Finished(_)), "{ending:?}");
}
