//! Every Game of 24 puzzle in the data has a solution, and the checker accepts it: the exact
//! solver finds one for each, and each is checked independently by the checker.

use agentos_gym::{data_dir, game24, Task};

#[test]
fn every_puzzle_in_the_data_has_a_solution_the_checker_accepts() {
    let env = game24::load(&data_dir().unwrap()).unwrap();
    let puzzles = env.tasks();
    assert_eq!(puzzles.len(), 1262);
    let mut unsolvable = Vec::new();
    for puzzle in puzzles {
        match game24::solve(&puzzle.numbers) {
            None => unsolvable.push(format!("rank {} ({:?})", puzzle.rank, puzzle.numbers)),
            Some(solution) => {
                let answer = format!("Answer: {solution} = 24");
                assert_eq!(
                    puzzle.check(&answer).reward,
                    1.0,
                    "rank {} {:?}: the checker rejects `{solution}`",
                    puzzle.rank,
                    puzzle.numbers
                );
            }
        }
    }
    assert!(unsolvable.is_empty(), "{} puzzles have no solution: {}", unsolvable.len(), unsolvable.join(", "));
}

#[test]
fn the_solver_finds_nothing_where_there_is_nothing_and_needs_fractions_where_they_are_needed() {
    for numbers in [[1, 1, 1, 1], [1, 1, 1, 2], [13, 13, 13, 13]] {
        assert_eq!(game24::solve(&numbers), None, "{numbers:?}");
    }
    // 3 3 8 8 has only the solution 8 / (3 - 8 / 3), through the fraction 1/3.
    let solution = game24::solve(&[3, 3, 8, 8]).unwrap();
    assert!(solution.contains('/'), "{solution}");
    assert_eq!(game24::check_expression(&[3, 3, 8, 8], &solution), Ok(()));
}
