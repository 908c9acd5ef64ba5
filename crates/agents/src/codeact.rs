//! CodeAct (Wang et al., 2024, "Executable Code Actions Elicit Better LLM Agents"): the agent
//! acts by writing Python, which the kernel runs in the run's persistent sandbox; what the code
//! printed, returned or raised is the next observation. Code composes tools, loops and keeps
//! intermediate results in variables, where a JSON action is one call of one tool. With the action
//! library of DynaSaur (Nguyen et al., 2024, "DynaSaur: Large Language Agents Beyond Predefined
//! Actions"), functions written in earlier runs and relevant to the task are already defined and
//! listed in the prompt, and the functions this run writes may be kept for later ones.
//!
//! The protocol: the system prompt lists the granted tools as Python functions (signatures from
//! their JSON Schemas, their descriptions as docstrings), `final_answer(answer)`, and the library
//! functions offered, with a one-shot example. Each reply must hold one ```python block; the
//! first one runs through [`Agent::execute_code`] and its observation comes back as the next user
//! message (a second block is not run, and the observation says so). The run ends when the code
//! calls `final_answer(...)`. A reply without a code block that states its answer on a line of its
//! own (`Answer: ...` or `Final Answer: ...`, as [`crate::extract_answer`] reads it) is taken as the
//! answer, since a model that has already seen the result often just says it; any other reply
//! without code is an observation that repeats the format. Every model turn counts against the
//! step limit. A cell the agent already sent, or an error it already got, is pointed out in the
//! observation with a request for another approach ([`Repeats`]), and the next reply is sampled
//! at a temperature above zero even in a greedy run, since greedy decoding of nearly the same
//! context writes the same cell again: the strategy's own recovery from the loops small models
//! fall into.

use crate::answer::{labeled_answer, last_line};
use crate::react::{observe_loop, Turn};
use crate::{AgentError, Strategy};
use agentos_core::{CodeOutput, FunctionDefinition, Message, ToolSpec};
use agentos_kernel::{ActionMode, Agent};
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Mutex;

/// Where the model must stop: the observation is the kernel's to write.
const STOPS: &[&str] = &["\nObservation:", "```output"];

/// The system prompt before the function listing.
const INSTRUCTIONS: &str = "You are an agent that solves the user's task by writing Python code. \
Your code runs in a persistent Python 3 interpreter, like a notebook: variables, imports and functions you define stay \
available to your later code. The current directory is your work folder: when the task is about files, they are there; \
open them by their relative names. A task that names no file (a word problem, a puzzle) needs none: compute its answer in \
code. There is no network and no other program can be started. Use only Python's standard library (csv, \
json, statistics, math, re, collections, ...): do not import pandas or numpy, and nothing can be installed (`!pip` is \
not Python).

In each reply, say in one sentence what you will do next, then write exactly one code block (always: a reply without \
code does nothing):
```python
# your code
```
and stop there. Its output comes back to you: what it printed, the value of its last line, or the error. Print what you \
need to see. Work in small steps, and look at the data before you rely on its format.

When you know the answer, call final_answer(answer) in a code block: that ends the task. Answer what the task asks, \
completely (every part of a question with several parts).";

/// The example that ends the system prompt of a task that names a file.
const FILE_EXAMPLE: &str = "Example.
Task: Which city in orders.csv has the most orders, and how many does it have?
Reply:
I will look at the first rows of the file.
```python
import csv
with open(\"orders.csv\", newline=\"\") as f:
    rows = list(csv.DictReader(f))
print(len(rows), rows[:2])
```
Observation:
[stdout]
25 [{'order': '1', 'city': 'Lyon', 'total': '20.5'}, {'order': '2', 'city': 'Paris', 'total': '7.0'}]
Reply:
I will count the orders of each city.
```python
from collections import Counter
counts = Counter(row[\"city\"] for row in rows)
print(counts.most_common(3))
```
Observation:
[stdout]
[('Paris', 14), ('Lyon', 9), ('Nice', 2)]
Reply:
```python
final_answer(\"Paris has the most orders: 14\")
```";

/// The example that ends the system prompt of a task that names no file: a small model copies
/// its example's first step, and opens a file that does not exist if that example opened one.
const COMPUTE_EXAMPLE: &str = "Example.
Task: Pens cost $3 each, and a shop gives 1 free pen for every 4 bought. How many pens does one get for $36?
Reply:
I will compute the pens bought and the free ones.
```python
bought = 36 // 3
free = bought // 4
print(bought, free, bought + free)
```
Observation:
[stdout]
12 3 15
Reply:
```python
final_answer(15)
```";

/// CodeAct by name: [`crate::ReAct`] that acts only in code, so that `codeact` can stand beside
/// `react` (JSON actions) in one benchmark table. See the module documentation.
pub struct CodeAct;

#[async_trait]
impl Strategy for CodeAct {
    fn name(&self) -> &'static str {
        "codeact"
    }

    fn action_modes(&self) -> &'static [ActionMode] {
        &[ActionMode::Code]
    }

    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        run(agent).await
    }
}

/// Runs CodeAct on `agent` (ReAct with [`ActionMode::Code`]).
pub(crate) async fn run(agent: &Agent) -> Result<String, AgentError> {
    let library = agent.retrieve_actions().await?;
    let messages = vec![Message::system(system_prompt(&agent.tools(), &library, agent.task())), Message::user(agent.task())];
    let stops = STOPS.iter().map(|s| s.to_string()).collect();
    let repeats = Mutex::new(Repeats::default());
    let repeats = &repeats;
    observe_loop(agent, messages, stops, |step, reply| async move {
        Ok(match parse(&reply) {
            Reply::Answer(answer) => Turn::Answer(answer),
            Reply::Malformed(problem) => Turn::Observe(format!("Invalid reply: {problem}")),
            Reply::Code { code, ignored } => {
                let output = agent.execute_code(&code).await?;
                if let Some(answer) = output.final_answer {
                    return Ok(Turn::Answer(answer));
                }
                let mut observation = format!("Observation:\n{output}");
                if ignored > 0 {
                    observation.push_str(&format!(
                        "\n(Only your first code block ran; the {ignored} after it did not. Write one code block per reply.)"
                    ));
                }
                match repeats.lock().expect("never poisoned: no panics under it").note(step, &code, &output) {
                    Some(note) => Turn::Rethink(format!("{observation}\n\n{note}")),
                    None => Turn::Observe(observation),
                }
            }
        })
    })
    .await
}

/// What a code-acting agent sent before, so that a repeated cell or a repeated error is pointed
/// out in the observation with a request for another approach: a small model that got `None`
/// from a wrong solver otherwise sends the same cell until its step limit.
#[derive(Default)]
pub(crate) struct Repeats {
    /// Each cell sent, as [`same_code`] compares them, with the step it was first sent at.
    cells: Vec<(String, u32)>,
    /// Each error raised, as its last traceback line, with the step it was first raised at.
    errors: Vec<(String, u32)>,
}

impl Repeats {
    /// Notes the cell `code` sent at `step` (from 0) and its `output`; returns what to tell the
    /// model when the cell was sent before or its error was raised before.
    pub(crate) fn note(&mut self, step: u32, code: &str, output: &CodeOutput) -> Option<String> {
        let cell = same_code(code);
        let error = output.exception.as_deref().and_then(last_line).map(str::to_string);
        let earlier_cell = self.cells.iter().find(|(c, _)| *c == cell).map(|(_, at)| *at);
        let earlier_error = error.as_ref().and_then(|e| self.errors.iter().find(|(seen, _)| seen == e)).map(|(_, at)| *at);
        if earlier_cell.is_none() {
            self.cells.push((cell, step));
        }
        if let (Some(error), None) = (error, earlier_error) {
            self.errors.push((error, step));
        }
        match (earlier_cell, earlier_error) {
            (Some(at), _) => Some(format!(
                "Note: you already sent this same code at step {}, so it does the same thing again. Do not repeat it: if its \
                 result is wrong or empty, the approach is wrong. Check your assumptions (print intermediate values) or try a \
                 different method.",
                at + 1
            )),
            (None, Some(at)) => Some(format!(
                "Note: this is the same error as at step {}. Changing the code around it did not fix it: find its cause (print \
                 the values involved) or take a different approach.",
                at + 1
            )),
            (None, None) => None,
        }
    }
}

/// `code` as cells are compared for repeats: lines trimmed, blank lines and comments dropped.
fn same_code(code: &str) -> String {
    code.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect::<Vec<_>>().join("\n")
}

/// The system prompt: instructions, the functions the code can call, and the example that is
/// like `task` (over a file if it names one, else a computation).
pub(crate) fn system_prompt(tools: &[ToolSpec], library: &[FunctionDefinition], task: &str) -> String {
    let mut prompt = format!("{INSTRUCTIONS}\n\nBesides Python's standard library, these functions are defined:\n\n");
    for tool in tools {
        prompt.push_str(&tool_function(tool));
        prompt.push('\n');
    }
    prompt.push_str(&function_listing("final_answer(answer)", "Ends the task with this answer."));
    prompt.push_str(
        "\nFunctions you define at the top level with a docstring may be kept for later tasks: make them general (paths and \
         column names as parameters) and import what they need inside their body.\n\n",
    );
    prompt.push_str(if names_a_file(task) { FILE_EXAMPLE } else { COMPUTE_EXAMPLE });
    // Last, nearest the task, so that a small model does not lose them behind the example.
    if !library.is_empty() {
        prompt.push_str(
            "\n\nFunctions written in earlier tasks are already defined in your interpreter. When one fits the task, call it \
             in your first code block instead of writing that code again:\n\n",
        );
        for function in library {
            prompt.push_str(&function_listing(&function.signature, &function.docstring));
        }
    }
    prompt
}

/// Whether `task` names a file (a word such as `prices.csv` or `notes.txt`), by the extensions of
/// the files agents work on.
fn names_a_file(task: &str) -> bool {
    const EXTENSIONS: &[&str] =
        &["csv", "tsv", "json", "jsonl", "txt", "md", "xlsx", "xls", "xml", "yaml", "yml", "html", "log", "py", "parquet"];
    task.split_whitespace().any(|word| {
        let word = word.trim_matches(|c: char| !c.is_alphanumeric() && c != '_');
        word.rsplit_once('.')
            .is_some_and(|(stem, extension)| !stem.is_empty() && EXTENSIONS.contains(&extension.to_ascii_lowercase().as_str()))
    })
}

/// A function as the prompt lists it: its `def` line and its docstring, without a body.
fn function_listing(signature: &str, docstring: &str) -> String {
    let docstring = docstring.trim();
    if docstring.is_empty() {
        return format!("def {signature}: ...\n");
    }
    let indented = docstring.lines().collect::<Vec<_>>().join("\n    ");
    format!("def {signature}:\n    \"\"\"{indented}\"\"\"\n")
}

/// A tool as a Python function: parameters from its JSON Schema (required first, as the
/// sandbox binds positional arguments), the description and each parameter's as the docstring.
pub(crate) fn tool_function(tool: &ToolSpec) -> String {
    let empty = serde_json::Map::new();
    let properties = tool.parameters.get("properties").and_then(Value::as_object).unwrap_or(&empty);
    let required: Vec<&str> =
        tool.parameters.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let order = required.iter().copied().chain(properties.keys().map(String::as_str).filter(|p| !required.contains(p)));
    let mut parameters = Vec::new();
    let mut notes = Vec::new();
    for name in order {
        let about = properties.get(name).unwrap_or(&Value::Null);
        let annotation = match about.get("type").and_then(Value::as_str) {
            Some("string") => ": str",
            Some("integer") => ": int",
            Some("number") => ": float",
            Some("boolean") => ": bool",
            Some("array") => ": list",
            Some("object") => ": dict",
            _ => "",
        };
        let default = match (required.contains(&name), about.get("default")) {
            (true, _) => String::new(),
            (false, Some(value)) => format!(" = {}", python_literal(value)),
            (false, None) => " = None".to_string(),
        };
        parameters.push(format!("{name}{annotation}{default}"));
        if let Some(description) = about.get("description").and_then(Value::as_str) {
            notes.push(format!("{name}: {description}"));
        }
    }
    let mut docstring = tool.description.trim().to_string();
    if !notes.is_empty() {
        docstring.push_str(&format!("\n{}", notes.join("\n")));
    }
    docstring.push_str("\nReturns the result as a string; raises ToolError if the tool refuses or fails.");
    function_listing(&format!("{}({}) -> str", tool.name, parameters.join(", ")), &docstring)
}

/// A JSON value as the Python literal that means the same.
fn python_literal(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Array(items) => format!("[{}]", items.iter().map(python_literal).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => {
            let entries: Vec<String> = map.iter().map(|(k, v)| format!("{}: {}", Value::String(k.clone()), python_literal(v))).collect();
            format!("{{{}}}", entries.join(", "))
        }
        Value::Number(_) | Value::String(_) => value.to_string(),
    }
}

/// What a reply without code is told.
const NO_CODE: &str = "your reply has no code block, so nothing ran. If your reply is the final answer, submit it with \
final_answer in a code block:
```python
final_answer(\"<the answer, complete>\")
```
Otherwise write your next step as one code block that starts with a line ```python and ends with a line ```.";

/// What one reply asks for.
#[derive(Debug, PartialEq)]
pub(crate) enum Reply {
    /// Run this code; `ignored` more code blocks followed it.
    Code { code: String, ignored: usize },
    /// The reply states its answer without code.
    Answer(String),
    /// The reply follows neither form; the text says what is wrong.
    Malformed(String),
}

/// What `reply` asks for: its first Python block (fenced with ```python, ```py or a bare ```; a
/// block cut off by a stop sequence runs to the end of the reply), or a stated answer.
pub(crate) fn parse(reply: &str) -> Reply {
    let blocks = code_blocks(reply);
    match blocks.first() {
        Some(code) if code.trim().is_empty() => Reply::Malformed("your code block is empty; put the code between the fences".into()),
        Some(code) => Reply::Code { code: code.clone(), ignored: blocks.len() - 1 },
        None => labeled_answer(reply).map_or_else(|| Reply::Malformed(NO_CODE.into()), Reply::Answer),
    }
}

/// The Python code blocks of `text`, in order.
fn code_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.trim_start().strip_prefix("```") else { continue };
        let info = info.trim().to_ascii_lowercase();
        let python = matches!(info.as_str(), "" | "python" | "py" | "python3");
        let mut body = Vec::new();
        for inner in lines.by_ref() {
            if inner.trim() == "```" {
                break;
            }
            body.push(inner);
        }
        if python {
            blocks.push(body.join("\n"));
        }
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_code_blocks_answers_and_everything_else() {
        let code = |code: &str, ignored| Reply::Code { code: code.into(), ignored };
        let cases = [
            ("I will load it.\n```python\nx = 1\nprint(x)\n```\nThen I will see.", code("x = 1\nprint(x)", 0)),
            ("```py\n  indented = True\n```", code("  indented = True", 0)),
            ("```\nbare = 1\n```", code("bare = 1", 0)),
            ("Cut off by a stop:\n```python\nprint(2)", code("print(2)", 0)),
            ("```output\n42\n```\n```python\na()\n```\n```python\nb()\n```", code("a()", 1)),
            ("The mean is 3.\nAnswer: 3", Reply::Answer("3".into())),
            ("**Final Answer:** the sky", Reply::Answer("the sky".into())),
        ];
        for (reply, want) in cases {
            assert_eq!(parse(reply), want, "{reply}");
        }
        for malformed in ["I think it is 3.", "```python\n\n```", ""] {
            assert!(matches!(parse(malformed), Reply::Malformed(_)), "{malformed:?}");
        }
    }

    #[test]
    fn tools_are_listed_as_python_functions_with_their_schemas() {
        let tool = ToolSpec {
            name: "write_file".into(),
            description: "Writes text to a file.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "append": {"type": "boolean", "default": false, "description": "Add to the end."},
                    "path": {"type": "string", "description": "The file."},
                    "content": {"type": "string"},
                    "tags": {"type": "array"}
                },
                "required": ["path", "content"]
            }),
        };
        let listed = tool_function(&tool);
        assert!(
            listed.starts_with("def write_file(path: str, content: str, append: bool = False, tags: list = None) -> str:\n"),
            "{listed}"
        );
        assert!(listed.contains("    \"\"\"Writes text to a file.\n    path: The file.\n    append: Add to the end.\n"), "{listed}");
        assert!(listed.contains("raises ToolError"), "{listed}");
        assert_eq!(python_literal(&json!({"a": [1, null, "x"]})), "{\"a\": [1, None, \"x\"]}");
    }

    #[test]
    fn the_prompt_lists_tools_final_answer_and_offered_library_functions() {
        let calculator = ToolSpec {
            name: "calculator".into(),
            description: "Evaluates arithmetic.".into(),
            parameters: json!({"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}),
        };
        let mean = FunctionDefinition {
            name: "column_mean".into(),
            signature: "column_mean(path, column)".into(),
            docstring: "Mean of a CSV column.\n\nSkips blank cells.".into(),
            source: String::new(),
        };
        let prompt = system_prompt(&[calculator], &[mean], "Mean price in prices.csv?");
        assert!(prompt.contains("def calculator(expression: str) -> str:"), "{prompt}");
        assert!(prompt.contains("def final_answer(answer):\n    \"\"\"Ends the task with this answer.\"\"\""), "{prompt}");
        assert!(prompt.contains("already defined") && prompt.ends_with("Skips blank cells.\"\"\"\n"), "listed last: {prompt}");
        assert!(
            prompt.contains("def column_mean(path, column):\n    \"\"\"Mean of a CSV column.\n    \n    Skips blank cells.\"\"\""),
            "{prompt}"
        );
        assert!(prompt.contains("orders.csv") && !prompt.contains("Pens cost"), "a task over a file gets the file example");
        let word_problem = system_prompt(&[], &[], "Pens cost $1.5 each, e.g. in a shop. How many for $3?");
        assert!(!word_problem.contains("already defined"), "no library section without functions");
        assert!(word_problem.contains("Pens cost") && !word_problem.contains("orders.csv"), "{word_problem}");
    }
}
