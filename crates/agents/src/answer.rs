//! Final answers in model text, shared by every strategy: where the answer is in a reply
//! ([`extract_answer`]), when two answers are the same ([`same_answer`]), and which of several
//! answers the majority gives ([`majority_vote`]).

/// What the strategies ask the model to end a reply with, so that [`extract_answer`] finds it.
pub(crate) const ANSWER_FORMAT: &str = "End your reply with a last line of the form `Answer: <answer>` that gives the answer alone.";

/// The answer in a model's reply: the text after the last line that starts with `Answer:` (or
/// `Final Answer:`, in any case, markdown emphasis allowed, the answer on the next line if that
/// line has none), else the last non-empty line; surrounding whitespace, `**` and backticks are
/// removed. An empty reply gives an empty answer.
///
/// ```
/// use agentos_agents::extract_answer;
/// assert_eq!(extract_answer("6 * 4 = 24.\nAnswer: 6 * 4\nThanks"), "6 * 4");
/// assert_eq!(extract_answer("**Final Answer:** `42`"), "42");
/// assert_eq!(extract_answer("I think\nit is 7.\n\n"), "it is 7.");
/// ```
pub fn extract_answer(reply: &str) -> String {
    let lines: Vec<&str> = reply.lines().collect();
    let labeled = lines.iter().enumerate().rev().find_map(|(i, line)| answer_after_label(line).map(|rest| (i, rest)));
    let answer = match labeled {
        Some((_, rest)) if !clean(rest).is_empty() => rest,
        Some((i, _)) => lines[i + 1..].iter().copied().find(|l| !clean(l).is_empty()).unwrap_or(""),
        None => lines.iter().copied().rev().find(|l| !clean(l).is_empty()).unwrap_or(""),
    };
    clean(answer).to_string()
}

/// The answer of a reply that ends a run by itself (no tool call): what follows its `Answer:` or
/// `Final Answer:` label if it has one, else the whole reply, trimmed.
///
/// ```
/// use agentos_agents::final_reply;
/// assert_eq!(final_reply("Answer: 4"), "4");
/// assert_eq!(final_reply("2 + 2 = 4.\nFinal Answer: **4**"), "4");
/// assert_eq!(final_reply(" The answer is 42.\nIt is even. "), "The answer is 42.\nIt is even.");
/// ```
pub fn final_reply(reply: &str) -> String {
    labeled_answer(reply).unwrap_or_else(|| reply.trim().to_string())
}

/// The answer of `reply` when a line of it carries the `Answer:` label ([`extract_answer`]).
pub(crate) fn labeled_answer(reply: &str) -> Option<String> {
    reply.lines().any(|line| answer_after_label(line).is_some()).then(|| extract_answer(reply))
}

/// The text after `Answer:` or `Final Answer:` at the start of `line`, if it has that label.
pub(crate) fn answer_after_label(line: &str) -> Option<&str> {
    after_label(line, &["final answer", "answer"])
}

/// The text after the first of `labels` (lower case) that `line` starts with, followed by a
/// colon: in any case, after markdown list, quote or emphasis marks, the label itself emphasised
/// or not (`**Next:** caller`).
pub(crate) fn after_label<'a>(line: &'a str, labels: &[&str]) -> Option<&'a str> {
    let line = line.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '*' | '#' | '>' | '-' | '_' | '`'));
    let lower = line.to_ascii_lowercase();
    let label = labels.iter().find(|label| lower.starts_with(*label))?;
    line[label.len()..].trim_start_matches(['*', '_', ' ']).strip_prefix(':')
}

/// The last line of `text` that is not blank, trimmed: what a traceback ends with, or what a
/// program printed last.
pub(crate) fn last_line(text: &str) -> Option<&str> {
    text.lines().rev().map(str::trim).find(|l| !l.is_empty())
}

fn clean(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || c == '*' || c == '`')
}

/// An answer in the form answers are compared in: lower case, runs of whitespace as one space, no
/// surrounding whitespace, no trailing period.
///
/// ```
/// assert_eq!(agentos_agents::normalize_answer("  The   Moon. "), "the moon");
/// ```
pub fn normalize_answer(answer: &str) -> String {
    let words = answer.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");
    words.trim_end_matches('.').trim_end().to_string()
}

/// A normalized answer as a number, if it is one: a leading `$` and thousands separators are
/// allowed (`$1,000`).
fn number(normalized: &str) -> Option<f64> {
    let text = normalized.strip_prefix('$').unwrap_or(normalized);
    let (integer, _) = text.split_once('.').unwrap_or((text, ""));
    let integer = integer.trim_start_matches('-');
    let grouped = integer.contains(',') && {
        let groups: Vec<&str> = integer.split(',').collect();
        (1..=3).contains(&groups[0].len()) && groups[1..].iter().all(|g| g.len() == 3)
    };
    let text = if grouped { text.replace(',', "") } else { text.to_string() };
    text.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Whether two answers are the same: equal as numbers if both are numbers (`7` and `7.0`), else
/// equal once normalized ([`normalize_answer`]).
///
/// ```
/// use agentos_agents::same_answer;
/// assert!(same_answer("7", "7.0") && same_answer("Paris.", " paris") && !same_answer("7", "8"));
/// ```
pub fn same_answer(a: &str, b: &str) -> bool {
    let (a, b) = (normalize_answer(a), normalize_answer(b));
    match (number(&a), number(&b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// The answer most of `answers` give, as first written; [`same_answer`] decides which agree. A tie
/// goes to the answer that came first, and empty answers do not vote. `None` when no answer is
/// non-empty.
///
/// ```
/// use agentos_agents::majority_vote;
/// assert_eq!(majority_vote(&["7", "8", "7.0", "8", "7"]).as_deref(), Some("7"));
/// assert_eq!(majority_vote(&["8", "7", "7", "8"]).as_deref(), Some("8"));
/// ```
pub fn majority_vote<S: AsRef<str>>(answers: &[S]) -> Option<String> {
    let mut groups: Vec<(&str, usize)> = Vec::new();
    for answer in answers.iter().map(|a| a.as_ref().trim()).filter(|a| !a.is_empty()) {
        match groups.iter_mut().find(|(first, _)| same_answer(first, answer)) {
            Some((_, votes)) => *votes += 1,
            None => groups.push((answer, 1)),
        }
    }
    let most = groups.iter().map(|(_, votes)| *votes).max()?;
    groups.into_iter().find(|(_, votes)| *votes == most).map(|(answer, _)| answer.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_the_answer() {
        let cases = [
            ("Step 1: 3 + 4 = 7.\nAnswer: 7", "7"),
            ("Answer: 5\nWait, no.\nAnswer: 6", "6"),
            ("answer: lower case", "lower case"),
            ("**Answer:** 12", "12"),
            ("**Answer**: 12", "12"),
            ("## Final Answer: (8 - 4) * (7 - 1)", "(8 - 4) * (7 - 1)"),
            ("Final answer:\n\n  `3`\n", "3"),
            ("Answer:", ""),
            ("Answering this is easy.\nIt is 9.", "It is 9."),
            ("The answer is 9", "The answer is 9"),
            ("  \n\n", ""),
            ("", ""),
            ("Answer: 5 ünïcode", "5 ünïcode"),
            ("Äñswer: x", "Äñswer: x"),
        ];
        for (reply, want) in cases {
            assert_eq!(extract_answer(reply), want, "{reply:?}");
        }
    }

    #[test]
    fn compares_answers_as_numbers_or_normalized_text() {
        let same = [
            ("7", "7.0"),
            ("7", " 7. "),
            ("$1,000", "1000"),
            ("-2.50", "-2.5"),
            ("Blue  Whale", "blue whale."),
            ("1e1", "10"),
            ("nan", "NaN."),
        ];
        for (a, b) in same {
            assert!(same_answer(a, b), "{a} = {b}");
        }
        let different = [("7", "8"), ("1,2", "12"), ("seven", "7"), ("7 apples", "7"), ("inf", "infinity")];
        for (a, b) in different {
            assert!(!same_answer(a, b), "{a} != {b}");
        }
    }

    #[test]
    fn votes_by_majority_ties_to_the_first() {
        assert_eq!(majority_vote(&["7", "8", "7.0", "8", "7"]).as_deref(), Some("7"));
        assert_eq!(majority_vote(&["8", "7", "7.0", "8"]).as_deref(), Some("8"));
        assert_eq!(majority_vote(&["", "x", " ", ""]).as_deref(), Some("x"));
        assert_eq!(majority_vote(&["", " "]), None);
        assert_eq!(majority_vote::<&str>(&[]), None);
    }
}
