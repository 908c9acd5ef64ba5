//! Long-term memory around a run (brief before, Mem0-style learning after) over the real kernel,
//! SQLite and sentence encoder, with scripted models whose replies depend on what they are asked:
//! the briefing reaches the strategy, extracted facts are added, updated over a held fact (which
//! is superseded, not overwritten), deleted, or left alone, and a fact naming what the person
//! never said is dropped.

use agentos_agents::{drive, ChainOfThought};
use agentos_core::{MemoryItem, MemoryOp, StepKind};
use agentos_kernel::{Ending, Kernel, RunSpec, Storage};
use agentos_memory::SentenceEncoder;
use serde_json::{json, Value};
use std::sync::Arc;

struct Setup {
    kernel: Kernel,
    dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let encoder = SentenceEncoder::load(&agentos_models::encoder_model().expect("the sentence encoder is pulled")).unwrap();
    let kernel = Kernel::builder(Storage::open(dir.path().join("agentos.db")).unwrap()).encoder(Arc::new(encoder)).build().unwrap();
    Setup { kernel, dir }
}

impl Setup {
    /// A chain-of-thought run for person:ann on a scripted model, to its end.
    async fn run(&self, name: &str, task: &str, script: Value) -> String {
        let path = self.dir.path().join(format!("{name}.json"));
        std::fs::write(&path, script.to_string()).unwrap();
        let spec =
            RunSpec { memory_scopes: vec!["person:ann".into()], ..RunSpec::new(task, "cot", format!("scripted:{}", path.display())) };
        let agent = self.kernel.start(spec).await.unwrap();
        let ending = drive(&self.kernel, &agent, &ChainOfThought).await.unwrap();
        assert!(matches!(ending, Ending::Finished(_)), "{ending:?}");
        agent.run().to_string()
    }

    fn held(&self) -> Vec<MemoryItem> {
        self.kernel.storage().memories(Some("person:ann"), true).unwrap()
    }
}

/// The texts of the current items.
fn current(items: &[MemoryItem]) -> Vec<&str> {
    items.iter().filter(|i| i.superseded_by.is_none()).map(|i| i.text.as_str()).collect()
}

#[tokio::test]
async fn a_run_is_briefed_and_its_facts_are_added_updated_deleted_or_left() {
    let s = setup();
    let first = s
        .run(
            "first",
            "I live in Rome and I love jazz. Any concert tips?",
            json!([
                { "when": "The person said:", "content": r#"{"facts": ["The person lives in Rome.", "The person loves jazz.", "The person lives in Paris since 1999."]}"# },
                { "content": "Answer: try the Alexanderplatz club" }
            ]),
        )
        .await;
    // Nothing was held: both grounded facts are added without a merge call; the third names a
    // city and a year the person never said.
    assert_eq!(current(&s.held()), ["The person lives in Rome.", "The person loves jazz."]);
    assert!(s.held().iter().all(|i| i.run == first && i.source == "model"));

    let second = s
        .run(
            "second",
            "I moved to Oslo and adopted a cat. What should I do this weekend?",
            json!([
                { "when": "The person said:", "content": r#"{"facts": ["The person lives in Oslo.", "The person has a cat.", "The person loves jazz."]}"# },
                { "when": "New fact: The person lives in Oslo.", "content": r#"{"event": "UPDATE", "held": 0, "text": "The person lives in Oslo."}"# },
                { "when": "New fact: The person loves jazz.", "content": r#"{"event": "NONE", "held": 0, "text": ""}"# },
                { "content": "Answer: a jazz night" }
            ]),
        )
        .await;
    // The strategy read the briefing with its task.
    let trajectory = s.kernel.trajectory(&second).unwrap();
    let StepKind::Memory { .. } = &trajectory.steps[0].kind else { panic!("the briefing's recall comes first") };
    let StepKind::Memory { op: MemoryOp::Blocks { .. }, .. } = &trajectory.steps[1].kind else { panic!("then the pinned blocks are read") };
    let StepKind::Model { request, .. } = &trajectory.steps[2].kind else { panic!("then the strategy's call") };
    let briefed = request.messages[1].content();
    assert!(
        briefed.starts_with("I moved to Oslo") && briefed.contains("What you remember") && briefed.contains("- The person lives in Rome."),
        "{briefed}"
    );
    let held = s.held();
    // Oslo updates Rome (close enough to ask), jazz is already held, and the cat is close to
    // nothing held, so it is added without asking.
    assert_eq!(current(&held), ["The person loves jazz.", "The person lives in Oslo.", "The person has a cat."]);
    let merges = trajectory
        .steps
        .iter()
        .filter(|s| matches!(&s.kind, StepKind::Model { request, .. } if request.messages[1].content().contains("New fact:")))
        .count();
    assert_eq!(merges, 2);
    let rome = held.iter().find(|i| i.text == "The person lives in Rome.").unwrap();
    let oslo = held.iter().find(|i| i.text == "The person lives in Oslo.").unwrap();
    assert_eq!((rome.superseded_by.as_deref(), rome.superseded_at.as_deref()), (Some(oslo.id.as_str()), Some(oslo.created_at.as_str())));

    s.run(
        "third",
        "I gave up on jazz, it bores me now.",
        json!([
            { "when": "The person said:", "content": r#"{"facts": ["The person no longer likes jazz."]}"# },
            { "when": "New fact: The person no longer likes jazz.", "content": r#"{"event": "DELETE", "held": 0, "text": ""}"# },
            { "content": "Answer: fair enough" }
        ]),
    )
    .await;
    assert_eq!(current(&s.held()), ["The person lives in Oslo.", "The person has a cat."]);
}
