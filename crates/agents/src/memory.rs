//! Long-term memory around a run, for runs granted a long-term scope (`--memory-scope`):
//! before the strategy starts, what memory holds that bears on the task is recalled and given
//! with it ([`brief`]); after the run finishes, the facts worth keeping are extracted and merged
//! into memory ([`learn`]).
//!
//! Merging after Mem0 (Chhikara et al., 2025, "Mem0: Building Production-Ready AI Agents with
//! Scalable Long-Term Memory"): the model first lists the facts about the person that their task
//! states (a fact naming something they never said is dropped); each is compared with the closest
//! items memory already holds, and when one is close enough to be about the same thing, the model
//! decides ADD (a new fact), UPDATE (a held item, with the new text: the old one is superseded,
//! not overwritten), DELETE (a held item the fact shows untrue) or NONE; a fact close to nothing
//! held is added without asking. Every recall, model call and write is a journaled syscall, so a
//! resumed run is briefed and learns exactly as it did the first time.

use crate::AgentError;
use agentos_core::{ChatRequest, Message, Recalled, Sampling};
use agentos_kernel::Agent;
use serde_json::{json, Value};

/// How many items a briefing recalls, at most.
const BRIEF_K: usize = 5;

/// How many held items each new fact is compared with.
const COMPARE_K: usize = 3;

/// The most facts one task may yield.
const MAX_FACTS: usize = 8;

/// The lowest cosine at which a held item may be about the same thing as a new fact; below it
/// the new fact is added without asking (Mem0's semantic threshold). Set between what the encoder
/// gives facts on one attribute with different values ("lives in Oslo" / "lives in Rome" 0.39,
/// "works as a nurse" / "is a teacher" 0.45) and facts on different attributes ("has a cat" /
/// "lives in Rome" 0.22, "is vegetarian" / "lives in Porto" 0.28).
const MERGE_COSINE: f32 = 0.35;

const EXTRACT_PROMPT: &str = "You keep a memory of facts about the person you help. From what the \
person said, list the facts about them worth remembering in later conversations: their \
preferences, circumstances, plans, names and details. Write each as one short sentence about \
\"The person\". Leave out the request itself, general knowledge and anything about other things. \
A question states no fact: if the person said nothing about themselves, give an empty list.\n\
Examples: \"My sister Ana is visiting, and I hate coriander. What can we cook tonight?\" gives \
{\"facts\": [\"The person's sister is called Ana.\", \"The person hates coriander.\"]}; \"Which \
train goes to the airport?\" gives {\"facts\": []}";

const MERGE_PROMPT: &str = "You keep a memory of facts about a person. Decide what a new fact does \
to the facts already held: ADD it if no held fact is about the same thing; UPDATE a held fact \
(give its number, and the new text) if the new fact is about the same thing and changes it; \
DELETE a held fact (give its number) if the new fact shows it is no longer true; NONE if it is \
already held. Facts about different things never replace each other.\n\
Examples: held \"0: The person lives in Rome.\", new \"The person moved to Oslo.\" gives \
{\"event\": \"UPDATE\", \"held\": 0, \"text\": \"The person lives in Oslo.\"}; held \"0: The person likes \
jazz.\", new \"The person has a cat.\" gives {\"event\": \"ADD\", \"held\": -1, \"text\": \"The person has a \
cat.\"}";

/// Recalls the trusted items of the run's long-term scopes closest to the task (at most
/// [`BRIEF_K`], each sharing a word or some meaning with it), and briefs the agent with them. Only
/// trusted items are used: a briefing is given as the person's own words.
pub(crate) async fn brief(agent: &Agent) -> Result<(), AgentError> {
    let scopes: Vec<&str> = agent.spec().memory_scopes.iter().map(String::as_str).collect();
    if scopes.is_empty() {
        return Ok(());
    }
    let found = agent.recall(&scopes, &agent.spec().task, BRIEF_K, false).await?;
    let notes: Vec<String> = found.iter().map(|r| format!("- {}", r.item.text)).collect();
    if !notes.is_empty() {
        agent.brief(&format!("What you remember from earlier conversations (use it where it helps):\n{}", notes.join("\n")));
    }
    Ok(())
}

/// Extracts the facts about the person that their task states and merges them into the run's
/// first long-term scope, once the run has an answer. Only the person's words are read, as in
/// Mem0's extraction from user messages: the answer would add the model's own claims as facts.
pub(crate) async fn learn(agent: &Agent) -> Result<(), AgentError> {
    let Some(scope) = agent.spec().memory_scopes.first() else { return Ok(()) };
    let exchange = format!("The person said:\n{}", agent.spec().task);
    let facts_schema = json!({"type": "object", "properties": {
        "facts": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_FACTS}
    }, "required": ["facts"]});
    let reply = ask(agent, EXTRACT_PROMPT, exchange, facts_schema).await?;
    let mut facts: Vec<String> = Vec::new();
    for fact in strings(&reply["facts"]) {
        if !facts.contains(&fact) && fits(&fact) && grounded(&fact, &agent.spec().task) {
            facts.push(fact);
        }
    }
    if facts.is_empty() {
        return Ok(());
    }
    for fact in &facts {
        merge(agent, scope, fact).await?;
    }
    Ok(())
}

/// Merges one new fact into `scope`: added at once when memory holds nothing close to it (a
/// cosine under [`MERGE_COSINE`]: facts about other things), else the model decides against the
/// close items, numbered from 0.
async fn merge(agent: &Agent, scope: &str, fact: &str) -> Result<(), AgentError> {
    let held: Vec<Recalled> =
        agent.recall(&[scope], fact, COMPARE_K, true).await?.into_iter().filter(|r| r.cosine >= MERGE_COSINE).collect();
    if held.is_empty() {
        agent.remember(scope, fact, "model").await?;
        return Ok(());
    }
    let listing: Vec<String> = held.iter().enumerate().map(|(i, r)| format!("{i}: {}", r.item.text)).collect();
    let question = format!("Facts held:\n{}\n\nNew fact: {fact}", listing.join("\n"));
    let decision_schema = json!({"type": "object", "properties": {
        "event": {"type": "string", "enum": ["ADD", "UPDATE", "DELETE", "NONE"]},
        "held": {"type": "integer", "description": "the number of the held fact it concerns, -1 for none"},
        "text": {"type": "string", "description": "the fact to keep, for ADD and UPDATE"}
    }, "required": ["event", "held", "text"]});
    let decision = ask(agent, MERGE_PROMPT, question, decision_schema).await?;
    let text = decision["text"].as_str().unwrap_or("").trim();
    let target = decision["held"].as_u64().and_then(|i| held.get(i as usize)).map(|r| r.item.id.as_str());
    match (decision["event"].as_str(), target) {
        // An update that names no held fact keeps the new one beside them, as Mem0 does.
        (Some("ADD"), _) | (Some("UPDATE"), None) if fits(text) => {
            agent.remember(scope, text, "model").await?;
        }
        (Some("UPDATE"), Some(id)) if fits(text) => {
            agent.update_memory(id, text, "model").await?;
        }
        (Some("DELETE"), Some(id)) => {
            agent.forget(id).await?;
        }
        // NONE, or a decision the model left incomplete.
        _ => {}
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

/// Whether the names and numbers `fact` states all appear in what the person said: a small model
/// asked for facts in a question invents them ("Where do I live?" gave "The person lives in New
/// York City."). A name is a capitalised word other than the first; a number, a word with a
/// digit.
fn grounded(fact: &str, said: &str) -> bool {
    let said = said.to_lowercase();
    let words = fact.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty());
    words
        .skip(1)
        .filter(|w| w.starts_with(char::is_uppercase) || w.contains(|c: char| c.is_ascii_digit()))
        .all(|w| said.contains(&w.to_lowercase()))
}

/// Whether `text` is a fact memory takes (not blank, within the item size limit).
fn fits(text: &str) -> bool {
    agentos_kernel::check_memory_text("text", text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::grounded;

    #[test]
    fn a_fact_must_not_name_what_the_person_did_not_say() {
        let said = "I moved to Lisbon in 2024; my sister Ana visits.";
        assert!(grounded("The person moved to Lisbon in 2024.", said));
        assert!(grounded("The person's sister is called Ana.", said));
        assert!(!grounded("The person lives in New York City.", "Where do I live?"));
        assert!(!grounded("The person moved in 2023.", said));
        assert!(grounded("The person is vegetarian.", "I'm vegetarian."));
    }
}
