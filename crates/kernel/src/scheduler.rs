//! Scheduler for model calls, after AIOS (Mei et al., 2024): agents do not call providers, they
//! queue requests here. Each model has a concurrency limit; when it is reached, waiting calls are
//! ordered by a pluggable [`Policy`] (first come first served, round-robin across agents, or
//! priority) and admitted one by one as running calls finish. A waiting call that is cancelled
//! leaves the queue without taking a slot.

use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Which waiting call runs next when a slot frees up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// First come, first served.
    #[default]
    Fifo,
    /// One call per agent in turn, so a chatty agent cannot starve the others.
    RoundRobin,
    /// Highest priority first; first come first served among equals.
    Priority,
}

impl std::str::FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fifo" => Ok(Policy::Fifo),
            "round-robin" => Ok(Policy::RoundRobin),
            "priority" => Ok(Policy::Priority),
            other => Err(format!("unknown scheduling policy `{other}`; use fifo, round-robin or priority")),
        }
    }
}

/// A call waiting for a slot.
struct Waiter {
    agent: String,
    priority: i32,
    ticket: u64,
    admit: oneshot::Sender<Permit>,
}

/// The order in which waiting calls are admitted.
trait Queue: Send {
    fn push(&mut self, waiter: Waiter);
    fn pop(&mut self) -> Option<Waiter>;
}

#[derive(Default)]
struct FifoQueue(VecDeque<Waiter>);

impl Queue for FifoQueue {
    fn push(&mut self, w: Waiter) {
        self.0.push_back(w);
    }
    fn pop(&mut self) -> Option<Waiter> {
        self.0.pop_front()
    }
}

#[derive(Default)]
struct RoundRobinQueue {
    per_agent: HashMap<String, VecDeque<Waiter>>,
    turn: VecDeque<String>,
}

impl Queue for RoundRobinQueue {
    fn push(&mut self, w: Waiter) {
        let queue = self.per_agent.entry(w.agent.clone()).or_default();
        if queue.is_empty() {
            self.turn.push_back(w.agent.clone());
        }
        queue.push_back(w);
    }
    fn pop(&mut self) -> Option<Waiter> {
        let agent = self.turn.pop_front()?;
        let queue = self.per_agent.get_mut(&agent).expect("an agent in turn has a queue");
        let next = queue.pop_front();
        if queue.is_empty() {
            self.per_agent.remove(&agent);
        } else {
            self.turn.push_back(agent);
        }
        next
    }
}

struct Prioritized(Waiter);

impl Prioritized {
    fn key(&self) -> (i32, Reverse<u64>) {
        (self.0.priority, Reverse(self.0.ticket))
    }
}
impl PartialEq for Prioritized {
    fn eq(&self, o: &Self) -> bool {
        self.key() == o.key()
    }
}
impl Eq for Prioritized {}
impl PartialOrd for Prioritized {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Prioritized {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key().cmp(&o.key())
    }
}

#[derive(Default)]
struct PriorityQueue(BinaryHeap<Prioritized>);

impl Queue for PriorityQueue {
    fn push(&mut self, w: Waiter) {
        self.0.push(Prioritized(w));
    }
    fn pop(&mut self) -> Option<Waiter> {
        self.0.pop().map(|p| p.0)
    }
}

struct Lane {
    running: usize,
    limit: usize,
    next_ticket: u64,
    waiting: usize,
    queue: Box<dyn Queue>,
}

/// The queue of one model: its running calls, its limit and its waiting calls.
struct ModelLane(Mutex<Lane>);

/// A slot on a model: the call may run while this lives; dropping it admits the next waiter.
pub struct Permit {
    lane: Option<Arc<ModelLane>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(lane) = self.lane.take() {
            ModelLane::release(&lane);
        }
    }
}

impl ModelLane {
    fn release(lane: &Arc<ModelLane>) {
        let mut state = lane.0.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(waiter) = state.queue.pop() {
            state.waiting -= 1;
            // Hand this slot straight to the next waiter. If it gave up meanwhile, the permit comes
            // back: disarm it (the slot is still ours) and try the next one.
            match waiter.admit.send(Permit { lane: Some(lane.clone()) }) {
                Ok(()) => return,
                Err(mut permit) => permit.lane = None,
            }
        }
        state.running -= 1;
    }
}

/// The model-call scheduler: one lane per model, one policy for all.
pub struct Scheduler {
    policy: Policy,
    limit: usize,
    lanes: Mutex<HashMap<String, Arc<ModelLane>>>,
}

impl Scheduler {
    /// A scheduler admitting at most `limit_per_model` concurrent calls to each model.
    pub fn new(policy: Policy, limit_per_model: usize) -> Self {
        Scheduler { policy, limit: limit_per_model.max(1), lanes: Mutex::new(HashMap::new()) }
    }

    /// The policy in force.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    fn lane(&self, model: &str) -> Arc<ModelLane> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        lanes
            .entry(model.to_string())
            .or_insert_with(|| {
                let queue: Box<dyn Queue> = match self.policy {
                    Policy::Fifo => Box::<FifoQueue>::default(),
                    Policy::RoundRobin => Box::<RoundRobinQueue>::default(),
                    Policy::Priority => Box::<PriorityQueue>::default(),
                };
                Arc::new(ModelLane(Mutex::new(Lane { running: 0, limit: self.limit, next_ticket: 0, waiting: 0, queue })))
            })
            .clone()
    }

    /// Waits for a slot on `model` for `agent`. Dropping the future before it resolves withdraws
    /// the request without taking a slot.
    pub async fn acquire(&self, model: &str, agent: &str, priority: i32) -> Permit {
        let lane = self.lane(model);
        let admitted = {
            let mut state = lane.0.lock().unwrap_or_else(|e| e.into_inner());
            if state.running < state.limit && state.waiting == 0 {
                state.running += 1;
                None
            } else {
                let (admit, admitted) = oneshot::channel();
                let ticket = state.next_ticket;
                state.next_ticket += 1;
                state.waiting += 1;
                state.queue.push(Waiter { agent: agent.to_string(), priority, ticket, admit });
                Some(admitted)
            }
        };
        match admitted {
            None => Permit { lane: Some(lane) },
            Some(admitted) => admitted.await.expect("a lane never drops a waiter without admitting it"),
        }
    }

    /// Calls waiting for `model` right now.
    pub fn waiting(&self, model: &str) -> usize {
        self.lane(model).0.lock().unwrap_or_else(|e| e.into_inner()).waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Queues calls from `agents` (name, priority) behind one running call, then lets them through
    /// one at a time and returns the order in which they ran.
    async fn order(policy: Policy, agents: &[(&str, i32)]) -> Vec<String> {
        let scheduler = Arc::new(Scheduler::new(policy, 1));
        let first = scheduler.acquire("m", "first", 0).await;
        let ran = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (i, (agent, priority)) in agents.iter().enumerate() {
            let (s, ran, agent, priority) = (scheduler.clone(), ran.clone(), agent.to_string(), *priority);
            tasks.push(tokio::spawn(async move {
                let _permit = s.acquire("m", &agent, priority).await;
                ran.lock().unwrap().push(format!("{agent}{i}"));
            }));
            while scheduler.waiting("m") < i + 1 {
                tokio::task::yield_now().await;
            }
        }
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        let out = ran.lock().unwrap().clone();
        out
    }

    #[tokio::test]
    async fn fifo_admits_in_arrival_order() {
        assert_eq!(order(Policy::Fifo, &[("a", 0), ("a", 0), ("b", 0)]).await, ["a0", "a1", "b2"]);
    }

    #[tokio::test]
    async fn round_robin_alternates_agents() {
        assert_eq!(order(Policy::RoundRobin, &[("a", 0), ("a", 0), ("a", 0), ("b", 0), ("c", 0)]).await, ["a0", "b3", "c4", "a1", "a2"]);
    }

    #[tokio::test]
    async fn priority_admits_the_highest_first() {
        assert_eq!(order(Policy::Priority, &[("a", 1), ("b", 5), ("c", 1), ("d", 9)]).await, ["d3", "b1", "a0", "c2"]);
    }

    #[tokio::test]
    async fn never_runs_more_than_the_limit() {
        let scheduler = Arc::new(Scheduler::new(Policy::Fifo, 3));
        let live = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let (s, live, peak) = (scheduler.clone(), live.clone(), peak.clone());
                tokio::spawn(async move {
                    let _p = s.acquire("m", &format!("agent{i}"), 0).await;
                    let now = live.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    live.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_cancelled_waiter_gives_its_turn_away() {
        let scheduler = Arc::new(Scheduler::new(Policy::Fifo, 1));
        let first = scheduler.acquire("m", "a", 0).await;
        let s = scheduler.clone();
        let cancelled = tokio::spawn(async move { s.acquire("m", "b", 0).await });
        while scheduler.waiting("m") < 1 {
            tokio::task::yield_now().await;
        }
        cancelled.abort();
        let _ = cancelled.await;
        drop(first);
        let next = tokio::time::timeout(Duration::from_secs(1), scheduler.acquire("m", "c", 0)).await;
        assert!(next.is_ok(), "the slot of a cancelled waiter must not leak");
    }
}
