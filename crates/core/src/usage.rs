use serde::{Deserialize, Serialize};
use std::ops::AddAssign;

/// What model calls cost: tokens in and out, number of calls, and money where a price is known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Number of model calls.
    pub model_calls: u64,
    /// Cost in US dollars (0 when unknown or free).
    pub cost_usd: f64,
}

impl Usage {
    /// Tokens in and out together.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

impl AddAssign for Usage {
    fn add_assign(&mut self, o: Usage) {
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.model_calls += o.model_calls;
        self.cost_usd += o.cost_usd;
    }
}
