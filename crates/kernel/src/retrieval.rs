//! Okapi BM25 (Robertson et al.), the lexical ranking the action library retrieves functions
//! with: a document scores for each query term it contains, more for rarer terms and for terms it
//! repeats, less the longer it is than the average.

use agentos_memory::store::STOP_WORDS;
use std::collections::{HashMap, HashSet};

/// Term-frequency saturation: how quickly repeating a term stops adding to the score.
const K1: f64 = 1.2;
/// Length normalization: 0 ignores a document's length, 1 divides by it fully.
const B: f64 = 0.75;

/// The terms of `text`: runs of ASCII letters and digits (so `snake_case` and `prices.csv` split
/// into words), `camelCase` split at its capitals, lower-cased, stop words and single characters
/// left out, and a plural `s` dropped (`prices` is `price`).
pub(crate) fn terms(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && previous_lower {
                words.push(std::mem::take(&mut word));
            }
            previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            word.push(c.to_ascii_lowercase());
        } else {
            previous_lower = false;
            words.push(std::mem::take(&mut word));
        }
    }
    words.push(word);
    words
        .into_iter()
        .filter(|w| w.len() > 1 && !STOP_WORDS.contains(&w.as_str()))
        .map(|w| match w.strip_suffix('s') {
            Some(stem) if stem.len() > 2 && !stem.ends_with('s') => stem.to_string(),
            _ => w,
        })
        .collect()
}

/// The documents (by index) that score above zero for `query`, best first (ties in document
/// order), with their BM25 scores.
pub(crate) fn rank(query: &str, documents: &[String]) -> Vec<(usize, f64)> {
    let documents: Vec<Vec<String>> = documents.iter().map(|d| terms(d)).collect();
    let count = documents.len() as f64;
    if documents.is_empty() {
        return Vec::new();
    }
    let average_length = documents.iter().map(Vec::len).sum::<usize>() as f64 / count;
    let query: HashSet<String> = terms(query).into_iter().collect();
    let mut frequency: HashMap<&str, f64> = HashMap::new();
    for document in &documents {
        let distinct: HashSet<&str> = document.iter().map(String::as_str).filter(|t| query.contains(*t)).collect();
        for term in distinct {
            *frequency.entry(term).or_default() += 1.0;
        }
    }
    let mut scores: Vec<(usize, f64)> = documents
        .iter()
        .enumerate()
        .map(|(index, document)| {
            let length_norm = 1.0 - B + B * document.len() as f64 / average_length.max(1.0);
            let mut counts: HashMap<&str, f64> = HashMap::new();
            for term in document.iter().filter(|t| query.contains(t.as_str())) {
                *counts.entry(term.as_str()).or_default() += 1.0;
            }
            let score = counts
                .iter()
                .map(|(term, tf)| {
                    let df = frequency[term];
                    let idf = (1.0 + (count - df + 0.5) / (df + 0.5)).ln();
                    idf * tf * (K1 + 1.0) / (tf + K1 * length_norm)
                })
                .sum::<f64>();
            (index, score)
        })
        .filter(|(_, score)| *score > 0.0)
        .collect();
    scores.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scores
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_split_identifiers_and_files_and_drop_noise() {
        assert_eq!(terms("The columnMean of prices.csv"), ["column", "mean", "price", "csv"]);
        assert_eq!(terms("def column_mean(path, column):"), ["def", "column", "mean", "path", "column"]);
        assert_eq!(terms("class glass is as x2"), ["class", "glass", "x2"]);
    }

    #[test]
    fn rare_and_repeated_terms_rank_higher_and_unrelated_documents_not_at_all() {
        let documents = [
            "def column_mean(path, column): Mean of a CSV column. import csv; rows = csv.DictReader(open(path))".to_string(),
            "def word_count(path): Number of words in a text file. return len(open(path).read().split())".to_string(),
            "def greet(name): Says hello.".to_string(),
            "def column_max(path, column): Largest value of a CSV column.".to_string(),
        ];
        let ranked = rank("average of the price column of prices.csv", &documents);
        let order: Vec<usize> = ranked.iter().map(|(i, _)| *i).collect();
        assert_eq!(order, [0, 3], "only the CSV functions match; the one saying `csv` more often first: {ranked:?}");
        assert!(ranked.iter().all(|(_, score)| *score > 0.0));
        assert!(rank("weather in Paris", &documents).is_empty(), "no shared term, no result");
        assert!(rank("anything", &[]).is_empty());
        // With one document, a shared term still scores above zero.
        assert_eq!(rank("column", &documents[..1]).len(), 1);
    }
}
