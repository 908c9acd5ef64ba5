//! Long-term memory around a run, for runs granted a long-term scope (`--memory-scope`):
//! before the strategy starts, what memory holds that bears on the task is recalled and given
//! with it ([`brief`]); after the run finishes, the facts worth keeping are extracted and merged
//! into memory ([`learn`]).
//!
//! Merging after Mem0 (Chhikara et al., 2025, "Mem0: Building Production-Ready AI Agents with
//! Scalable Long-Term Memory"): the model first lists the facts of the exchange worth keeping;
//! each is compared with the closest items memory already holds, and the model decides, for each,
//! ADD (a new fact), UPDATE (a held item, with the merged text: the old one is superseded, not
//! overwritten), DELETE (a held item the exchange contradicts) or NONE. When memory holds
//! nothing close, the facts are added without asking. Every recall, model call and write is a
//! journaled syscall, so a resumed run is briefed and learns exactly as it did the first time.

use crate::AgentError;
use agentos_core::{ChatRequest, Message, Recalled, Sampling};
use agentos_kernel::Agent;
use serde_json::{json, Value};

/// How many items a briefing recalls, at most.
const BRIEF_K: usize = 5;

/// How many held items each new fact is compared with.
const COMPARE_K: usize = 3;

/// The most facts one exchange may yield.
const MAX_FACTS: usize = 8;

/// The lowest cosine at which an item found by meaning alone counts as bearing on the task.
const MIN_COSINE: f32 = 0.25;

const EXTRACT_PROMPT: &str = "You keep a memory of facts about the person you help: their preferences, \
their circumstances, plans, names and details they told you. Read the exchange and list the facts \
about the person worth remembering for later conversations, each as one short sentence that stands \
on its own (say \"The person ...\"). Leave out general knowledge, the task itself and anything \
uncertain. If there is nothing worth keeping, give an empty list.";

const MERGE_PROMPT: &str = "You keep a memory of facts about a person. For each new fact, compare it \
with the facts already held and decide: ADD it if it is new; UPDATE a held fact (give its number and \
the merged text) if the new fact refines or changes it; DELETE a held fact (give its number) if the \
new fact contradicts it and replaces nothing; NONE if it is already held.";

/// Recalls what the run's long-term scopes hold that bears on the task, and briefs the agent with
/// it. Only trusted items are used: a briefing is given as the person's own words.
pub(crate) async fn brief(agent: &Agent) -> Result<(), AgentError> {
    let scopes: Vec<&str> = agent.spec().memory_scopes.iter().map(String::as_str).collect();
    if scopes.is_empty() {
        return Ok(());
    }
    let found = agent.recall(&scopes, &agent.spec().task, BRIEF_K, false).await?;
    let notes: Vec<String> =
        found.iter().filter(|r| r.cosine >= MIN_COSINE || r.bm25 > 0.0).map(|r| format!("- {}", r.item.text)).collect();
    if !notes.is_empty() {
        agent.brief(&format!("What you remember from earlier conversations (use it where it helps):\n{}", notes.join("\n")));
    }
    Ok(())
}

/// Extracts the facts of the finished exchange (the task and `answer`) worth keeping and merges
/// them into the run's first long-term scope.
pub(crate) async fn learn(agent: &Agent, answer: &str) -> Result<(), AgentError> {
    let Some(scope) = agent.spec().memory_scopes.first() else { return Ok(()) };
    let exchange = format!("The person said:\n{}\n\nYou answered:\n{answer}", agent.spec().task);
    let facts_schema = json!({"type": "object", "properties": {
        "facts": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_FACTS}
    }, "required": ["facts"]});
    let reply = ask(agent, EXTRACT_PROMPT, exchange, facts_schema).await?;
    let mut facts: Vec<String> = Vec::new();
    for fact in strings(&reply["facts"]) {
        if !facts.contains(&fact) && fits(&fact) {
            facts.push(fact);
        }
    }
    if facts.is_empty() {
        return Ok(());
    }
    let mut held: Vec<Recalled> = Vec::new();
    for fact in &facts {
        for found in agent.recall(&[scope], fact, COMPARE_K, true).await? {
            if !held.iter().any(|h| h.item.id == found.item.id) {
                held.push(found);
            }
        }
    }
    if held.is_empty() {
        for fact in &facts {
            agent.remember(scope, fact, "model").await?;
        }
        return Ok(());
    }
    let listing: Vec<String> = held.iter().enumerate().map(|(i, r)| format!("{i}: {}", r.item.text)).collect();
    let new: Vec<String> = facts.iter().map(|f| format!("- {f}")).collect();
    let question = format!("Facts held:\n{}\n\nNew facts:\n{}", listing.join("\n"), new.join("\n"));
    let decisions_schema = json!({"type": "object", "properties": {
        "decisions": {"type": "array", "maxItems": MAX_FACTS, "items": {"type": "object", "properties": {
            "event": {"type": "string", "enum": ["ADD", "UPDATE", "DELETE", "NONE"]},
            "held": {"type": "integer", "description": "the number of the held fact, for UPDATE and DELETE"},
            "text": {"type": "string", "description": "the fact to keep, for ADD and UPDATE"}
        }, "required": ["event", "text"]}}
    }, "required": ["decisions"]});
    let reply = ask(agent, MERGE_PROMPT, question, decisions_schema).await?;
    let decisions = reply["decisions"].as_array().cloned().unwrap_or_default();
    for decision in decisions {
        let text = decision["text"].as_str().unwrap_or("").trim().to_string();
        let target = decision["held"].as_u64().and_then(|i| held.get(i as usize)).map(|r| r.item.id.clone());
        match (decision["event"].as_str(), target) {
            (Some("ADD"), _) if fits(&text) => {
                agent.remember(scope, &text, "model").await?;
            }
            (Some("UPDATE"), Some(id)) if fits(&text) => {
                // Two decisions may name the same held item; the second finds it superseded.
                if let Err(e) = agent.update_memory(&id, &text, "model").await {
                    if !matches!(e, agentos_kernel::KernelError::NoMemory { .. }) {
                        return Err(e.into());
                    }
                }
            }
            (Some("DELETE"), Some(id)) => {
                agent.forget(&id).await?;
            }
            // NONE, or a decision the model left incomplete.
            _ => {}
        }
    }
    Ok(())
}

/// One greedy model call whose answer is JSON under `schema`; a reply that is not is `null`.
async fn ask(agent: &Agent, system: &str, user: String, schema: Value) -> Result<Value, AgentError> {
    let request = ChatRequest {
        messages: vec![Message::system(system), Message::user(user)],
        sampling: Sampling { temperature: Some(0.0), max_tokens: Some(400), ..Default::default() },
        response_schema: Some(schema),
        ..Default::default()
    };
    let response = agent.model(request).await?;
    Ok(serde_json::from_str(response.message.content().trim()).unwrap_or(Value::Null))
}

/// The non-blank strings of a JSON array, trimmed.
fn strings(value: &Value) -> Vec<String> {
    let items = value.as_array().map(Vec::as_slice).unwrap_or_default();
    items.iter().filter_map(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

/// Whether `text` is a fact memory takes: not blank, within the item size limit.
fn fits(text: &str) -> bool {
    !text.trim().is_empty() && text.len() <= agentos_kernel::MAX_MEMORY_TEXT
}
