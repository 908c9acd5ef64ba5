//! Multi-session memory tasks built from the GSM8K file (no conversational data set that a
//! registry package ships could be had; see the README): a person tells the premises of several
//! word problems across several sessions, one sentence a turn, the problems' sentences
//! interleaved, and afterwards asks each problem's question. Answering needs the premises told
//! sessions earlier among the other problems' premises, as in LongMemEval's multi-session
//! questions; every question's evidence (the turns that hold its premises) is known, so recall@k
//! is exact, and its answer is GSM8K's, checked exactly.

use crate::gsm8k::Problem;
use crate::{Feedback, Task};

/// One thing the person said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Turn {
    /// The session it was said in, from 1.
    pub session: usize,
    /// What was said.
    pub text: String,
}

/// A question asked after the sessions, with where its answer lies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// The problem it is the question of.
    pub problem: Problem,
    /// The question sentence.
    pub text: String,
    /// The indexes (into [`Conversation::turns`]) of the turns that state its premises.
    pub evidence: Vec<usize>,
}

impl Question {
    /// Checks an answer against the problem's (GSM8K's final number, exactly).
    pub fn check(&self, answer: &str) -> Feedback {
        self.problem.check(answer)
    }
}

/// Sessions of turns, then questions about them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversation {
    /// Every turn, in the order said.
    pub turns: Vec<Turn>,
    /// The questions, one per problem.
    pub questions: Vec<Question>,
}

/// A problem's premise sentences and its question sentence, when its text ends with a question
/// and states at least two premises before it.
pub fn split(problem: &Problem) -> Option<(Vec<String>, String)> {
    let mut sentences: Vec<String> = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = problem.question.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        current.push(*c);
        let ends = matches!(c, '.' | '?' | '!') && chars.get(i + 1).is_none_or(|n| n.is_whitespace());
        if ends {
            sentences.push(current.trim().to_string());
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        sentences.push(current.trim().to_string());
    }
    let question = sentences.pop().filter(|q| q.ends_with('?'))?;
    (sentences.len() >= 2).then_some((sentences, question))
}

/// Conversations of `per_conversation` problems each, spread over `sessions` sessions, from
/// `problems` in order (problems that [`split`] cannot use are skipped). In each session the
/// person tells the next share of every problem's premises, the problems taken in turn, so each
/// problem's premises lie in several sessions among the others'.
pub fn conversations(problems: &[Problem], per_conversation: usize, sessions: usize, count: usize) -> Vec<Conversation> {
    let usable: Vec<(&Problem, Vec<String>, String)> =
        problems.iter().filter_map(|p| split(p).map(|(premises, question)| (p, premises, question))).collect();
    usable
        .chunks_exact(per_conversation.max(1))
        .take(count)
        .map(|chunk| {
            let mut turns = Vec::new();
            let mut evidence: Vec<Vec<usize>> = vec![Vec::new(); chunk.len()];
            for session in 0..sessions.max(1) {
                for (p, (_, premises, _)) in chunk.iter().enumerate() {
                    // Session s tells the premises whose index falls in its share.
                    for (i, premise) in premises.iter().enumerate() {
                        if i * sessions.max(1) / premises.len() == session {
                            evidence[p].push(turns.len());
                            turns.push(Turn { session: session + 1, text: premise.clone() });
                        }
                    }
                }
            }
            let questions = chunk
                .iter()
                .zip(evidence)
                .map(|((problem, _, question), evidence)| Question { problem: (*problem).clone(), text: question.clone(), evidence })
                .collect();
            Conversation { turns, questions }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_rational::BigRational;

    fn problem(id: &str, text: &str, answer: i64) -> Problem {
        Problem { id: id.into(), question: text.into(), answer: BigRational::from_integer(answer.into()), solution: String::new() }
    }

    #[test]
    fn premises_spread_over_sessions_with_known_evidence() {
        let a = problem("a", "Ann has 3 apples. She buys 4 more. Each costs $2. How much did she spend?", 8);
        let b = problem("b", "Bo runs 5 km. Then he runs 2 km more. How far did he run?", 7);
        let no_question = problem("c", "Cy has 2 cats. He has 3 dogs.", 5);
        assert_eq!(
            split(&a).unwrap(),
            (vec!["Ann has 3 apples.".into(), "She buys 4 more.".into(), "Each costs $2.".into()], "How much did she spend?".into())
        );
        assert_eq!(split(&no_question), None);
        let conversations = conversations(&[a, no_question, b], 2, 2, 5);
        assert_eq!(conversations.len(), 1);
        let c = &conversations[0];
        let said: Vec<(usize, &str)> = c.turns.iter().map(|t| (t.session, t.text.as_str())).collect();
        assert_eq!(
            said,
            [
                (1, "Ann has 3 apples."),
                (1, "She buys 4 more."),
                (1, "Bo runs 5 km."),
                (2, "Each costs $2."),
                (2, "Then he runs 2 km more.")
            ]
        );
        assert_eq!(c.questions[0].evidence, [0, 1, 3]);
        assert_eq!(c.questions[1].evidence, [2, 4]);
        assert_eq!(c.questions[1].text, "How far did he run?");
        assert!(c.questions[1].check("Answer: 7").reward == 1.0);
    }
}
