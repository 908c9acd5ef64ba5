//! What the model is asked about an archetype, and how its answer is read.
//!
//! Each day every archetype is asked once (AgentTorch's LLM archetypes, Chopra et al., 2024):
//! the outbreak so far, who the archetype's members are, and the probability that one of them
//! isolates at home today, answered on a line `Probability: <number from 0 to 1>`.
//!
//! The answer is read by [`probability`]: the first number on the first non-empty line after the
//! last `Probability:` (or `Answer:`) in the reply, else the last number of the whole reply. A
//! number from 0 to 1 is a probability; a number followed by `%`, or above 1 and at most 100
//! without it, is a percentage; `a/b` is a fraction. Anything else (no number, a number above
//! 100) is no answer, and the archetype keeps the probability it had the day before, or
//! [`FALLBACK`] on the first day: the simulation goes on as if its members had not changed their
//! minds, and the day's record marks the answer as a fallback with the reply that was not read.

use super::archetype::Archetype;
use super::epidemic::Counts;
use agentos_core::{ChatRequest, Message, Sampling};

/// The probability of isolating of an archetype whose first answer could not be read: nobody
/// isolates, the epidemic without behaviour.
pub const FALLBACK: f64 = 0.0;

/// The most tokens one answer may take: a few sentences of reasoning and the line asked for.
pub const MAX_TOKENS: u32 = 256;

/// The system message of every question.
const SYSTEM: &str = "You model how people behave during an epidemic. You are told about a group of people and answer for a typical \
                      member of the group, as a probability.";

/// What everyone knows on the morning of a day: the day (from 1), the town's size, and the
/// counts of the day before.
#[derive(Clone, Copy, Debug)]
pub struct Situation {
    /// The day, from 1.
    pub day: u32,
    /// How many live in the town.
    pub people: usize,
    /// The counts at the end of the day before.
    pub counts: Counts,
    /// How many were infected the day before.
    pub new_infections: usize,
}

/// The question for `archetype` in `situation`, sampled at `temperature` (the model's own when
/// `None`).
pub fn question(archetype: &Archetype, situation: &Situation, temperature: Option<f32>) -> ChatRequest {
    let Situation { day, people, counts, new_infections } = *situation;
    let percent = 100.0 * counts.infectious as f64 / people.max(1) as f64;
    let user = format!(
        "Day {day} of an outbreak of a contagious respiratory disease in a town of {people} adults. Right now {infectious} people \
         ({percent:.1}%) are infectious, {new_infections} were newly infected yesterday, and {recovered} have recovered.\n\n\
         The group: {who}.\n\nWhat is the probability that a member of this group isolates at home today, staying away from work \
         and gatherings? End your reply with one line `Probability: <number from 0 to 1>`.",
        infectious = counts.infectious,
        recovered = counts.recovered,
        who = archetype.describe(),
    );
    ChatRequest {
        messages: vec![Message::system(SYSTEM), Message::user(user)],
        sampling: Sampling { temperature, max_tokens: Some(MAX_TOKENS), ..Default::default() },
        ..Default::default()
    }
}

/// The probability a reply gives, read as the module documentation says; `None` when it gives
/// none.
///
/// ```
/// use agentos_gym::population::probability;
/// assert_eq!(probability("They would mostly stay in.\nProbability: 0.7"), Some(0.7));
/// assert_eq!(probability("About 35% of them."), Some(0.35));
/// assert_eq!(probability("Probability: 3/4 (cases are rising)"), Some(0.75));
/// assert_eq!(probability("I cannot say."), None);
/// ```
pub fn probability(reply: &str) -> Option<f64> {
    // ASCII lowercasing keeps byte offsets, so a position in `lower` is one in `reply`.
    let lower = reply.to_ascii_lowercase();
    for marker in ["probability:", "answer:"] {
        let Some(at) = lower.rfind(marker) else { continue };
        let Some(line) = reply[at + marker.len()..].lines().find(|l| !l.trim().is_empty()) else { continue };
        if let Some(first) = numbers(line).into_iter().next() {
            return as_probability(first);
        }
    }
    numbers(reply).pop().and_then(as_probability)
}

/// A number as written: its value and whether a `%` follows it.
type Written = (f64, bool);

/// A written number as a probability (see the module documentation).
fn as_probability((value, percent): Written) -> Option<f64> {
    let scaled = if percent || value > 1.0 { value / 100.0 } else { value };
    (0.0..=1.0).contains(&scaled).then_some(scaled)
}

/// Every unsigned number in `text`, in order: digits with a decimal part or not (`.5` too), or
/// a fraction `a/b` with `b` above 0, each with whether a `%` follows it (after spaces or not).
fn numbers(text: &str) -> Vec<Written> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let Some((value, end)) = decimal(&chars, i) else {
            i += 1;
            continue;
        };
        let (value, end) = match (chars.get(end), decimal(&chars, end + 1)) {
            (Some('/'), Some((below, after))) if below > 0.0 => (value / below, after),
            _ => (value, end),
        };
        let percent = chars[end..].iter().find(|c| **c != ' ') == Some(&'%');
        found.push((value, percent));
        i = end;
    }
    found
}

/// The decimal number starting at `chars[i]` (`12`, `0.35`, `.5`) and the index after it.
fn decimal(chars: &[char], i: usize) -> Option<(f64, usize)> {
    let digit = |j: usize| chars.get(j).is_some_and(char::is_ascii_digit);
    let starts = digit(i) || (chars.get(i) == Some(&'.') && digit(i + 1) && !(i > 0 && digit(i - 1)));
    if !starts {
        return None;
    }
    let mut end = i;
    while digit(end) {
        end += 1;
    }
    if chars.get(end) == Some(&'.') && digit(end + 1) {
        end += 1;
        while digit(end) {
            end += 1;
        }
    }
    let written: String = chars[i..end].iter().collect();
    written.parse().ok().map(|v| (v, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_are_read_as_people_and_models_write_them() {
        let cases: &[(&str, Option<f64>)] = &[
            ("Probability: 0.3", Some(0.3)),
            ("probability: .25", Some(0.25)),
            ("Probability:\n\n0.4", Some(0.4)),
            ("Cases are at 2.3%, so many would stay home.\nProbability: 0.6", Some(0.6)),
            ("Probability (0-1): 0.7", Some(0.7)),
            ("The probability is about 30 %.", Some(0.3)),
            ("Answer: 45", Some(0.45)),
            ("I'd say 1/3.", Some(1.0 / 3.0)),
            ("Probability: 1", Some(1.0)),
            ("Probability: 0", Some(0.0)),
            ("Probability: 250", None),
            ("Probability: 120%", None),
            ("Probability: high", None),
            ("", None),
        ];
        for (reply, expected) in cases {
            assert_eq!(probability(reply), *expected, "{reply:?}");
        }
    }

    #[test]
    fn the_question_says_the_day_the_counts_and_the_group() {
        let archetype = &super::super::archetypes(2).unwrap()[0];
        let counts = Counts { susceptible: 970, exposed: 10, infectious: 15, recovered: 5 };
        let request = question(archetype, &Situation { day: 3, people: 1000, counts, new_infections: 4 }, Some(0.0));
        let user = request.messages[1].content();
        for said in
            ["Day 3", "1000 adults", "15 people (1.5%)", "4 were newly infected", "5 have recovered", "work on site", "Probability:"]
        {
            assert!(user.contains(said), "`{said}` in {user}");
        }
        assert_eq!((request.sampling.temperature, request.sampling.max_tokens), (Some(0.0), Some(MAX_TOKENS)));
    }
}
