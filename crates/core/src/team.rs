//! What the members of a team say to each other: posts on their team's board.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A message syscall of a team member: teams talk over one shared board per team, in rounds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MessageOp {
    /// Puts `text` on the board in `round`, as the member's message of that round.
    Post {
        /// The round it belongs to, from 0.
        round: u32,
        /// What the member says.
        text: String,
        /// The tokens the member spent writing it (the output tokens of the reply it posts):
        /// the team's communication cost, after Optima.
        tokens: u64,
    },
    /// Reads the board's messages of `round`, the reader's own left out.
    Read {
        /// The round read.
        round: u32,
    },
}

impl fmt::Display for MessageOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageOp::Post { round, text, .. } => write!(f, "post in round {round} ({} bytes)", text.len()),
            MessageOp::Read { round } => write!(f, "read round {round}"),
        }
    }
}

/// One message on a team's board.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    /// The round it was posted in.
    pub round: u32,
    /// The member who posted it.
    pub sender: String,
    /// What it says.
    pub text: String,
    /// The tokens its sender spent writing it.
    pub tokens: u64,
}
