//! Exact rational arithmetic: a small recursive-descent parser and evaluator over
//! [`BigRational`], shared by the `calculator` tool and by checkers that must judge arithmetic
//! exactly (the Game of 24 checker, for one).
//!
//! Grammar, loosest binding first (`^` is right-associative and binds tighter than unary minus,
//! so `-2^2` is `-4` and `2^3^2` is `512`):
//!
//! ```text
//! expression := term (("+" | "-") term)*
//! term       := unary (("*" | "/" | "%") unary)*
//! unary      := ("-" | "+") unary | power
//! power      := percent ("^" unary)?
//! percent    := primary "%"?      (only when no number or "(" follows the "%")
//! primary    := number | "(" expression ")"
//! number     := digits ["." [digits]] | "." digits
//! ```
//!
//! Decimals are exact (`2.5` is `5/2`, `0.1 + 0.2` is `3/10`). A `%` followed by a number or `(`
//! is the remainder (`7 % 3` is 1); any other `%` is a percent sign (`17.5% * 2340` is 409.5, as
//! models and people write it), so a negative divisor needs parentheses: `7 % (-3)`. Positions in
//! errors count characters from 1.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};
use std::cmp::Ordering;
use thiserror::Error;

/// The longest expression [`evaluate`] accepts, in characters.
pub const MAX_LENGTH: usize = 10_000;
/// The largest absolute exponent `^` accepts.
pub const MAX_EXPONENT: u32 = 10_000;
/// The deepest nesting of parentheses and unary signs [`evaluate`] accepts.
pub const MAX_DEPTH: usize = 200;
/// The largest result of `^`, in bits of numerator and denominator together (about 30,000
/// decimal digits), so that a power cannot exhaust memory.
pub const MAX_POWER_BITS: u64 = 100_000;
/// How many significant digits [`format()`] shows in the decimal approximation of a fraction.
pub const SIGNIFICANT_DIGITS: u32 = 12;

/// Why an expression could not be evaluated. Every variant that points at a place in the
/// expression carries its `position`, counted in characters from 1.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CalcError {
    /// Nothing but whitespace was given.
    #[error("empty expression: give an arithmetic expression such as `(1 + 2) * 3`")]
    Empty,
    /// The expression is longer than [`MAX_LENGTH`].
    #[error("expression too long: {length} characters, at most {max} are accepted")]
    TooLong {
        /// The expression's length in characters.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// A character that is not part of the grammar.
    #[error("unexpected character `{found}` at position {position}; only numbers, + - * / % ^ and parentheses are allowed")]
    UnexpectedCharacter {
        /// The character.
        found: char,
        /// Where it is.
        position: usize,
    },
    /// A number with more than one decimal point, or a lone `.`.
    #[error("malformed number `{text}` at position {position}")]
    MalformedNumber {
        /// The text of the number.
        text: String,
        /// Where it starts.
        position: usize,
    },
    /// A number or `(` was expected but something else came.
    #[error("expected a number or `(` at position {position}, found {found}")]
    ExpectedOperand {
        /// What came instead, described (for example "`*`" or "the end of the expression").
        found: String,
        /// Where.
        position: usize,
    },
    /// A `(` that is never closed.
    #[error("unbalanced parentheses: the `(` at position {position} is never closed")]
    UnclosedParenthesis {
        /// Where the `(` is.
        position: usize,
    },
    /// A `)` without a matching `(`.
    #[error("unbalanced parentheses: the `)` at position {position} has no matching `(`")]
    UnmatchedParenthesis {
        /// Where the `)` is.
        position: usize,
    },
    /// Something followed a complete expression without an operator in between.
    #[error("unexpected {found} at position {position} after a complete expression; put an operator (+ - * / % ^) in between")]
    TrailingInput {
        /// What follows, described.
        found: String,
        /// Where it starts.
        position: usize,
    },
    /// A `/` whose right side is zero.
    #[error("division by zero: the `/` at position {position} divides by 0")]
    DivisionByZero {
        /// Where the `/` is.
        position: usize,
    },
    /// A `%` whose right side is zero.
    #[error("modulo by zero: the `%` at position {position} takes a remainder modulo 0")]
    ModuloByZero {
        /// Where the `%` is.
        position: usize,
    },
    /// A `%` with a side that is not an integer.
    #[error("`%` at position {position} works on integers only, but got {left} % {right}")]
    ModuloNotInteger {
        /// Where the `%` is.
        position: usize,
        /// The left side's value.
        left: String,
        /// The right side's value.
        right: String,
    },
    /// A `^` whose exponent is not an integer.
    #[error("the exponent of `^` at position {position} must be an integer, but it is {exponent}")]
    FractionalExponent {
        /// Where the `^` is.
        position: usize,
        /// The exponent's value.
        exponent: String,
    },
    /// A `^` whose exponent is larger in size than [`MAX_EXPONENT`].
    #[error("the exponent of `^` at position {position} is {exponent}; exponents are limited to ±{max}")]
    ExponentTooLarge {
        /// Where the `^` is.
        position: usize,
        /// The exponent's value.
        exponent: String,
        /// The limit.
        max: u32,
    },
    /// `0` raised to a negative power.
    #[error("division by zero: the `^` at position {position} raises 0 to a negative power")]
    ZeroToNegativePower {
        /// Where the `^` is.
        position: usize,
    },
    /// A power whose result would exceed [`MAX_POWER_BITS`].
    #[error("the result of `^` at position {position} would be too large (over {max_bits} bits)")]
    PowerTooLarge {
        /// Where the `^` is.
        position: usize,
        /// The limit.
        max_bits: u64,
    },
    /// Parentheses or signs nested deeper than [`MAX_DEPTH`].
    #[error("expression nested too deeply at position {position}: at most {max} levels of parentheses and signs")]
    TooDeep {
        /// Where the limit was passed.
        position: usize,
        /// The limit.
        max: usize,
    },
}

/// Evaluates an arithmetic expression exactly (see the [module documentation](self) for the
/// grammar).
///
/// ```
/// use agentos_tools::arithmetic::{evaluate, format};
/// assert_eq!(format(&evaluate("(1/3) * 3").unwrap()), "1");
/// assert_eq!(format(&evaluate("0.1 + 0.2").unwrap()), "3/10 ≈ 0.3");
/// ```
pub fn evaluate(expression: &str) -> Result<BigRational, CalcError> {
    let length = expression.chars().count();
    if length > MAX_LENGTH {
        return Err(CalcError::TooLong { length, max: MAX_LENGTH });
    }
    let tokens = tokenize(expression)?;
    if tokens.is_empty() {
        return Err(CalcError::Empty);
    }
    let mut parser = Parser { tokens, next: 0, end: length + 1, depth: 0 };
    let value = parser.expression()?;
    match parser.peek() {
        None => Ok(value),
        Some((Token::Close, position)) => Err(CalcError::UnmatchedParenthesis { position }),
        Some((token, position)) => Err(CalcError::TrailingInput { found: token.describe(), position }),
    }
}

/// Shows a value as the `calculator` tool prints it: an integer as is (`42`, `-7`), any other
/// rational as `p/q ≈ decimal` with [`SIGNIFICANT_DIGITS`] significant digits and trailing zeros
/// dropped (`1/3 ≈ 0.333333333333`, `-5/2 ≈ -2.5`); very large or small approximations use an
/// exponent (`1/30000000 ≈ 3.33333333333e-8`).
pub fn format(value: &BigRational) -> String {
    if value.is_integer() {
        return value.numer().to_string();
    }
    format!("{}/{} ≈ {}", value.numer(), value.denom(), approximate(value))
}

/// The decimal approximation of a non-zero value, rounded half away from zero.
fn approximate(value: &BigRational) -> String {
    let sign = if value.is_negative() { "-" } else { "" };
    let numer = value.numer().abs();
    let denom = value.denom().clone();
    let ten = BigInt::from(10u32);
    let pow10 = |e: i64| -> BigInt { num_traits::pow(ten.clone(), e.unsigned_abs() as usize) };
    // `exponent` is the power of ten of the leading digit: 10^e <= |value| < 10^(e+1).
    let mut exponent = numer.to_string().len() as i64 - denom.to_string().len() as i64;
    let at_least = |e: i64| -> bool {
        // Is |value| >= 10^e?
        if e >= 0 {
            numer >= &denom * pow10(e)
        } else {
            &numer * pow10(e) >= denom
        }
    };
    while !at_least(exponent) {
        exponent -= 1;
    }
    while at_least(exponent + 1) {
        exponent += 1;
    }
    let digits = SIGNIFICANT_DIGITS as i64;
    let shift = digits - 1 - exponent;
    let (n, d) = if shift >= 0 { (&numer * pow10(shift), denom.clone()) } else { (numer.clone(), &denom * pow10(shift)) };
    let mut scaled: BigInt = (n * 2 + &d) / (d * 2);
    if scaled == pow10(digits) {
        scaled = pow10(digits - 1);
        exponent += 1;
    }
    let text = scaled.to_string();
    let shown = if (0..digits).contains(&exponent) {
        let (whole, fraction) = text.split_at(exponent as usize + 1);
        let fraction = fraction.trim_end_matches('0');
        if fraction.is_empty() {
            whole.to_string()
        } else {
            format!("{whole}.{fraction}")
        }
    } else if (-6..0).contains(&exponent) {
        let zeros = "0".repeat((-exponent - 1) as usize);
        format!("0.{zeros}{}", text.trim_end_matches('0'))
    } else {
        let (lead, rest) = text.split_at(1);
        let rest = rest.trim_end_matches('0');
        if rest.is_empty() {
            format!("{lead}e{exponent}")
        } else {
            format!("{lead}.{rest}e{exponent}")
        }
    };
    format!("{sign}{shown}")
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Number(BigRational),
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Caret,
    Open,
    Close,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Number(n) => format!("the number `{n}`"),
            Token::Plus => "`+`".into(),
            Token::Minus => "`-`".into(),
            Token::Star => "`*`".into(),
            Token::Slash => "`/`".into(),
            Token::Percent => "`%`".into(),
            Token::Caret => "`^`".into(),
            Token::Open => "`(`".into(),
            Token::Close => "`)`".into(),
        }
    }
}

/// Splits the expression into tokens, each with its 1-based character position.
fn tokenize(expression: &str) -> Result<Vec<(Token, usize)>, CalcError> {
    let chars: Vec<char> = expression.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let position = i + 1;
        let token = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '0'..='9' | '.' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                tokens.push((Token::Number(parse_number(&text, position)?), position));
                continue;
            }
            '+' => Token::Plus,
            '-' | '−' => Token::Minus,
            '*' | '×' => Token::Star,
            '/' | '÷' => Token::Slash,
            '%' => Token::Percent,
            '^' => Token::Caret,
            '(' => Token::Open,
            ')' => Token::Close,
            found => return Err(CalcError::UnexpectedCharacter { found, position }),
        };
        tokens.push((token, position));
        i += 1;
    }
    Ok(tokens)
}

/// Parses `digits[.digits]` exactly: `2.50` is `5/2`.
fn parse_number(text: &str, position: usize) -> Result<BigRational, CalcError> {
    let malformed = || CalcError::MalformedNumber { text: text.to_string(), position };
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    if fraction.contains('.') || (whole.is_empty() && fraction.is_empty()) {
        return Err(malformed());
    }
    let digits = format!("{whole}{fraction}");
    let numer: BigInt = digits.parse().map_err(|_| malformed())?;
    let denom = num_traits::pow(BigInt::from(10u32), fraction.len());
    Ok(BigRational::new(numer, denom))
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    next: usize,
    /// The position just past the last character, reported when the input ends too early.
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<(Token, usize)> {
        self.tokens.get(self.next).cloned()
    }

    fn bump(&mut self) {
        self.next += 1;
    }

    fn enter(&mut self, position: usize) -> Result<(), CalcError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(CalcError::TooDeep { position, max: MAX_DEPTH });
        }
        Ok(())
    }

    fn expression(&mut self) -> Result<BigRational, CalcError> {
        let mut value = self.term()?;
        while let Some((token @ (Token::Plus | Token::Minus), _)) = self.peek() {
            self.bump();
            let right = self.term()?;
            value = if token == Token::Plus { value + right } else { value - right };
        }
        Ok(value)
    }

    fn term(&mut self) -> Result<BigRational, CalcError> {
        let mut value = self.unary()?;
        while let Some((token @ (Token::Star | Token::Slash | Token::Percent), position)) = self.peek() {
            self.bump();
            let right = self.unary()?;
            value = match token {
                Token::Star => value * right,
                Token::Slash if right.is_zero() => return Err(CalcError::DivisionByZero { position }),
                Token::Slash => value / right,
                _ => modulo(value, right, position)?,
            };
        }
        Ok(value)
    }

    fn unary(&mut self) -> Result<BigRational, CalcError> {
        match self.peek() {
            Some((sign @ (Token::Minus | Token::Plus), position)) => {
                self.bump();
                self.enter(position)?;
                let value = self.unary()?;
                self.depth -= 1;
                Ok(if sign == Token::Minus { -value } else { value })
            }
            _ => self.power(),
        }
    }

    fn power(&mut self) -> Result<BigRational, CalcError> {
        let base = self.percent()?;
        if let Some((Token::Caret, position)) = self.peek() {
            self.bump();
            self.enter(position)?;
            let exponent = self.unary()?;
            self.depth -= 1;
            return power(base, exponent, position);
        }
        Ok(base)
    }

    /// A primary, divided by 100 when a percent sign follows it: a `%` that no operand follows.
    fn percent(&mut self) -> Result<BigRational, CalcError> {
        let value = self.primary()?;
        let is_remainder = matches!(self.tokens.get(self.next + 1), Some((Token::Number(_) | Token::Open, _)));
        if matches!(self.peek(), Some((Token::Percent, _))) && !is_remainder {
            self.bump();
            return Ok(value / BigRational::from_integer(BigInt::from(100)));
        }
        Ok(value)
    }

    fn primary(&mut self) -> Result<BigRational, CalcError> {
        match self.peek() {
            Some((Token::Number(n), _)) => {
                self.bump();
                Ok(n)
            }
            Some((Token::Open, position)) => {
                self.bump();
                self.enter(position)?;
                let value = self.expression()?;
                match self.peek() {
                    Some((Token::Close, _)) => self.bump(),
                    None => return Err(CalcError::UnclosedParenthesis { position }),
                    Some((token, at)) => return Err(CalcError::TrailingInput { found: token.describe(), position: at }),
                }
                self.depth -= 1;
                Ok(value)
            }
            Some((token, position)) => Err(CalcError::ExpectedOperand { found: token.describe(), position }),
            None => Err(CalcError::ExpectedOperand { found: "the end of the expression".into(), position: self.end }),
        }
    }
}

/// The remainder of integer division, with the sign of the divisor (as in Python: `-7 % 3` is 2).
fn modulo(left: BigRational, right: BigRational, position: usize) -> Result<BigRational, CalcError> {
    if !left.is_integer() || !right.is_integer() {
        return Err(CalcError::ModuloNotInteger { position, left: left.to_string(), right: right.to_string() });
    }
    if right.is_zero() {
        return Err(CalcError::ModuloByZero { position });
    }
    let (a, b) = (left.to_integer(), right.to_integer());
    let mut r = &a % &b;
    if !r.is_zero() && (r.is_negative() != b.is_negative()) {
        r += &b;
    }
    Ok(BigRational::from_integer(r))
}

fn power(base: BigRational, exponent: BigRational, position: usize) -> Result<BigRational, CalcError> {
    if !exponent.is_integer() {
        return Err(CalcError::FractionalExponent { position, exponent: exponent.to_string() });
    }
    let too_large = || CalcError::ExponentTooLarge { position, exponent: exponent.to_string(), max: MAX_EXPONENT };
    let e = exponent.to_integer().to_i64().ok_or_else(too_large)?;
    if e.unsigned_abs() > u64::from(MAX_EXPONENT) {
        return Err(too_large());
    }
    if base.is_zero() {
        return match e.cmp(&0) {
            Ordering::Less => Err(CalcError::ZeroToNegativePower { position }),
            Ordering::Equal => Ok(BigRational::one()),
            Ordering::Greater => Ok(BigRational::zero()),
        };
    }
    let bits = (base.numer().bits() + base.denom().bits()).saturating_mul(e.unsigned_abs());
    if bits > MAX_POWER_BITS && !base.abs().is_one() {
        return Err(CalcError::PowerTooLarge { position, max_bits: MAX_POWER_BITS });
    }
    // |e| <= MAX_EXPONENT, so it fits an i32.
    Ok(base.pow(e as i32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(expression: &str) -> String {
        match evaluate(expression) {
            Ok(v) => format(&v),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn right_answers() {
        let cases = [
            ("1 + 2", "3"),
            ("42", "42"),
            ("2 + 3 * 4", "14"),
            ("(2 + 3) * 4", "20"),
            ("10 - 4 - 3", "3"),
            ("100 / 10 / 5", "2"),
            ("8 / 3 * 3", "8"),
            ("0.1 + 0.2", "3/10 ≈ 0.3"),
            ("(1/3) * 3", "1"),
            ("1/3", "1/3 ≈ 0.333333333333"),
            ("2/3", "2/3 ≈ 0.666666666667"),
            ("-1/3", "-1/3 ≈ -0.333333333333"),
            ("1/7", "1/7 ≈ 0.142857142857"),
            ("2.5", "5/2 ≈ 2.5"),
            ("2.50 * 2", "5"),
            (".5 + 5.", "11/2 ≈ 5.5"),
            ("-3", "-3"),
            ("--3", "3"),
            ("+3", "3"),
            ("2 * -3", "-6"),
            ("2 - -3", "5"),
            ("-(2 + 3)", "-5"),
            ("-2^2", "-4"),
            ("(-2)^2", "4"),
            ("2^-2", "1/4 ≈ 0.25"),
            ("2^3^2", "512"),
            ("2^10", "1024"),
            ("(2/3)^3", "8/27 ≈ 0.296296296296"),
            ("0^0", "1"),
            ("0^5", "0"),
            ("1^-10000", "1"),
            ("7 % 3", "1"),
            ("-7 % 3", "2"),
            ("7 % (-3)", "-2"),
            ("17.5% * 2340", "819/2 ≈ 409.5"),
            ("17.5% * 2340 - 1/3 * 96", "755/2 ≈ 377.5"),
            ("50%", "1/2 ≈ 0.5"),
            ("200 * 15%", "30"),
            ("7% - 3", "-293/100 ≈ -2.93"),
            ("(10 + 10)%", "1/5 ≈ 0.2"),
            ("6 % 3", "0"),
            ("2 + 10 % 4 * 3", "8"),
            ("4.0 % 3", "1"),
            ("8 / (3 - 8 / 3)", "24"),
            ("(3 + 3 / 7) * 7", "24"),
            ("3 × 4 ÷ 2 − 1", "5"),
            ("99999999999999999999 * 99999999999999999999", "9999999999999999999800000000000000000001"),
            ("1/30000000", "1/30000000 ≈ 3.33333333333e-8"),
            ("1/3000", "1/3000 ≈ 0.000333333333333"),
            ("10^15 + 1/2", "2000000000000001/2 ≈ 1e15"),
            ("123456789012.5", "246913578025/2 ≈ 123456789013"),
            ("2/3 + 1/3 * 0", "2/3 ≈ 0.666666666667"),
            ("  ( ( 1 ) )  ", "1"),
            ("0.9999999999999", "9999999999999/10000000000000 ≈ 1"),
        ];
        let mut wrong = Vec::new();
        for (expression, expected) in cases {
            let got = show(expression);
            if got != expected {
                wrong.push(format!("{expression:?}: expected {expected:?}, got {got:?}"));
            }
        }
        assert!(wrong.is_empty(), "wrong answers:\n{}", wrong.join("\n"));
    }

    #[test]
    fn errors_say_what_and_where() {
        let cases: &[(&str, CalcError)] = &[
            ("", CalcError::Empty),
            ("   ", CalcError::Empty),
            ("1 / 0", CalcError::DivisionByZero { position: 3 }),
            ("1 / (2 - 2)", CalcError::DivisionByZero { position: 3 }),
            ("5 % 0", CalcError::ModuloByZero { position: 3 }),
            ("2 & 3", CalcError::UnexpectedCharacter { found: '&', position: 3 }),
            ("2 + x", CalcError::UnexpectedCharacter { found: 'x', position: 5 }),
            ("(1 + 2", CalcError::UnclosedParenthesis { position: 1 }),
            ("((1 + 2)", CalcError::UnclosedParenthesis { position: 1 }),
            ("1 + 2)", CalcError::UnmatchedParenthesis { position: 6 }),
            ("()", CalcError::ExpectedOperand { found: "`)`".into(), position: 2 }),
            ("1 +", CalcError::ExpectedOperand { found: "the end of the expression".into(), position: 4 }),
            ("* 2", CalcError::ExpectedOperand { found: "`*`".into(), position: 1 }),
            ("2 3", CalcError::TrailingInput { found: "the number `3`".into(), position: 3 }),
            ("2 (3)", CalcError::TrailingInput { found: "`(`".into(), position: 3 }),
            ("(2 3)", CalcError::TrailingInput { found: "the number `3`".into(), position: 4 }),
            ("1.2.3", CalcError::MalformedNumber { text: "1.2.3".into(), position: 1 }),
            ("1 + .", CalcError::MalformedNumber { text: ".".into(), position: 5 }),
            ("2.5 % 2", CalcError::ModuloNotInteger { position: 5, left: "5/2".into(), right: "2".into() }),
            ("2 ^ 0.5", CalcError::FractionalExponent { position: 3, exponent: "1/2".into() }),
            ("2 ^ 10001", CalcError::ExponentTooLarge { position: 3, exponent: "10001".into(), max: MAX_EXPONENT }),
            (
                "2 ^ -99999999999999999999",
                CalcError::ExponentTooLarge { position: 3, exponent: "-99999999999999999999".into(), max: MAX_EXPONENT },
            ),
            ("0 ^ -1", CalcError::ZeroToNegativePower { position: 3 }),
            ("(2^10000)^10000", CalcError::PowerTooLarge { position: 10, max_bits: MAX_POWER_BITS }),
        ];
        for (expression, expected) in cases {
            assert_eq!(evaluate(expression).as_ref(), Err(expected), "for {expression:?}");
        }
    }

    #[test]
    fn error_messages_name_the_position() {
        assert_eq!(evaluate("1 / 0").unwrap_err().to_string(), "division by zero: the `/` at position 3 divides by 0");
        assert!(evaluate("2 $ 2").unwrap_err().to_string().contains("unexpected character `$` at position 3"));
        assert!(evaluate("(1").unwrap_err().to_string().starts_with("unbalanced parentheses"));
        assert!(evaluate("1)").unwrap_err().to_string().starts_with("unbalanced parentheses"));
        assert!(evaluate("").unwrap_err().to_string().starts_with("empty expression"));
        assert!(evaluate("1 1").unwrap_err().to_string().contains("after a complete expression"));
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        assert_eq!(evaluate("2 × é"), Err(CalcError::UnexpectedCharacter { found: 'é', position: 5 }));
    }

    #[test]
    fn limits_stop_blowups() {
        let deep = format!("{}1{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
        assert!(matches!(evaluate(&deep), Err(CalcError::TooDeep { .. })));
        let ok = format!("{}1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(evaluate(&ok), Ok(BigRational::one()));
        let signs = format!("{}1", "-".repeat(MAX_DEPTH + 1));
        assert!(matches!(evaluate(&signs), Err(CalcError::TooDeep { .. })));
        let long = "1+".repeat(MAX_LENGTH / 2) + "1";
        assert!(matches!(evaluate(&long), Err(CalcError::TooLong { .. })));
        assert_eq!(evaluate("2^10000").unwrap().numer().bits(), 10_001);
        assert_eq!(evaluate("(1/2)^-10000").unwrap(), evaluate("2^10000").unwrap());
    }

    #[test]
    fn exact_values() {
        let third = evaluate("1/3").unwrap();
        assert_eq!(third, BigRational::new(1.into(), 3.into()));
        assert_eq!(evaluate("0.1 + 0.2").unwrap(), evaluate("3/10").unwrap());
        assert_ne!(evaluate("0.1 + 0.2").unwrap(), evaluate("0.30000000000000004").unwrap());
    }
}
