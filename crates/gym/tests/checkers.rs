//! The exact checkers of the environments, as tables of answers with their verdicts, the data
//! sets they load, and the feedback before the answer that only Game of 24 gives.

use agentos_gym::game24::{self, Rejection};
use agentos_gym::{crosswords, data_dir, dataqa, gsm8k, Environment, Task};
use agentos_tools::arithmetic::CalcError;
use num_rational::BigRational;
use serde_json::Value;

#[test]
fn game24_accepts_solutions_however_they_are_written() {
    let cases: &[(&[u32], &str, &str)] = &[
        (&[4, 9, 10, 13], "Answer: (10 - 4) * (13 - 9) = 24", "(10 - 4) * (13 - 9)"),
        (&[4, 9, 10, 13], "(13-9)*(10-4)", "(13-9)*(10-4)"),
        (&[4, 9, 10, 13], "Let me try.\n**Answer:** `(10-4)*(13-9) = 24`.", "(10-4)*(13-9)"),
        (&[4, 9, 10, 13], "answer: (10 − 4) × (13 − 9) = 24", "(10 - 4) * (13 - 9)"),
        (&[4, 9, 10, 13], "Answer: $(10 - 4) \\times (13 - 9) = 24$", "(10 - 4) * (13 - 9)"),
        (&[4, 9, 10, 13], "Answer: 24 = (10 - 4) * (13 - 9)", "(10 - 4) * (13 - 9)"),
        (&[4, 9, 10, 13], "Answer: (10 - 4) * (13 - 9) = 6 * 4 = 24", "(10 - 4) * (13 - 9)"),
        (&[4, 9, 10, 13], "Answer:\n\n(10 - 4) * (13 - 9) = 24\n", "(10 - 4) * (13 - 9)"),
        (&[4, 9, 10, 13], "First 13 - 9 = 4.\nThen 10 - 4 = 6.\n(10 - 4) * (13 - 9) = 24.", "(10 - 4) * (13 - 9)"),
        (&[3, 3, 8, 8], "Answer: 8 / (3 - 8 / 3) = 24", "8 / (3 - 8 / 3)"),
        (&[1, 1, 4, 6], "Answer: 6 * 4 * (1 / 1) = 24", "6 * 4 * (1 / 1)"),
        (&[1, 1, 4, 6], "Answer: 1 * 1 * 4 * 6", "1 * 1 * 4 * 6"),
        (&[1, 1, 11, 11], "Answer: 11 + 11 + 1 + 1 = 24", "11 + 11 + 1 + 1"),
        (&[1, 2, 3, 4], "Answer: -(-4 * 3 * 2 * 1) = 24", "-(-4 * 3 * 2 * 1)"),
    ];
    for (numbers, answer, expression) in cases {
        assert_eq!(game24::check_answer(numbers, answer).as_deref(), Ok(*expression), "{numbers:?} {answer:?}");
    }
}

#[test]
fn game24_rejects_reuse_skipping_division_by_zero_and_foreign_numbers_or_operators() {
    type Expect = fn(&Rejection) -> bool;
    let cases: &[(&[u32], &str, Expect)] = &[
        (&[4, 9, 10, 13], "Answer: 4 * (10 - 4) + 13 - 13 = 24", |r| matches!(r, Rejection::Reused { number: 4, used: 2, given: 1, .. })),
        (&[1, 1, 4, 6], "Answer: (1 + 1 + 1 + 1) * 6 = 24", |r| matches!(r, Rejection::Reused { number: 1, used: 4, given: 2, .. })),
        (&[1, 2, 3, 4], "Answer: 2 * 3 * 4 = 24", |r| matches!(r, Rejection::Unused { number: 1, .. })),
        (&[1, 1, 4, 6], "Answer: 4 * 6 * 1 = 24", |r| matches!(r, Rejection::Unused { number: 1, .. })),
        (&[1, 1, 4, 6], "Answer: 6 * 4 / (1 - 1) = 24", |r| matches!(r, Rejection::Invalid(CalcError::DivisionByZero { .. }))),
        (&[4, 9, 10, 13], "Answer: 4 * 6 = 24", |r| matches!(r, Rejection::OtherNumber { number, .. } if number == "6")),
        (&[1, 1, 11, 11], "Answer: (11 + 1) * (1 + 1) = 24", |r| matches!(r, Rejection::Reused { number: 1, used: 3, given: 2, .. })),
        (&[1, 2, 3, 4], "Answer: 2^3 * (4 - 1) = 24", |r| matches!(r, Rejection::Character { found: '^', .. })),
        (&[1, 2, 3, 4], "Answer: (1 + 2 + 3) * 4 % = 24", |r| matches!(r, Rejection::Character { found: '%', .. })),
        (&[1, 2, 3, 4], "Answer: (1 + 2 + 3) * 4.0 = 24", |r| matches!(r, Rejection::Character { found: '.', .. })),
        (&[1, 2, 3, 4], "Answer: sqrt(4) * 3 * (2 + 1 + 1)", |r| matches!(r, Rejection::Character { found: 's', .. })),
        (&[1, 2, 3, 4], "Answer: (1 + 2 + 3)(4) = 24", |r| matches!(r, Rejection::Invalid(CalcError::TrailingInput { .. }))),
        (&[4, 9, 10, 13], "Answer: (10 + 4) * (13 - 9) = 24", |r| matches!(r, Rejection::NotTwentyFour { value } if value == "56")),
        (&[4, 9, 10, 13], "Answer: 13 / 9 * 10 - 4 = 24", |r| matches!(r, Rejection::NotTwentyFour { value } if value.starts_with("94/9"))),
        (&[4, 9, 10, 13], "", |r| *r == Rejection::NoExpression),
        (&[4, 9, 10, 13], "Answer:", |r| *r == Rejection::NoExpression),
    ];
    for (numbers, answer, expected) in cases {
        let got = game24::check_answer(numbers, answer);
        assert!(got.as_ref().is_err_and(expected), "{numbers:?} {answer:?}: {got:?}");
    }
}

#[test]
fn game24_feedback_rewards_a_solution_and_explains_a_rejection() {
    let puzzle = game24::Puzzle { rank: 7, numbers: vec![4, 9, 10, 13], human_solve_rate: 98.5 };
    let right = puzzle.check("Answer: (10 - 4) * (13 - 9) = 24");
    assert_eq!((right.reward, right.done, right.info["expression"].as_str()), (1.0, true, Some("(10 - 4) * (13 - 9)")));
    let wrong = puzzle.check("Answer: 4 * (10 - 4) + 13 - 13 = 24");
    assert_eq!((wrong.reward, wrong.done), (0.0, true));
    assert_eq!(wrong.observation, "wrong: 4 is used 2 times but the puzzle has it 1 time(s); use each of 4 9 10 13 exactly once");
    assert_eq!(wrong.info["expression"], "4 * (10 - 4) + 13 - 13");
    let observation = puzzle.observation();
    assert!(observation.text.contains("4 9 10 13") && observation.tools.is_empty(), "{observation:?}");

    // A candidate checked before the answer gets the verdict, and the episode goes on.
    let mut env = game24::load(&data_dir().unwrap()).unwrap();
    assert!(env.gives_feedback());
    assert_eq!(env.check("6 * 4"), None, "no episode under way");
    env.reset(0).unwrap();
    assert_eq!(env.check("6 * 4 + 1 + 1").as_deref(), Some("wrong: the expression equals 26, not 24"));
    assert_eq!(env.step("6 * 4 * 1 * 1").unwrap().reward, 1.0, "a check does not end the episode");
    assert!(!gsm8k::load(&data_dir().unwrap()).unwrap().gives_feedback());
}

#[test]
fn crosswords_score_letters_words_and_the_game() {
    let solution = "AGENDWIRERAMOVERISENEXERT";
    let grid = "AGEND\nWIRER\nAMOVE\nRISEN\nEXERT";
    // (answer, letters right, words right, solved)
    let cases: &[(String, usize, usize, bool)] = &[
        (grid.to_string(), 25, 10, true),
        (format!("Here is my grid:\n\n{}\n", grid.to_lowercase().replace('\n', "\n ").replace("", " ")), 25, 10, true),
        ("| A | G | E | N | D |\n|---|---|---|---|---|\n| W | I | R | E | R |\n| A | M | O | V | E |\n| R | I | S | E | N |\n| E | X | E | R | T |".into(), 25, 10, true),
        ("h1 agenda... so:\nHello\nAGEND\nWIRER\nAMOVE\nRISEN\nEXERT\nDone!".into(), 25, 10, true),
        ("Row 1: AGEND\nRow 2: WIRER\nRow 3: AMOVE\nRow 4: RISEN\nRow 5: EXERT".into(), 25, 10, true),
        ("Answer: AGENDWIRERAMOVERISENEXERT".into(), 25, 10, true),
        ("BGEND\nWIRER\nAMOVE\nRISEN\nEXERT".into(), 24, 8, false),
        ("AGEND\nWIRER\nAMOVE\nRISEN\nZZZZZ".into(), 20, 4, false),
        ("AGEND\nWIRER\nAMOVE\nRISEN\nXXXXX".into(), 21, 5, false),
        ("AGEND\nWIRER\nAMAVE\nRISEN\nEXERT".into(), 24, 8, false),
        ("ZZZZZ\nZZZZZ\nZZZZZ\nZZZZZ\nZZZZZ".into(), 0, 0, false),
    ];
    for (answer, letters, words, solved) in cases {
        let filled = crosswords::grid(answer).unwrap_or_else(|| panic!("no grid read from {answer:?}"));
        let score = crosswords::score(solution, &filled);
        assert_eq!((score.letters, score.words, score.solved()), (*letters, *words, *solved), "{answer:?}");
    }
    for unreadable in ["", "I do not know.", "AGEND\nWIRER\nAMOVE\nRISEN", "AGEND WIRER AMOVE"] {
        assert_eq!(crosswords::grid(unreadable), None, "{unreadable:?}");
    }
}

#[test]
fn crosswords_feedback_rewards_only_a_solved_game_and_reports_the_accuracies() {
    let env = crosswords::load(&data_dir().unwrap()).unwrap();
    let first = &env.tasks()[0];
    assert_eq!(first.solution, "AGENDWIRERAMOVERISENEXERT");
    let solved = first.check("AGEND\nWIRER\nAMOVE\nRISEN\nEXERT");
    assert_eq!((solved.reward, solved.info["letters"].as_f64(), solved.info["words"].as_f64()), (1.0, Some(1.0), Some(1.0)));
    let close = first.check("BGEND\nWIRER\nAMOVE\nRISEN\nEXERT");
    assert_eq!((close.reward, close.info["letters"].as_f64(), close.info["words"].as_f64()), (0.0, Some(0.96), Some(0.8)));
    assert_eq!(close.observation, "not solved: 24 of 25 letters and 8 of 10 words are right");
    let none = first.check("no idea");
    assert_eq!((none.reward, none.info["letters"].as_f64()), (0.0, Some(0.0)));
    let observation = first.observation();
    assert!(observation.text.contains("h1. An agendum; something to be done\n") && observation.text.contains("v5. Drenched; drowned\n"));
}

fn rational(text: &str) -> BigRational {
    agentos_tools::arithmetic::evaluate(text).unwrap()
}

#[test]
fn gsm8k_matches_the_final_number_exactly() {
    // (gold, answer, right)
    let cases: &[(&str, &str, bool)] = &[
        ("18", "Answer: 18", true),
        ("18", "Answer: $18.00", true),
        ("18", "So she makes 9 * 2 = $18 every day.", true),
        ("18", "Answer: 9 * 2 = 18", true),
        ("18", "The answer is 18.", true),
        ("18", "She sells 9 eggs.\n#### 18", true),
        ("18", "\\boxed{18}", true),
        ("18", "Answer:\n18 dollars", true),
        ("18", "Answer: 18 dollars, from 9 eggs at $2", true),
        ("18", "Answer: 17", false),
        ("18", "Answer: 18.5", false),
        ("18", "Answer: 1,8", false),
        ("18", "I do not know.", false),
        ("70000", "Answer: 70,000", true),
        ("70000", "The profit is $70,000.", true),
        ("70000", "Answer: 70000.0", true),
        ("1000000", "Answer: 1,000,000", true),
        ("-10", "Answer: -10", true),
        ("-10", "It fell 10 degrees, to -10.", true),
        ("-10", "Answer: 10", false),
        ("3/4", "Answer: 0.75", true),
        ("3/4", "Answer: 3/4 of a cup", true),
        ("0.5", "Answer: .5", true),
        ("5", "It went from 12-7 = 5", true),
    ];
    for (gold, answer, right) in cases {
        let found = gsm8k::final_number(answer);
        assert_eq!(found.as_ref() == Some(&rational(gold)), *right, "gold {gold}, answer {answer:?}: read {found:?}");
    }
}

#[test]
fn gsm8k_gold_answers_are_the_final_numbers_of_their_solutions_and_the_calculator_is_offered() {
    let env = gsm8k::load(&data_dir().unwrap()).unwrap();
    assert_eq!(env.tasks().len(), 1000);
    for problem in env.tasks() {
        assert_eq!(gsm8k::final_number(&problem.solution).as_ref(), Some(&problem.answer), "{}", problem.id);
    }
    let first = &env.tasks()[0];
    assert_eq!((first.id.as_str(), first.answer.clone()), ("gsm8k-test-0", rational("18")));
    assert_eq!(first.observation().tools, ["calculator"]);
    let right = first.check("Answer: $18.00");
    assert_eq!((right.reward, right.info["found"].as_str()), (1.0, Some("18")));
    let wrong = first.check("Answer: 20");
    assert_eq!((wrong.reward, wrong.observation.as_str()), (0.0, "wrong: 20, expected 18"));
    assert_eq!(env.task_ids()[999], "gsm8k-test-999");
}

#[test]
fn dataqa_answers_are_computed_from_the_files_and_checked_exactly_or_to_their_rounding() {
    let mut env = dataqa::load(&data_dir().unwrap()).unwrap();
    let ids = env.task_ids();
    assert_eq!(ids[..5], ["count-13", "mean-13", "hardest-13", "above-100", "count-7"], "templates taken in turn");
    // Computed independently with Python's csv and json modules over the same files.
    let expected =
        [("count-13", 268.0), ("mean-13", 84.28), ("hardest-13", 1358.0), ("above-100", 310.0), ("mean-2", 85.85), ("above-20", 635.0)];
    for (id, answer) in expected {
        let question = env.tasks().iter().find(|q| q.id == id).unwrap();
        assert_eq!(question.answer, answer, "{id}");
    }
    let task = |id: &str| ids.iter().position(|i| i == id).unwrap();
    let observation = env.reset(task("count-13")).unwrap();
    assert!(observation.tools.is_empty() && observation.files[0].ends_with("game24/game24.csv"), "{observation:?}");
    assert_eq!(env.step("There are 268 of them.\nAnswer: 268").unwrap().reward, 1.0);
    env.reset(task("count-13")).unwrap();
    assert_eq!(env.step("Answer: 267").unwrap().reward, 0.0);
    env.reset(task("mean-13")).unwrap();
    assert_eq!(env.step("84.28").unwrap().reward, 1.0, "the mean to 2 decimals");
    env.reset(task("mean-13")).unwrap();
    assert_eq!(env.step("84.3").unwrap().reward, 0.0, "off by more than the rounding");
    env.reset(task("above-100")).unwrap();
    let feedback = env.step("I could not tell.").unwrap();
    assert_eq!((feedback.reward, feedback.observation.as_str()), (0.0, "wrong: no number found in the answer"));
    assert!(!env.gives_feedback());
}

#[test]
fn gsm8k_chain_shows_its_problems_one_at_a_time_and_needs_every_answer_right_in_order() {
    let chains = agentos_gym::gsm8k_chain::load(&data_dir().unwrap()).unwrap();
    let chain = &chains.tasks()[0];
    let expected: Vec<String> = chain.problems.iter().map(|p| agentos_tools::arithmetic::format(&p.answer)).collect();
    assert_eq!(chain.id(), chain.problems.iter().map(|p| p.id.clone()).collect::<Vec<_>>().join("+"));
    let observation = chain.observation();
    assert!(observation.text.ends_with(&format!("Problem 1 of 3: {}", chain.problems[0].question)), "{}", observation.text);
    assert!(!observation.text.contains(&chain.problems[1].question), "the next problems come one at a time, by the action");
    assert!(observation.text.contains("Answers: <answer 1>; <answer 2>; <answer 3>"), "{}", observation.text);
    assert_eq!(observation.tools, ["calculator", "next_problem"]);
    let mut env = chains.fork();
    let next = |solved: Value| serde_json::json!({ "solved": solved, "answer": "7" });
    assert!(env.act("next_problem", &next(1.into())).unwrap_err().contains("no task under way"));
    env.reset(0).unwrap();
    assert_eq!(env.actions().iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["next_problem"]);
    assert_eq!(env.act("next_problem", &next(1.into())).unwrap(), format!("Problem 2 of 3: {}", chain.problems[1].question));
    assert!(env.act("next_problem", &next(3.into())).unwrap().starts_with("That was the last problem."));
    let refused = env.act("next_problem", &next("two".into())).unwrap_err();
    assert_eq!(refused, "`solved` must be the number of the problem you just solved, from 1 to 3, not \"two\"");
    assert!(env.act("peek", &serde_json::json!({})).unwrap_err().contains("the action is `next_problem`"));
    let right = chain.check(&format!("Work...\nAnswers: {}; ${}; {}.", expected[0], expected[1], expected[2]));
    assert_eq!((right.reward, right.observation.as_str()), (1.0, "right: every answer"));
    let swapped = chain.check(&format!("Answers: {}; {}; {}", expected[1], expected[0], expected[2]));
    assert_eq!(swapped.reward, 0.0);
    assert_eq!(swapped.info["right"], serde_json::json!([expected[0] == expected[1], expected[0] == expected[1], true]));
    let missing = chain.check(&format!("The answers are {}", expected.join(", ")));
    assert!(missing.reward == 0.0 && missing.observation.contains("no `Answers:` line"), "{}", missing.observation);
    let short = chain.check(&format!("Answers: {}; {}", expected[0], expected[1]));
    assert!(short.reward == 0.0 && short.observation.contains("2 of 3 right"), "{}", short.observation);
}
