//! Tool calls written as text: Qwen's (and Hermes') `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`
//! blocks, parsed out of a finished generation, and hidden from the text streamed meanwhile.

use agentos_core::{ToolCall, ToolSpec};
use serde_json::Value;

/// Opens a tool-call block.
pub const OPEN: &str = "<tool_call>";
/// Closes a tool-call block.
pub const CLOSE: &str = "</tool_call>";

/// A generation split into its text and its tool calls.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedOutput {
    /// The text outside tool-call blocks (trimmed when there were tool calls).
    pub content: String,
    /// The tool calls, in order.
    pub tool_calls: Vec<ToolCall>,
}

/// Parses the `<tool_call>...</tool_call>` blocks out of `text`. Calls get the ids `call_<n>`,
/// `n` counting from `first_index` (pass the number of tool calls already in the conversation to
/// keep ids unique in it).
///
/// Small models often drop the tags: when there is no block, an answer that is nothing but a
/// call object `{"name": ..., "arguments": ...}` (or a list of them), bare or in a Markdown code
/// fence, is read as calls too, and so is such a fenced block inside other text, but only when
/// every name is one of `tools`, so that JSON the user asked for is not mistaken for a call.
///
/// A block whose JSON parses gives its `name` and `arguments` (arguments written as a JSON string
/// holding JSON are parsed; other strings are kept). A block that is not JSON still gives a call
/// when a `"name": "..."` can be found in it, with the raw text after `"arguments":` as a
/// [`Value::String`], so that the kernel can tell the model its arguments were not JSON. A block
/// without a recognisable name, and an unclosed block that does not parse, stay in the content.
pub fn parse_tool_calls(text: &str, tools: &[ToolSpec], first_index: usize) -> ParsedOutput {
    let mut content = String::new();
    let mut tool_calls = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        let after = &rest[start + OPEN.len()..];
        let (body, next, closed) = match after.find(CLOSE) {
            Some(end) => (&after[..end], &after[end + CLOSE.len()..], true),
            None => (after, "", false),
        };
        match parse_block(body, closed) {
            Some((name, arguments)) => {
                content.push_str(&rest[..start]);
                tool_calls.push(ToolCall { id: format!("call_{}", first_index + tool_calls.len()), name, arguments });
            }
            None => content.push_str(&rest[..start + OPEN.len() + body.len() + if closed { CLOSE.len() } else { 0 }]),
        }
        rest = next;
    }
    content.push_str(rest);
    if tool_calls.is_empty() && !tools.is_empty() {
        if let Some(parsed) = untagged_calls(text, tools, first_index) {
            return parsed;
        }
    }
    if !tool_calls.is_empty() {
        content = content.trim().to_string();
    }
    ParsedOutput { content, tool_calls }
}

/// Calls written without tags: the whole text, or Markdown code fences in it, holding call
/// objects whose names are all known tools.
fn untagged_calls(text: &str, tools: &[ToolSpec], first_index: usize) -> Option<ParsedOutput> {
    let calls = |candidate: &str| -> Option<Vec<(String, Value)>> {
        let items = match serde_json::from_str::<Value>(candidate.trim()).ok()? {
            Value::Array(items) if !items.is_empty() => items,
            obj @ Value::Object(_) => vec![obj],
            _ => return None,
        };
        items
            .into_iter()
            .map(|item| {
                let Value::Object(mut obj) = item else { return None };
                let arguments = obj.remove("arguments").or_else(|| obj.remove("parameters"))?;
                let Some(Value::String(name)) = obj.remove("name") else { return None };
                if !obj.is_empty() || !tools.iter().any(|t| t.name == name) {
                    return None;
                }
                let arguments = match arguments {
                    Value::String(raw) => serde_json::from_str::<Value>(&raw).ok().filter(Value::is_object).unwrap_or(Value::String(raw)),
                    v => v,
                };
                Some((name, arguments))
            })
            .collect()
    };
    let to_output = |content: String, found: Vec<(String, Value)>| ParsedOutput {
        content: content.trim().to_string(),
        tool_calls: found
            .into_iter()
            .enumerate()
            .map(|(i, (name, arguments))| ToolCall { id: format!("call_{}", first_index + i), name, arguments })
            .collect(),
    };
    if let Some(found) = calls(text) {
        return Some(to_output(String::new(), found));
    }
    // Fenced blocks: ```json ... ``` or ``` ... ```.
    let mut content = String::new();
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let body_start = after.find('\n').map_or(after.len(), |n| n + 1);
        let lang = after[..body_start].trim();
        let Some(close) = after[body_start..].find("```") else { break };
        let body = &after[body_start..body_start + close];
        match calls(body).filter(|_| lang.is_empty() || lang.eq_ignore_ascii_case("json")) {
            Some(mut more) => {
                content.push_str(&rest[..open]);
                found.append(&mut more);
            }
            None => content.push_str(&rest[..open + 3 + body_start + close + 3]),
        }
        rest = &after[body_start + close + 3..];
    }
    content.push_str(rest);
    (!found.is_empty()).then(|| to_output(content, found))
}

fn parse_block(body: &str, closed: bool) -> Option<(String, Value)> {
    let body = body.trim();
    if let Ok(Value::Object(mut obj)) = serde_json::from_str::<Value>(body) {
        let Some(Value::String(name)) = obj.remove("name") else { return None };
        let arguments = match obj.remove("arguments").or_else(|| obj.remove("parameters")) {
            Some(Value::String(raw)) => serde_json::from_str::<Value>(&raw).ok().filter(Value::is_object).unwrap_or(Value::String(raw)),
            Some(v) => v,
            None => Value::Object(Default::default()),
        };
        return Some((name, arguments));
    }
    if !closed {
        return None;
    }
    let name = string_after(body, "\"name\"")?;
    let arguments = match body.find("\"arguments\"") {
        Some(at) => {
            let raw = body[at + "\"arguments\"".len()..].trim_start();
            let raw = raw.strip_prefix(':').unwrap_or(raw).trim();
            // Drop the brace that closes the outer object.
            let raw = raw.strip_suffix('}').map(str::trim_end).unwrap_or(raw);
            Value::String(raw.to_string())
        }
        None => Value::String(String::new()),
    };
    Some((name, arguments))
}

/// The JSON string value after `key` and a colon, if there is one.
fn string_after(text: &str, key: &str) -> Option<String> {
    let at = text.find(key)?;
    let rest = text[at + key.len()..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let mut end = None;
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => {
                end = Some(i);
                break;
            }
            _ => {}
        }
    }
    let quoted = &rest[..end?];
    serde_json::from_str::<String>(&format!("\"{quoted}\"")).ok().filter(|n| !n.is_empty())
}

/// Hides tool calls from streamed text: [`push`](Self::push) each piece as it arrives and show
/// what it returns; at the end show what [`finish`](Self::finish) returns.
///
/// Tagged blocks are hidden; text that may be the start of `<tool_call>` is held until it is
/// known not to be. With `untagged` (set it when the request offers tools), an answer whose
/// first non-blank character opens a JSON object, a JSON list or a code fence is held whole, since
/// it may be an untagged call (see [`parse_tool_calls`]); `finish` then returns the parsed
/// content instead.
#[derive(Debug, Default)]
pub struct ToolCallFilter {
    pending: String,
    inside: bool,
    untagged: bool,
    /// Nothing has been shown yet and the text so far may be an untagged call.
    holding: bool,
    shown: bool,
}

impl ToolCallFilter {
    /// A filter outside any block; `untagged` holds answers that look like untagged calls.
    pub fn new(untagged: bool) -> Self {
        ToolCallFilter { untagged, ..Self::default() }
    }

    /// Takes the next piece of generated text; returns the part of it to show now.
    pub fn push(&mut self, text: &str) -> String {
        self.pending.push_str(text);
        if self.untagged && !self.shown {
            let start = self.pending.trim_start();
            if start.is_empty() {
                return String::new();
            }
            if start.starts_with(['{', '[', '`']) {
                self.holding = true;
            }
        }
        if self.holding {
            return String::new();
        }
        let mut shown = String::new();
        loop {
            if self.inside {
                match self.pending.find(CLOSE) {
                    Some(end) => {
                        self.pending.drain(..end + CLOSE.len());
                        self.inside = false;
                    }
                    None => {
                        // Keep only what may be the start of the closing tag.
                        let keep = partial_suffix(&self.pending, CLOSE);
                        self.pending.drain(..self.pending.len() - keep);
                        break;
                    }
                }
            } else {
                match self.pending.find(OPEN) {
                    Some(start) => {
                        shown.push_str(&self.pending[..start]);
                        self.pending.drain(..start + OPEN.len());
                        self.inside = true;
                    }
                    None => {
                        let keep = partial_suffix(&self.pending, OPEN);
                        let upto = self.pending.len() - keep;
                        shown.push_str(&self.pending[..upto]);
                        self.pending.drain(..upto);
                        break;
                    }
                }
            }
        }
        self.shown |= !shown.is_empty();
        shown
    }

    /// Ends the stream, given the parse of the whole text: returns what is left to show.
    pub fn finish(&mut self, parsed: &ParsedOutput) -> String {
        if self.holding || (self.untagged && !self.shown) {
            self.pending.clear();
            return parsed.content.clone();
        }
        if self.inside {
            self.pending.clear();
        }
        std::mem::take(&mut self.pending)
    }
}

/// The length of the longest suffix of `text` that is a proper prefix of `tag`.
pub(crate) fn partial_suffix(text: &str, tag: &str) -> usize {
    (1..tag.len().min(text.len() + 1))
        .rev()
        .find(|&n| text.is_char_boundary(text.len() - n) && tag.starts_with(&text[text.len() - n..]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tools(names: &[&str]) -> Vec<ToolSpec> {
        names.iter().map(|n| ToolSpec { name: n.to_string(), description: String::new(), parameters: json!({"type": "object"}) }).collect()
    }

    #[test]
    fn parses_blocks_and_keeps_the_rest_as_content() {
        let text = "Let me compute.\n<tool_call>\n{\"name\": \"calculator\", \"arguments\": {\"expression\": \"2+3\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"current_time\", \"arguments\": {}}\n</tool_call>";
        let out = parse_tool_calls(text, &[], 4);
        assert_eq!(out.content, "Let me compute.");
        assert_eq!(out.tool_calls.len(), 2);
        assert_eq!(out.tool_calls[0], ToolCall { id: "call_4".into(), name: "calculator".into(), arguments: json!({"expression": "2+3"}) });
        assert_eq!(out.tool_calls[1].id, "call_5");
        assert_eq!(out.tool_calls[1].arguments, json!({}));
    }

    #[test]
    fn text_without_blocks_is_unchanged() {
        let out = parse_tool_calls("  just text\n", &[], 0);
        assert_eq!(out, ParsedOutput { content: "  just text\n".into(), tool_calls: vec![] });
    }

    #[test]
    fn arguments_that_are_not_json_are_kept_raw() {
        let out = parse_tool_calls("<tool_call>{\"name\": \"calculator\", \"arguments\": {expression: 2+3}}</tool_call>", &[], 0);
        assert_eq!(out.tool_calls[0].name, "calculator");
        assert_eq!(out.tool_calls[0].arguments, Value::String("{expression: 2+3}".into()));
        let out = parse_tool_calls("<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}</tool_call>", &[], 0);
        assert_eq!(out.tool_calls[0].arguments, json!({"a": 1}));
    }

    #[test]
    fn unusable_and_unclosed_blocks_stay_in_the_content() {
        let out = parse_tool_calls("a <tool_call>no name here</tool_call> b", &[], 0);
        assert!(out.tool_calls.is_empty());
        assert_eq!(out.content, "a <tool_call>no name here</tool_call> b");
        let out = parse_tool_calls("x <tool_call>{\"name\": \"f\", \"argu", &[], 0);
        assert!(out.tool_calls.is_empty());
        assert_eq!(out.content, "x <tool_call>{\"name\": \"f\", \"argu");
        let out = parse_tool_calls("<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}}", &[], 0);
        assert_eq!(out.tool_calls[0].arguments, json!({"a": 1}));
    }

    #[test]
    fn untagged_calls_to_known_tools_are_read() {
        let known = tools(&["calculator"]);
        let bare = "{\"name\": \"calculator\", \"arguments\": {\"expression\": \"1234 * 5678\"}}";
        let out = parse_tool_calls(bare, &known, 0);
        assert_eq!(out.content, "");
        assert_eq!(
            out.tool_calls,
            vec![ToolCall { id: "call_0".into(), name: "calculator".into(), arguments: json!({"expression": "1234 * 5678"}) }]
        );
        let fenced = "Sure:\n```json\n{\n  \"name\": \"calculator\",\n  \"arguments\": {\"expression\": \"17*23\"}\n}\n```\nDone.";
        let out = parse_tool_calls(fenced, &known, 2);
        assert_eq!(out.content, "Sure:\n\nDone.");
        assert_eq!(out.tool_calls[0].id, "call_2");
        assert_eq!(out.tool_calls[0].arguments, json!({"expression": "17*23"}));
        let list = "[{\"name\": \"calculator\", \"arguments\": {}}, {\"name\": \"calculator\", \"arguments\": {\"expression\": \"1\"}}]";
        assert_eq!(parse_tool_calls(list, &known, 0).tool_calls.len(), 2);
        // Unknown names, extra keys, no tools at all: plain text.
        for (text, tools) in
            [(bare, tools(&["other"])), (bare, vec![]), ("{\"name\": \"calculator\", \"arguments\": {}, \"x\": 1}", known.clone())]
        {
            let out = parse_tool_calls(text, &tools, 0);
            assert!(out.tool_calls.is_empty() && out.content == text, "{text}");
        }
    }

    #[test]
    fn the_filter_hides_blocks_across_piece_boundaries() {
        let stream = |text: &str, size: usize, untagged: bool| {
            let mut f = ToolCallFilter::new(untagged);
            let mut shown = String::new();
            let chars: Vec<char> = text.chars().collect();
            for piece in chars.chunks(size) {
                shown.push_str(&f.push(&piece.iter().collect::<String>()));
            }
            shown.push_str(&f.finish(&parse_tool_calls(text, &tools(&["f"]), 0)));
            shown
        };
        let tagged = "Sure. <tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call> done <tool";
        let bare = " {\"name\": \"f\", \"arguments\": {}}";
        for size in 1..8 {
            assert_eq!(stream(tagged, size, false), "Sure.  done <tool", "piece size {size}");
            assert_eq!(stream(tagged, size, true), "Sure.  done <tool", "piece size {size}");
            assert_eq!(stream(bare, size, true), "", "piece size {size}");
            assert_eq!(stream("{not a call}", size, true), "{not a call}", "piece size {size}");
        }
    }
}
