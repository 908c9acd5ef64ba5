//! Program-aided reasoning: PAL (Gao et al., 2023, "PAL: Program-aided Language Models") and
//! Program of Thoughts (Chen et al., 2023, "Program of Thoughts Prompting: Disentangling
//! Computation from Reasoning for Numerical Reasoning Tasks"). The model does not compute: it
//! writes a Python program whose output is the answer, and the interpreter computes. Small models
//! reason about a problem far better than they multiply, so the arithmetic errors that sink a
//! chain of thought go away.
//!
//! One model call writes the program (one ```python block), which runs once as a cell of the
//! run's sandbox ([`Agent::execute_code`]: journaled, confined, its output cut to a size), after
//! the imports the prompt says are there (itertools' combinations, permutations and product,
//! `Fraction`, `math`). The
//! answer is what the program passed to `final_answer()`, else the last line it printed, else
//! the value of its last expression. A program that raises or outputs nothing ends the run
//! without an answer, as in the paper: there is no second attempt (that is what
//! [`crate::ProgramConsistency`] and [`crate::CodeAct`] add).

use crate::answer::{labeled_answer, last_line};
use crate::codeact::{parse, Reply};
use crate::{sampling, AgentError, Strategy};
use agentos_core::{ChatRequest, CodeOutput, Message, Sampling};
use agentos_kernel::{ActionMode, Agent};
use async_trait::async_trait;

/// Program-aided reasoning: one program, run once, its output the answer. See the module
/// documentation.
pub struct ProgramAided;

/// The system prompt: what the program is for and how its output is read, then an example.
const PROMPT: &str = "Solve the user's task by writing a Python program that computes the answer. Do not solve it \
yourself: reason in the program, with a variable for each quantity and a comment for each step, and let Python do every \
calculation. The program runs once, in Python 3 with the standard library only, and what it prints last is taken as your \
answer: print the answer alone, in the form the task asks for (a number without units, an expression, a word). When the \
task says how to end a reply (such as a line `Answer: ...`), that is what your program prints, not a line of Python.

When the task asks you to find something that meets conditions (numbers, an expression, an arrangement), write a \
program that tries every possibility systematically and checks each one exactly (Fraction instead of floats), and \
print the first that passes. These are imported already: permutations, combinations and product from itertools, \
Fraction from fractions, and math.

Reply with exactly one ```python code block and nothing after it.

Example.
Task: A baker makes 3 batches of 24 cookies. She sells two thirds of them at $1.50 each. How many dollars does she make?
Reply:
```python
# cookies baked in all
cookies = 3 * 24
# two thirds of them are sold
sold = cookies * 2 / 3
# each sells for $1.50
money = sold * 1.50
print(round(money, 2))
```

Example.
Task: Find two whole numbers from 1 to 50 whose product is 91 and whose sum is 20. End your reply with a line `Answer: <a> and <b>`.
Reply:
```python
from itertools import combinations
# try every pair and keep the first that meets both conditions
for a, b in combinations(range(1, 51), 2):
    if a * b == 91 and a + b == 20:
        print(f\"Answer: {a} and {b}\")
        break
```";

/// What follows the task in the user message: small models follow what they read last, and a
/// task that asks for an `Answer:` line otherwise gets that line instead of a program.
const REMINDER: &str = "Write the Python program that solves this task and prints the answer (one ```python block, \
nothing else). Do not write the answer yourself.";

/// What runs before each program, as the prompt promises: small models use `permutations` or
/// `Fraction` and forget to import them, and the program dies on a `NameError` it cannot fix.
const IMPORTS: &str = "from itertools import combinations, permutations, product\nfrom fractions import Fraction\nimport math";

/// The program-writing request for the agent's task, sampled with `sampling`.
pub(crate) fn request(agent: &Agent, sampling: Sampling) -> ChatRequest {
    let task = format!("Task: {}\n\n{REMINDER}", agent.task());
    ChatRequest { messages: vec![Message::system(PROMPT), Message::user(task)], sampling, ..Default::default() }
}

/// Runs the program in `reply` and gives its answer, or says why it gave none.
pub(crate) async fn execute(agent: &Agent, reply: &str) -> Result<Result<String, String>, AgentError> {
    let code = match parse(reply) {
        Reply::Code { code, .. } => format!("{IMPORTS}\n{code}"),
        Reply::Answer(_) | Reply::Malformed(_) => return Ok(Err("the reply holds no program (no ```python block)".into())),
    };
    Ok(answer_of(&agent.execute_code(&code).await?))
}

/// The answer a program's run gives: `final_answer()`'s value, else its last printed line (what
/// follows its `Answer:` label, if it has one), else its last expression's value; `Err` says why
/// there is none.
pub(crate) fn answer_of(output: &CodeOutput) -> Result<String, String> {
    if let Some(answer) = &output.final_answer {
        return Ok(answer.trim().to_string());
    }
    let why = output
        .denied
        .as_ref()
        .or(output.interruption.as_ref())
        .or(output.exception.as_ref())
        .map(|why| last_line(why).unwrap_or(why).to_string());
    if let Some(why) = why {
        return Err(format!("the program failed: {why}"));
    }
    // A printed `Answer: 7` (the form a task may ask for) is the answer 7, so that votes agree.
    let printed = last_line(&output.stdout).map(|l| labeled_answer(l).unwrap_or_else(|| l.to_string()));
    match printed.or_else(|| output.value.clone()) {
        Some(answer) => Ok(answer),
        None => Err("the program printed nothing".into()),
    }
}

#[async_trait]
impl Strategy for ProgramAided {
    fn name(&self) -> &'static str {
        "pal"
    }

    fn action_modes(&self) -> &'static [ActionMode] {
        &[ActionMode::Code]
    }

    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        let reply = agent.model(request(agent, sampling(agent))).await?.message.content();
        execute(agent, &reply).await?.map_err(AgentError::NoAnswer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_final_answer_else_the_last_printed_line_else_the_value() {
        let output = |stdout: &str, value: Option<&str>, exception: Option<&str>| CodeOutput {
            stdout: stdout.into(),
            value: value.map(Into::into),
            exception: exception.map(Into::into),
            ..Default::default()
        };
        assert_eq!(answer_of(&output("step 1\n42\n\n", Some("7"), None)), Ok("42".into()));
        assert_eq!(answer_of(&output("", Some("7"), None)), Ok("7".into()));
        assert_eq!(answer_of(&output("Answer: (8 - 4) * 6 = 24\n", None, None)), Ok("(8 - 4) * 6 = 24".into()));
        assert_eq!(answer_of(&CodeOutput { final_answer: Some(" 9 ".into()), stdout: "1".into(), ..Default::default() }), Ok("9".into()));
        let failed = answer_of(&output("3\n", None, Some("Traceback ...\n  line 2\nZeroDivisionError: division by zero\n")));
        assert_eq!(failed, Err("the program failed: ZeroDivisionError: division by zero".into()));
        assert_eq!(answer_of(&output(" \n", None, None)), Err("the program printed nothing".into()));
    }
}
