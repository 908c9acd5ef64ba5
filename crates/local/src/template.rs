//! Chat templates: the model's own Jinja template, rendered with minijinja the way Hugging Face
//! transformers renders it with Python's jinja2, so that the prompt is byte for byte the one the
//! model was trained on.

use agentos_core::{Message, Role, ToolSpec};
use minijinja::value::Kwargs;
use minijinja::{Environment, Error, ErrorKind, Value};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::fmt::Write as _;

const NAME: &str = "chat";

/// Keys a JSON Schema object lists first when it is shown to the model, in this order; the rest
/// follow sorted. Tool schemas are usually written this way, so the prompt looks like the ones
/// the model saw in training even though agentos keeps JSON objects with sorted keys.
pub const SCHEMA_KEYS_FIRST: &[&str] = &["type", "description", "enum", "properties", "items", "required"];

/// Why a chat template could not be compiled or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

impl From<Error> for TemplateError {
    fn from(e: Error) -> Self {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(inner) = source {
            let _ = write!(text, ": {inner}");
            source = inner.source();
        }
        TemplateError(text)
    }
}

/// A compiled chat template (the Jinja source of a GGUF's `tokenizer.chat_template`).
///
/// The environment matches the one transformers uses: `trim_blocks` and `lstrip_blocks` on, loop
/// controls, Python string, list and dict methods (`.strip()`, `.split()`, `.items()`, ...),
/// `raise_exception(message)`, and a `tojson` filter that writes what Python's
/// `json.dumps(value, ensure_ascii=False)` writes (`", "` and `": "` separators, keys in their
/// given order; `indent`, `sort_keys` and `ensure_ascii` are honoured). Not provided:
/// `strftime_now` (templates that test `is defined` fall back on their own default date).
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    /// Compiles `source`. `bos_token` and `eos_token` are the texts of the model's special tokens,
    /// which many templates print.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(false);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("tojson", tojson);
        env.add_function("raise_exception", |message: String| -> Result<Value, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, format!("the chat template raised: {message}")))
        });
        env.add_template_owned(NAME, source.to_string())?;
        Ok(ChatTemplate { env, source: source.to_string(), bos_token: bos_token.to_string(), eos_token: eos_token.to_string() })
    }

    /// The template's Jinja source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders a conversation into the prompt the model continues, ending with the template's
    /// generation prompt (`add_generation_prompt=true`). See [`template_input`] for how messages
    /// and tools are shown to the template.
    pub fn render(&self, messages: &[Message], tools: &[ToolSpec]) -> Result<String, TemplateError> {
        let (messages, tools) = template_input(messages, tools);
        self.render_values(messages, tools)
    }

    /// Renders already-mapped template input: `messages` a list of message maps and `tools` a
    /// list of tool maps (or none).
    pub fn render_values(&self, messages: Value, tools: Value) -> Result<String, TemplateError> {
        let template = self.env.get_template(NAME)?;
        let ctx = minijinja::context! {
            messages => messages,
            tools => tools,
            add_generation_prompt => true,
            bos_token => self.bos_token.clone(),
            eos_token => self.eos_token.clone(),
        };
        Ok(template.render(ctx)?)
    }
}

/// Maps agentos messages and tools to what chat templates expect (the OpenAI / Hugging Face
/// shape), returning `(messages, tools)`:
///
/// - every message is `{"role", "content"}`, the content being its text parts joined;
/// - an assistant message with tool calls adds `"tool_calls": [{"id", "type": "function",
///   "function": {"name", "arguments"}}]`, the arguments as a JSON object (arguments kept as a
///   string because they were not JSON are parsed again if they now parse, else passed as the
///   string);
/// - a tool result has role `tool` and adds `"tool_call_id"` and, when an earlier assistant
///   message made that call, the tool's `"name"`;
/// - tools are `{"type": "function", "function": {"name", "description", "parameters"}}`, with
///   the schema's keys ordered by [`SCHEMA_KEYS_FIRST`]; no tools gives `none`.
pub fn template_input(messages: &[Message], tools: &[ToolSpec]) -> (Value, Value) {
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut out = Vec::with_capacity(messages.len());
    for m in messages {
        let mut fields: Vec<(&str, Value)> = vec![("role", Value::from(m.role.as_str())), ("content", Value::from(m.content()))];
        if !m.tool_calls.is_empty() {
            let calls: Vec<Value> = m
                .tool_calls
                .iter()
                .map(|c| {
                    names.insert(&c.id, &c.name);
                    let arguments = match &c.arguments {
                        Json::String(raw) => {
                            serde_json::from_str::<Json>(raw).map(|v| json_value(&v)).unwrap_or_else(|_| Value::from(raw.as_str()))
                        }
                        other => json_value(other),
                    };
                    let function = Value::from_iter([("name", Value::from(c.name.as_str())), ("arguments", arguments)]);
                    Value::from_iter([("id", Value::from(c.id.as_str())), ("type", Value::from("function")), ("function", function)])
                })
                .collect();
            fields.push(("tool_calls", Value::from(calls)));
        }
        if let Some(id) = &m.tool_call_id {
            fields.push(("tool_call_id", Value::from(id.as_str())));
            if m.role == Role::Tool {
                if let Some(name) = names.get(id.as_str()) {
                    fields.push(("name", Value::from(*name)));
                }
            }
        }
        out.push(Value::from_iter(fields));
    }
    let tools = if tools.is_empty() {
        Value::from(())
    } else {
        Value::from(
            tools
                .iter()
                .map(|t| {
                    let function = Value::from_iter([
                        ("name", Value::from(t.name.as_str())),
                        ("description", Value::from(t.description.as_str())),
                        ("parameters", schema_value(&t.parameters)),
                    ]);
                    Value::from_iter([("type", Value::from("function")), ("function", function)])
                })
                .collect::<Vec<_>>(),
        )
    };
    (Value::from(out), tools)
}

/// A JSON value as a template value, keeping the order of object keys.
fn json_value(v: &Json) -> Value {
    match v {
        Json::Null => Value::from(()),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => Value::from(items.iter().map(json_value).collect::<Vec<_>>()),
        Json::Object(map) => Value::from_iter(map.iter().map(|(k, v)| (k.as_str(), json_value(v)))),
    }
}

/// A JSON Schema as a template value, its keys (and those of its sub-schemas) ordered by
/// [`SCHEMA_KEYS_FIRST`].
fn schema_value(schema: &Json) -> Value {
    let Json::Object(map) = schema else { return json_value(schema) };
    let first = SCHEMA_KEYS_FIRST.iter().filter_map(|k| map.get_key_value(*k));
    let rest = map.iter().filter(|(k, _)| !SCHEMA_KEYS_FIRST.contains(&k.as_str()));
    Value::from_iter(first.chain(rest).map(|(k, v)| {
        let v = match (k.as_str(), v) {
            ("properties" | "$defs" | "definitions", Json::Object(subs)) => {
                Value::from_iter(subs.iter().map(|(name, sub)| (name.as_str(), schema_value(sub))))
            }
            ("items" | "additionalProperties" | "not", sub) => schema_value(sub),
            ("anyOf" | "oneOf" | "allOf" | "prefixItems", Json::Array(subs)) => {
                Value::from(subs.iter().map(schema_value).collect::<Vec<_>>())
            }
            (_, other) => json_value(other),
        };
        (k.as_str(), v)
    }))
}

/// The `tojson` filter: Python's `json.dumps(value, ensure_ascii=False, indent=None,
/// separators=None, sort_keys=False)`, as transformers defines it for chat templates.
fn tojson(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let opts = JsonOptions {
        indent: kwargs.get::<Option<usize>>("indent")?,
        sort_keys: kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false),
        ensure_ascii: kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(false),
    };
    kwargs.assert_all_used()?;
    let mut out = String::new();
    python_json(&value, &opts, 0, &mut out)?;
    Ok(Value::from_safe_string(out))
}

struct JsonOptions {
    indent: Option<usize>,
    sort_keys: bool,
    ensure_ascii: bool,
}

/// Writes `value` as Python's `json.dumps` would.
fn python_json(value: &Value, opts: &JsonOptions, depth: usize, out: &mut String) -> Result<(), Error> {
    use minijinja::value::ValueKind;
    let newline = |out: &mut String, depth: usize| {
        if let Some(n) = opts.indent {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', n * depth));
        }
    };
    let item_sep = if opts.indent.is_some() { "," } else { ", " };
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number if value.is_integer() => {
            let _ = write!(out, "{value}");
        }
        ValueKind::Number => python_float(f64::try_from(value.clone())?, out),
        ValueKind::String => python_string(value.as_str().unwrap_or_default(), opts.ensure_ascii, out),
        ValueKind::Map => {
            let mut keys: Vec<Value> = value.try_iter()?.collect();
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            if opts.sort_keys {
                keys.sort();
            }
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                match key.as_str() {
                    Some(k) => python_string(k, opts.ensure_ascii, out),
                    None => python_string(&key.to_string(), opts.ensure_ascii, out),
                }
                out.push_str(": ");
                python_json(&value.get_item(key)?, opts, depth + 1, out)?;
            }
            newline(out, depth);
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                python_json(item, opts, depth + 1, out)?;
            }
            newline(out, depth);
            out.push(']');
        }
        kind => return Err(Error::new(ErrorKind::InvalidOperation, format!("tojson cannot serialize a value of type {kind}"))),
    }
    Ok(())
}

/// A string as Python's json module writes it.
fn python_string(s: &str, ensure_ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ensure_ascii && !c.is_ascii() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A float as Python's `repr` writes it: the shortest digits that round-trip, in positional
/// notation when the decimal exponent is in [-4, 16), else scientific (`1e-05`, `1.5e+16`).
fn python_float(x: f64, out: &mut String) {
    if x.is_nan() {
        out.push_str("NaN");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    if x.is_sign_negative() {
        out.push('-');
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "1.2345e3", "1e-5", "0e0".
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let point = exp + 1; // digits d1 d2 ... stand for 0.d1d2... * 10^point
    if !(-4 < point && point <= 16) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.unsigned_abs());
    } else if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
        out.push_str(&digits);
    } else if (point as usize) < digits.len() {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    } else {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', point as usize - digits.len()));
        out.push_str(".0");
    }
}

/// Writes template input (or any template value) as Python's `json.dumps(value,
/// ensure_ascii=False)` would: for comparing with a Python reference.
pub fn to_python_json(value: &Value) -> Result<String, TemplateError> {
    let mut out = String::new();
    python_json(value, &JsonOptions { indent: None, sort_keys: false, ensure_ascii: false }, 0, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(x: f64) -> String {
        let mut s = String::new();
        python_float(x, &mut s);
        s
    }

    #[test]
    fn floats_print_as_python_repr() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (2.5, "2.5"),
            (0.1, "0.1"),
            (1e-7, "1e-07"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123456.789, "123456.789"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e300, "1.5e+300"),
            (-3.25e-10, "-3.25e-10"),
            (f64::INFINITY, "Infinity"),
        ];
        for (x, want) in cases {
            assert_eq!(float(x), want, "{x}");
        }
    }

    #[test]
    fn tojson_matches_json_dumps() {
        let t =
            ChatTemplate::new("{{ v | tojson }}|{{ v | tojson(indent=2) }}|{{ e | tojson }}|{{ s | tojson(ensure_ascii=True) }}", "", "")
                .unwrap();
        let env = &t.env;
        let tmpl = env.get_template(NAME).unwrap();
        let v = Value::from_iter([
            ("b", Value::from(vec![Value::from(1), Value::from(()), Value::from(true)])),
            ("a", Value::from("x\"\n\u{1}é")),
        ]);
        let out = tmpl.render(minijinja::context! { v => v, e => Value::from(Vec::<Value>::new()), s => "é😀" }).unwrap();
        assert_eq!(
            out,
            "{\"b\": [1, null, true], \"a\": \"x\\\"\\n\\u0001é\"}|{\n  \"b\": [\n    1,\n    null,\n    true\n  ],\n  \"a\": \"x\\\"\\n\\u0001é\"\n}|[]|\"\\u00e9\\ud83d\\ude00\""
        );
    }

    #[test]
    fn python_string_methods_and_raise_exception_work() {
        let t =
            ChatTemplate::new("{{ '  a,b '.strip().split(',') | join('+') }}{% if x %}{{ raise_exception('no ' + x) }}{% endif %}", "", "")
                .unwrap();
        let tmpl = t.env.get_template(NAME).unwrap();
        assert_eq!(tmpl.render(minijinja::context! {}).unwrap(), "a+b");
        let err = TemplateError::from(tmpl.render(minijinja::context! { x => "system" }).unwrap_err());
        assert!(err.0.contains("the chat template raised: no system"), "{err}");
    }
}
