//! The `calculator` tool: exact rational arithmetic on an expression.

use crate::arithmetic;
use agentos_core::ToolSpec;
use agentos_kernel::{Tool, ToolContext, ToolError};
use async_trait::async_trait;
use serde_json::{json, Value};

/// `calculator {expression}`: evaluates an arithmetic expression exactly with
/// [`arithmetic::evaluate`] and prints the result with [`arithmetic::format`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Calculator;

#[async_trait]
impl Tool for Calculator {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "calculator".into(),
            description: "Evaluates an arithmetic expression exactly, with rational numbers (no rounding errors). \
                Supports integers and decimals (2.5 is read as exactly 5/2), + - * /, unary minus, parentheses, \
                `^` with an integer exponent (negative allowed, at most 10000 in size; `^` binds tighter than unary minus, so -2^2 = -4), \
                `%` as a percent sign (`17.5% * 2340`), and `a % b` between integers as the remainder (sign of the divisor). No variables, functions or scientific notation. \
                An integer result is printed as is (`24`); any other result as an exact fraction followed by a 12-digit \
                decimal approximation (`1/3 ≈ 0.333333333333`). Use it for any arithmetic instead of computing in your head."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "expression": {
                        "type": "string",
                        "minLength": 1,
                        "description": "The expression, for example `(8 - 3) * 4 + 1/2` or `2^-3`."
                    }
                },
                "required": ["expression"],
                "additionalProperties": false
            }),
        }
    }

    async fn call(&self, arguments: Value, _context: &ToolContext) -> Result<String, ToolError> {
        let expression = crate::required_str(&arguments, "expression")?;
        let value = arithmetic::evaluate(expression).map_err(|e| ToolError::Invalid(format!("cannot evaluate `{expression}`: {e}")))?;
        Ok(arithmetic::format(&value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(expression: &str) -> Result<String, ToolError> {
        let dir = std::env::temp_dir();
        Calculator.call(json!({ "expression": expression }), &crate::testing::context(&dir)).await
    }

    #[tokio::test]
    async fn answers_exactly() {
        assert_eq!(run("0.1 + 0.2").await.unwrap(), "3/10 ≈ 0.3");
        assert_eq!(run("(1/3) * 3").await.unwrap(), "1");
        assert_eq!(run("1/3").await.unwrap(), "1/3 ≈ 0.333333333333");
        assert_eq!(run("2^-2").await.unwrap(), "1/4 ≈ 0.25");
    }

    #[tokio::test]
    async fn errors_are_invalid_and_say_where() {
        match run("1 / (3 - 3)").await {
            Err(ToolError::Invalid(message)) => {
                assert_eq!(message, "cannot evaluate `1 / (3 - 3)`: division by zero: the `/` at position 3 divides by 0");
            }
            other => panic!("expected an invalid-argument error, got {other:?}"),
        }
        assert!(matches!(run("(1 + 2").await, Err(ToolError::Invalid(m)) if m.contains("unbalanced parentheses")));
        assert!(matches!(run("2 + a").await, Err(ToolError::Invalid(m)) if m.contains("position 5")));
    }
}
