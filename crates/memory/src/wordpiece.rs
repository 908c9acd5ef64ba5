//! The BERT WordPiece tokenizer of all-MiniLM-L6-v2, reimplemented to give exactly the ids that
//! Hugging Face `tokenizers` gives for the model's `tokenizer.json`.
//!
//! That file names a `BertNormalizer` (clean text, space out CJK ideographs, strip accents,
//! lowercase), a `BertPreTokenizer` (split on whitespace, isolate punctuation), a `WordPiece`
//! model (greedy longest match first, `##` continuations) and the template `[CLS] $A [SEP]`.
//! Its added tokens (`[CLS]`, `[SEP]`, `[PAD]`, ...) are all unnormalised, so, as `tokenizers`
//! does, they are recognised verbatim (case included) in the raw text before normalisation. The character classes come from the `unicode_categories`
//! crate, the one `tokenizers` uses, so punctuation (Unicode P* plus all ASCII punctuation),
//! control characters (Cc, Cf, Cn, Co) and nonspacing marks (Mn) are judged alike.

use std::collections::HashMap;

use serde::Deserialize;
use unicode_categories::UnicodeCategories;
use unicode_normalization::UnicodeNormalization;

/// The parts of `tokenizer.json` the tokenizer needs.
#[derive(Deserialize)]
struct TokenizerJson {
    added_tokens: Vec<AddedToken>,
    model: ModelJson,
}

#[derive(Deserialize)]
struct AddedToken {
    id: u32,
    content: String,
}

#[derive(Deserialize)]
struct ModelJson {
    vocab: HashMap<String, u32>,
    unk_token: String,
    continuing_subword_prefix: String,
    max_input_chars_per_word: usize,
}

/// A WordPiece tokenizer with BERT's normalisation and pre-tokenisation.
pub(crate) struct WordPiece {
    vocab: HashMap<String, u32>,
    /// Tokens matched verbatim in the raw text, longest first.
    added: Vec<(String, u32)>,
    prefix: String,
    max_chars_per_word: usize,
    max_tokens: usize,
    unk: u32,
    cls: u32,
    sep: u32,
}

impl WordPiece {
    /// Reads the tokenizer from the text of `tokenizer.json`; encodings are cut to `max_tokens`
    /// ids, `[CLS]` and `[SEP]` included.
    pub(crate) fn from_json(json: &[u8], max_tokens: usize) -> Result<Self, String> {
        let file: TokenizerJson = serde_json::from_slice(json).map_err(|e| format!("tokenizer.json: {e}"))?;
        let model = file.model;
        let id = |token: &str| model.vocab.get(token).copied().ok_or_else(|| format!("tokenizer.json: no `{token}` in the vocabulary"));
        let (unk, cls, sep) = (id(&model.unk_token)?, id("[CLS]")?, id("[SEP]")?);
        if max_tokens < 2 {
            return Err(format!("a maximum of {max_tokens} tokens leaves no room for [CLS] and [SEP]"));
        }
        let mut added: Vec<(String, u32)> =
            file.added_tokens.into_iter().filter(|t| !t.content.is_empty()).map(|t| (t.content, t.id)).collect();
        added.sort_by_key(|(content, _)| std::cmp::Reverse(content.len()));
        Ok(Self {
            vocab: model.vocab,
            added,
            prefix: model.continuing_subword_prefix,
            max_chars_per_word: model.max_input_chars_per_word,
            max_tokens,
            unk,
            cls,
            sep,
        })
    }

    /// The largest id `encode` can give.
    pub(crate) fn max_id(&self) -> u32 {
        self.vocab.values().chain(self.added.iter().map(|(_, id)| id)).copied().max().unwrap_or(0)
    }

    /// The ids of `text`: `[CLS]`, its tokens (the first ones only, if there are too many), `[SEP]`.
    pub(crate) fn encode(&self, text: &str) -> Vec<u32> {
        let limit = self.max_tokens - 1; // [CLS] and the tokens, leaving room for [SEP]
        let mut ids = vec![self.cls];
        let mut rest = text;
        while ids.len() < limit && !rest.is_empty() {
            let (before, added, after) = match self.next_added(rest) {
                Some((at, content, id)) => (&rest[..at], Some(id), &rest[at + content.len()..]),
                None => (rest, None, ""),
            };
            self.push_text(before, limit, &mut ids);
            ids.extend(added);
            rest = after;
        }
        ids.truncate(limit);
        ids.push(self.sep);
        ids
    }

    /// The leftmost added token in `text` (the longest, where several start there): its byte
    /// offset, content and id.
    fn next_added(&self, text: &str) -> Option<(usize, &str, u32)> {
        self.added
            .iter()
            .filter_map(|(content, id)| text.find(content.as_str()).map(|at| (at, content.as_str(), *id)))
            .min_by_key(|&(at, _, _)| at) // ties keep the first, which is the longest
    }

    /// Appends the tokens of a stretch of text without added tokens, stopping once `ids` holds
    /// `limit` ids.
    fn push_text(&self, text: &str, limit: usize, ids: &mut Vec<u32>) {
        let normalized = normalize(text);
        let words = normalized.split(char::is_whitespace).flat_map(split_punctuation);
        for word in words.filter(|w| !w.is_empty()) {
            if ids.len() >= limit {
                return;
            }
            self.push_word(word, ids);
        }
    }

    /// Appends the WordPiece tokens of one word: greedy longest match first, or `[UNK]` for the
    /// whole word if it is too long or some part of it matches nothing.
    fn push_word(&self, word: &str, ids: &mut Vec<u32>) {
        let first = ids.len();
        if word.chars().count() > self.max_chars_per_word {
            ids.push(self.unk);
            return;
        }
        let mut piece = String::with_capacity(word.len() + self.prefix.len());
        let mut start = 0;
        while start < word.len() {
            let mut end = word.len();
            let id = loop {
                piece.clear();
                if start > 0 {
                    piece.push_str(&self.prefix);
                }
                piece.push_str(&word[start..end]);
                if let Some(&id) = self.vocab.get(&piece) {
                    break Some(id);
                }
                match word[start..end].char_indices().next_back() {
                    Some((last, _)) if last > 0 => end = start + last,
                    _ => break None,
                }
            };
            let Some(id) = id else {
                ids.truncate(first);
                ids.push(self.unk);
                return;
            };
            ids.push(id);
            start = end;
        }
    }
}

/// BERT normalisation, in the order `tokenizers` applies it: drop NUL, U+FFFD and control
/// characters and turn whitespace into spaces; put spaces around CJK ideographs; decompose (NFD)
/// and drop nonspacing marks (accents); lowercase character by character.
fn normalize(text: &str) -> String {
    let mut cleaned = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c == '\0' || c == '\u{fffd}' || is_control(c) {
            continue;
        }
        if is_cjk_ideograph(c) {
            cleaned.extend([' ', c, ' ']);
        } else if is_whitespace(c) {
            cleaned.push(' ');
        } else {
            cleaned.push(c);
        }
    }
    cleaned.nfd().filter(|c| !c.is_mark_nonspacing()).flat_map(char::to_lowercase).collect()
}

/// Whitespace as BERT counts it: Unicode whitespace, tab, newline and carriage return.
fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

/// Control characters as BERT counts them: Unicode "Other" (Cc, Cf, Cn, Co, Cs) except tab,
/// newline and carriage return, which are whitespace.
fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

/// The CJK Unified Ideographs blocks (and extensions and compatibility blocks) that BERT
/// splits into single characters; Hangul, kana and the rest are not among them.
fn is_cjk_ideograph(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B920..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

/// Punctuation as BERT counts it: all ASCII punctuation (so `$`, `+`, `^`, ... too) and Unicode
/// punctuation (categories Pc, Pd, Ps, Pe, Pi, Pf, Po).
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

/// Splits a whitespace-free word into runs of non-punctuation and single punctuation characters.
fn split_punctuation(word: &str) -> impl Iterator<Item = &str> {
    let mut rest = word;
    std::iter::from_fn(move || {
        let mut chars = rest.char_indices();
        let (_, first) = chars.next()?;
        let end =
            if is_punctuation(first) { first.len_utf8() } else { chars.find(|&(_, c)| is_punctuation(c)).map_or(rest.len(), |(at, _)| at) };
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}
