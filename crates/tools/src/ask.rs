//! The `ask_user` tool: a question to the person behind the run.

use agentos_core::ToolSpec;
use agentos_kernel::{Tool, ToolContext, ToolError};
use async_trait::async_trait;
use serde_json::{json, Value};

/// `ask_user {question}`: asks the person through [`ToolContext::operator`] and returns the
/// answer; fails with a message telling the model to go on alone when nobody is attached.
#[derive(Clone, Copy, Debug, Default)]
pub struct AskUser;

#[async_trait]
impl Tool for AskUser {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "ask_user".into(),
            description: "Asks the person who gave you the task a question and returns their answer as text. \
                Use it only when you cannot go on without information that only they have (a missing requirement, \
                a choice between options that matter to them); do not use it for facts you can look up or work out. \
                Ask one short, specific question. If no person is attached to the run the call fails, and you should \
                proceed with what you have and state your assumptions."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "question": {
                        "type": "string",
                        "minLength": 1,
                        "description": "The question, complete and self-contained, as the person will read it."
                    }
                },
                "required": ["question"],
                "additionalProperties": false
            }),
        }
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<String, ToolError> {
        let question = crate::required_str(&arguments, "question")?;
        match context.operator.ask(question).await {
            Some(answer) if answer.trim().is_empty() => Ok("[the person gave an empty answer]".into()),
            Some(answer) => Ok(answer),
            None => Err(ToolError::Invalid(
                "no person is attached to this run, so nobody can answer; proceed with what you have, and state any assumption you make"
                    .into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{context, with_operator, Answers};
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn returns_the_persons_answer() {
        let operator = Arc::new(Answers("blue".into(), Mutex::new(Vec::new())));
        let ctx = with_operator(&std::env::temp_dir(), operator.clone());
        let answer = AskUser.call(json!({"question": "Which colour?"}), &ctx).await.unwrap();
        assert_eq!(answer, "blue");
        assert_eq!(*operator.1.lock().unwrap(), ["Which colour?"]);
        let silent = with_operator(&std::env::temp_dir(), Arc::new(Answers(" ".into(), Mutex::new(Vec::new()))));
        assert_eq!(AskUser.call(json!({"question": "Anything?"}), &silent).await.unwrap(), "[the person gave an empty answer]");
    }

    #[tokio::test]
    async fn nobody_attached_means_proceed_alone() {
        let ctx = context(&std::env::temp_dir());
        match AskUser.call(json!({"question": "Which colour?"}), &ctx).await {
            Err(ToolError::Invalid(message)) => {
                assert!(message.contains("no person is attached"), "{message}");
                assert!(message.contains("proceed with what you have"), "{message}");
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }
}
