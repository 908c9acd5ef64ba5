//! Populations over the real kernel (SQLite journal, scheduler) with a scripted model that
//! counts its calls: one model call per archetype per step whatever the population's size, the
//! documented fallback for an answer that cannot be read, the same history from the same seed,
//! and a simulation killed in the middle of a step that resumes from its journal without asking
//! anything again.

use agentos_agents::drive;
use agentos_core::{ChatRequest, ChatResponse, FinishReason, Message, Role, StepKind, Usage};
use agentos_gym::population::{History, Population, Scenario, Simulation, FALLBACK, STRATEGY};
use agentos_kernel::{Agent, Ending, Interruption, Kernel, RunSpec, Storage};
use agentos_llm::{EventSink, LanguageModel, LlmError, ModelCapabilities};
use async_trait::async_trait;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

type Reply = dyn Fn(&str) -> String + Send + Sync;

/// A scripted model whose reply a function picks from the question (the last user message);
/// counts its calls, and from call `hang_from` on never answers (a process killed mid-call).
struct Play {
    reply: Box<Reply>,
    calls: AtomicUsize,
    hang_from: AtomicUsize,
}

const URI: &str = "scripted:population";

#[async_trait]
impl LanguageModel for Play {
    fn uri(&self) -> &str {
        URI
    }
    fn capabilities(&self) -> ModelCapabilities {
        ModelCapabilities { native_tools: false }
    }
    async fn chat(&self, request: &ChatRequest, _: EventSink<'_>) -> Result<ChatResponse, LlmError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) >= self.hang_from.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let question = request.messages.iter().rev().find(|m| m.role == Role::User).map(|m| m.content()).unwrap_or_default();
        let usage = Usage { input_tokens: 100, output_tokens: 5, model_calls: 1, cost_usd: 0.0 };
        let message = Message::assistant((self.reply)(&question));
        Ok(ChatResponse { message, finish_reason: FinishReason::Stop, usage, model: URI.into() })
    }
}

struct Setup {
    kernel: Kernel,
    model: Arc<Play>,
    _dir: tempfile::TempDir,
}

/// A kernel over a fresh database with the model `reply`.
fn setup(reply: impl Fn(&str) -> String + Send + Sync + 'static) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let model = Arc::new(Play { reply: Box::new(reply), calls: AtomicUsize::new(0), hang_from: AtomicUsize::new(usize::MAX) });
    let kernel = Kernel::builder(Storage::open(dir.path().join("agentos.db")).unwrap()).model(model.clone()).build().unwrap();
    Setup { kernel, model, _dir: dir }
}

/// Isolating grows more likely with the day and for the older archetypes, so that answers differ
/// between archetypes and days.
fn by_day_and_age(question: &str) -> String {
    let day: u32 = question.split_whitespace().nth(1).and_then(|d| d.parse().ok()).unwrap();
    let older = if question.contains("50 and over") { 0.3 } else { 0.0 };
    format!("They weigh the risk.\nProbability: {:.2}", (0.05 * f64::from(day) + older).min(1.0))
}

impl Setup {
    fn calls(&self) -> usize {
        self.model.calls.load(Ordering::SeqCst)
    }

    async fn start(&self, scenario: Scenario) -> Agent {
        let spec = RunSpec { temperature: Some(0.0), ..RunSpec::new(scenario.task(), STRATEGY, URI) };
        self.kernel.start(spec).await.unwrap()
    }

    /// Simulates `scenario` as its own run, directly through `Population::simulate`.
    async fn simulate(&self, scenario: Scenario) -> History {
        let agent = self.start(scenario).await;
        let population = Population::new(scenario.agents, scenario.archetypes, scenario.seed).unwrap();
        population.simulate(&agent, scenario.steps).await.unwrap()
    }

    /// How many model steps the run's journal holds.
    fn journaled(&self, agent: &Agent) -> usize {
        self.kernel.storage().steps(agent.run()).unwrap().iter().filter(|s| matches!(s.kind, StepKind::Model { .. })).count()
    }
}

const THOUSAND: Scenario = Scenario { agents: 1000, steps: 10, archetypes: 4, seed: 7 };

#[tokio::test]
async fn a_thousand_agents_in_four_archetypes_over_ten_steps_make_forty_model_calls() {
    let s = setup(by_day_and_age);
    let agent = s.start(THOUSAND).await;
    let population = Population::new(1000, 4, 7).unwrap();
    assert_eq!(population.members().iter().sum::<usize>(), 1000);
    assert!(population.members().iter().all(|&m| m > 0), "{:?}", population.members());
    let history = population.simulate(&agent, 10).await.unwrap();
    assert_eq!(s.calls(), 40, "one call per archetype per step, not one per agent");
    assert_eq!((history.model_calls(), s.journaled(&agent)), (40, 40), "each call is a journaled syscall");
    assert_eq!(history.days.len(), 10);
    for day in &history.days {
        assert_eq!((day.model_calls, day.answers.len(), day.counts.total()), (4, 4, 1000), "day {}", day.day);
        let order: Vec<usize> = day.answers.iter().map(|a| a.archetype).collect();
        assert_eq!(order, [0, 1, 2, 3], "answers in archetype order");
        assert!(day.answers.iter().all(|a| !a.fallback));
        assert_eq!(day.answers.iter().map(|a| a.isolating).sum::<usize>(), day.isolating);
    }
    // The answer is applied to every member: the older archetypes (1 and 3) isolate more.
    let last = &history.days[9];
    assert_eq!((last.answers[0].probability, last.answers[1].probability), (0.5, 0.8));
    let share = |a: usize| last.answers[a].isolating as f64 / history.archetypes[a].members as f64;
    assert!(share(1) > share(0) && share(3) > share(2), "{:?}", last.answers);
    assert_eq!(history.start.infectious, 10, "1% start infectious");
    assert!(history.days.iter().any(|d| d.new_infections > 0), "the disease spreads");
}

#[tokio::test]
async fn an_unreadable_answer_keeps_the_archetypes_probability_of_the_day_before_or_the_fallback() {
    // Archetype 0 (on-site 18–49) answers only on day 2; the others always answer 0.4.
    let s = setup(|question: &str| {
        if !question.contains("aged 18–49 who work on site") {
            "Probability: 0.4".into()
        } else if question.starts_with("Day 2 ") {
            "Probability: 0.9".into()
        } else {
            "That depends on too many things to say.".into()
        }
    });
    let history = s.simulate(Scenario { agents: 200, steps: 3, archetypes: 4, seed: 1 }).await;
    let first: Vec<(f64, bool)> = history.days.iter().map(|d| (d.answers[0].probability, d.answers[0].fallback)).collect();
    assert_eq!(first, [(FALLBACK, true), (0.9, false), (0.9, true)], "the fallback, an answer, the answer kept");
    assert_eq!(history.days[0].answers[0].isolating, 0, "nobody isolates on the fallback of 0");
    assert_eq!(history.days[0].answers[0].reply.as_deref(), Some("That depends on too many things to say."));
    assert_eq!(history.days[1].answers[0].reply, None, "a reply read is not kept");
    assert!(history.days.iter().all(|d| d.answers[1..].iter().all(|a| a.probability == 0.4 && !a.fallback)));
}

#[tokio::test]
async fn the_same_seed_gives_the_same_history_and_another_seed_another() {
    let s = setup(by_day_and_age);
    let scenario = Scenario { agents: 300, steps: 5, archetypes: 3, seed: 11 };
    let once = s.simulate(scenario).await;
    let again = s.simulate(scenario).await;
    assert_eq!(once, again);
    let other = s.simulate(Scenario { seed: 12, ..scenario }).await;
    assert_ne!(once, other);
    assert_eq!(s.calls(), 3 * 15);
}

#[tokio::test]
async fn a_simulation_killed_mid_step_resumes_from_its_journal_without_asking_again() {
    let s = setup(by_day_and_age);
    let whole = s.simulate(THOUSAND).await;
    let before = s.calls();

    // Call 23 never answers: day 6's four calls are in flight, two of them answered.
    s.model.hang_from.store(before + 22, Ordering::SeqCst);
    let agent = s.start(THOUSAND).await;
    let run = agent.run().clone();
    let (kernel, model) = (s.kernel.clone(), s.model.clone());
    let stopper = tokio::spawn(async move {
        while model.calls.load(Ordering::SeqCst) < before + 24 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(kernel.interrupt(&run, Interruption::Other("SIGTERM".into())));
    });
    let ending = drive(&s.kernel, &agent, &Simulation::default()).await.unwrap();
    stopper.await.unwrap();
    assert_eq!(ending, Ending::Interrupted("SIGTERM".into()));
    assert_eq!(s.journaled(&agent), 22, "five days and two answers of the sixth were journaled");
    let stopped = s.calls();
    let run = agent.run().as_str().to_string();
    drop(agent);

    s.model.hang_from.store(usize::MAX, Ordering::SeqCst);
    let resumed = s.kernel.restore(s.kernel.snapshot(&run).unwrap()).await.unwrap();
    let ending = drive(&s.kernel, &resumed, &Simulation::default()).await.unwrap();
    assert_eq!(s.calls() - stopped, 40 - 22, "only the calls not journaled are made");
    let Ending::Finished(answer) = ending else { panic!("{ending:?}") };
    let history: History = serde_json::from_str(&answer).unwrap();
    assert_eq!(history, whole, "the resumed simulation is the one that was never stopped");
}
