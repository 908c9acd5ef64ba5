//! The chat template rendered by minijinja equals the Python jinja2 reference byte for byte.
//!
//! `tests/data/template_cases.json` was produced by `tests/data/make_template_cases.py` from the
//! template of Qwen2.5-Coder-0.5B-Instruct (`tests/data/qwen2.5-coder-0.5b-instruct.jinja`, read
//! from the GGUF's metadata), with the jinja2 environment transformers uses. No model file is
//! needed here.

use agentos_core::{ChatRequest, Message, ToolSpec};
use agentos_local::{template_input, to_python_json, ChatTemplate};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    name: String,
    request: Request,
    template_input_json: String,
    expected: String,
}

#[derive(Deserialize)]
struct Request {
    messages: Vec<Message>,
    #[serde(default)]
    tools: Vec<ToolSpec>,
}

fn cases() -> Vec<Case> {
    let text = include_str!("data/template_cases.json");
    serde_json::from_str(text).expect("template_cases.json parses")
}

fn qwen() -> ChatTemplate {
    ChatTemplate::new(include_str!("data/qwen2.5-coder-0.5b-instruct.jinja"), "<|endoftext|>", "<|im_end|>")
        .expect("the Qwen template compiles")
}

#[test]
fn messages_and_tools_map_to_the_reference_template_input() {
    for case in cases() {
        let (messages, tools) = template_input(&case.request.messages, &case.request.tools);
        let both = minijinja::Value::from_iter([("messages", messages), ("tools", tools)]);
        assert_eq!(to_python_json(&both).unwrap(), case.template_input_json, "case {}", case.name);
    }
}

#[test]
fn minijinja_renders_the_qwen_template_exactly_as_jinja2() {
    let template = qwen();
    let cases = cases();
    assert!(cases.len() >= 3);
    for case in cases {
        let rendered = template.render(&case.request.messages, &case.request.tools).unwrap();
        if rendered != case.expected {
            let at =
                rendered.bytes().zip(case.expected.bytes()).position(|(a, b)| a != b).unwrap_or(rendered.len().min(case.expected.len()));
            panic!(
                "case {}: differs from the jinja2 reference at byte {at}\n--- minijinja ---\n{}\n--- jinja2 ---\n{}",
                case.name,
                &rendered[at.saturating_sub(80).min(rendered.len())..],
                &case.expected[at.saturating_sub(80).min(case.expected.len())..]
            );
        }
    }
}

#[test]
fn a_template_error_says_what_failed() {
    let template = ChatTemplate::new(
        "{% if messages[0].role != 'user' %}{{ raise_exception('Conversations must start with the user') }}{% endif %}",
        "",
        "",
    )
    .unwrap();
    let request = ChatRequest { messages: vec![Message::system("s")], ..Default::default() };
    let err = template.render(&request.messages, &request.tools).unwrap_err().to_string();
    assert!(err.contains("Conversations must start with the user"), "{err}");
    let err = ChatTemplate::new("{% for %}", "", "").unwrap_err().to_string();
    assert!(err.contains("syntax error"), "{err}");
}
