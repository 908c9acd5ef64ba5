//! The score table: per strategy, how many episodes, how many succeeded, the success rate with a
//! Wilson 95 % confidence interval, and the mean model calls, tokens in and out, communication
//! tokens (a team's messages) and wall time per episode, and the success rate per 1,000 tokens; as Markdown, CSV, JSON, and an SVG chart of success rate against tokens.

use crate::{BenchmarkSpec, GymError};
use agentos_kernel::EpisodeRecord;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The default of [`Summary::library`], for summaries written before it existed.
fn yes() -> bool {
    true
}

/// The normal quantile of a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Whether an episode with this reward succeeded: the checkers here give 1 for a right answer.
pub fn succeeded(reward: f64) -> bool {
    reward >= 1.0
}

/// The Wilson score interval (Wilson, 1927) at 95 % for `successes` out of `n`, as (low, high).
/// Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 or `n`
/// successes. With no trials it is the whole of [0, 1].
///
/// ```
/// let (low, high) = agentos_gym::wilson_interval(5, 10);
/// assert!((low - 0.2366).abs() < 1e-4 && (high - 0.7634).abs() < 1e-4);
/// ```
pub fn wilson_interval(successes: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (n, p) = (n as f64, successes as f64 / n as f64);
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// `rate` per 1,000 of `tokens` (0 when there were no tokens).
fn per_1k_tokens(rate: f64, tokens: f64) -> f64 {
    if tokens > 0.0 {
        rate * 1000.0 / tokens
    } else {
        0.0
    }
}

/// Each agent's importance score (an episode's `info.team.detail.importance`) summed over
/// `episodes`.
fn importance(episodes: &[&EpisodeRecord]) -> BTreeMap<String, f64> {
    let mut sums = BTreeMap::new();
    for episode in episodes {
        if let Some(scores) = episode.info.pointer("/team/detail/importance").and_then(|v| v.as_object()) {
            for (agent, score) in scores {
                *sums.entry(agent.clone()).or_insert(0.0) += score.as_f64().unwrap_or(0.0);
            }
        }
    }
    sums
}

/// One strategy's row of the table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StrategySummary {
    /// The strategy's name as the benchmark gives it, count included (`sc:9`).
    pub strategy: String,
    /// Ended episodes.
    pub episodes: usize,
    /// Episodes that succeeded (see [`succeeded`]).
    pub successes: usize,
    /// `successes / episodes`.
    pub success_rate: f64,
    /// Low end of the Wilson 95 % interval of the success rate.
    pub ci_low: f64,
    /// High end of the Wilson 95 % interval of the success rate.
    pub ci_high: f64,
    /// Mean model calls per episode.
    pub mean_model_calls: f64,
    /// Mean prompt tokens per episode.
    pub mean_input_tokens: f64,
    /// Mean completion tokens per episode.
    pub mean_output_tokens: f64,
    /// Mean wall time per episode, in milliseconds.
    pub mean_wall_ms: f64,
    /// Mean tokens per episode that a team's members spent on messages to each other (Optima's
    /// communication cost; 0 for a single agent). They are part of the tokens out.
    #[serde(default)]
    pub mean_communication_tokens: f64,
    /// Success rate per 1,000 tokens (in and out) of an episode: accuracy per unit of cost.
    #[serde(default)]
    pub success_per_1k_tokens: f64,
    /// For a team that scores its agents (DyLAN's Agent Importance Score), each agent's score
    /// summed over the episodes, by agent: what team optimisation keeps the top agents by.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub importance: BTreeMap<String, f64>,
}

/// The score table of a benchmark.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The benchmark's id.
    pub benchmark: String,
    /// The environment.
    pub env: String,
    /// The model URI.
    pub model: String,
    /// Whether the agents could test answers with the environment before answering
    /// ([`BenchmarkSpec::feedback`]).
    #[serde(default)]
    pub feedback: bool,
    /// Whether code-acting episodes joined the action library ([`BenchmarkSpec::library`]).
    #[serde(default = "yes")]
    pub library: bool,
    /// One row per row of the spec ([`BenchmarkSpec::rows`]: a strategy with a working-memory
    /// policy) that has ended episodes, in the spec's order.
    pub strategies: Vec<StrategySummary>,
}

impl Summary {
    /// The table of the ended episodes among `episodes` (unended ones are left out), for the
    /// strategies of `spec`.
    pub fn new(benchmark: &str, spec: &BenchmarkSpec, episodes: &[EpisodeRecord]) -> Self {
        let strategies = spec
            .rows()
            .into_iter()
            .filter_map(|row| {
                let name = row.name;
                let mine: Vec<&EpisodeRecord> = episodes.iter().filter(|e| e.strategy == name && e.ended()).collect();
                if mine.is_empty() {
                    return None;
                }
                let n = mine.len();
                let mean = |f: &dyn Fn(&EpisodeRecord) -> f64| mine.iter().map(|e| f(e)).sum::<f64>() / n as f64;
                let successes = mine.iter().filter(|e| e.reward.is_some_and(succeeded)).count();
                let (ci_low, ci_high) = wilson_interval(successes, n);
                Some(StrategySummary {
                    strategy: name,
                    episodes: n,
                    successes,
                    success_rate: successes as f64 / n as f64,
                    ci_low,
                    ci_high,
                    mean_model_calls: mean(&|e| e.usage.model_calls as f64),
                    mean_input_tokens: mean(&|e| e.usage.input_tokens as f64),
                    mean_output_tokens: mean(&|e| e.usage.output_tokens as f64),
                    mean_wall_ms: mean(&|e| e.wall_ms.unwrap_or(0) as f64),
                    mean_communication_tokens: mean(&|e| e.communication_tokens as f64),
                    success_per_1k_tokens: per_1k_tokens(successes as f64 / n as f64, mean(&|e| e.usage.total_tokens() as f64)),
                    importance: importance(&mine),
                })
            })
            .collect();
        Summary {
            benchmark: benchmark.to_string(),
            env: spec.env.clone(),
            model: spec.model.clone(),
            feedback: spec.feedback,
            library: spec.library,
            strategies,
        }
    }

    /// The table as Markdown, under a line naming the environment, model and benchmark, and
    /// whether the environment's feedback was on (and the action library off, when it was).
    pub fn to_markdown(&self) -> String {
        let library = if self.library { "" } else { ", action library off" };
        let feedback = if self.feedback { "on" } else { "off" };
        let mut out = format!(
            "**{}** with `{}` (benchmark `{}`; feedback before the answer {feedback}{library})\n\n",
            self.env, self.model, self.benchmark
        );
        out.push_str("| strategy | episodes | successes | success rate (95% CI) | mean model calls | mean tokens in | mean tokens out | mean communication tokens | success per 1k tokens | mean wall time |\n");
        out.push_str("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for s in &self.strategies {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.1}% ({:.1}–{:.1}%) | {:.1} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} s |",
                s.strategy.replace('|', "\\|"),
                s.episodes,
                s.successes,
                100.0 * s.success_rate,
                100.0 * s.ci_low,
                100.0 * s.ci_high,
                s.mean_model_calls,
                s.mean_input_tokens,
                s.mean_output_tokens,
                s.mean_communication_tokens,
                s.success_per_1k_tokens,
                s.mean_wall_ms / 1000.0
            );
        }
        for s in self.strategies.iter().filter(|s| !s.importance.is_empty()) {
            let mut ranked: Vec<(&String, &f64)> = s.importance.iter().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(a.1));
            let scores: Vec<String> = ranked.iter().map(|(agent, score)| format!("{agent} {score:.2}")).collect();
            let _ = writeln!(out, "\n{}: agent importance summed over {} episodes: {}", s.strategy, s.episodes, scores.join(", "));
        }
        out
    }

    /// The table as CSV with a header row; numbers in full precision.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "strategy,episodes,successes,success_rate,ci_low,ci_high,mean_model_calls,mean_input_tokens,mean_output_tokens,mean_wall_ms,mean_communication_tokens,success_per_1k_tokens\n",
        );
        for s in &self.strategies {
            let name =
                if s.strategy.contains([',', '"', '\n']) { format!("\"{}\"", s.strategy.replace('"', "\"\"")) } else { s.strategy.clone() };
            let _ = writeln!(
                out,
                "{name},{},{},{},{},{},{},{},{},{},{},{}",
                s.episodes,
                s.successes,
                s.success_rate,
                s.ci_low,
                s.ci_high,
                s.mean_model_calls,
                s.mean_input_tokens,
                s.mean_output_tokens,
                s.mean_wall_ms,
                s.mean_communication_tokens,
                s.success_per_1k_tokens
            );
        }
        out
    }

    /// The summary as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a summary serializes")
    }

    /// An SVG chart: each strategy a point at its mean tokens per episode (in and out) and its
    /// success rate, with its 95 % interval as a vertical bar and its name beside it. Text is
    /// left to the SVG viewer's fonts; no font is needed to draw it.
    pub fn to_svg(&self) -> Result<String, GymError> {
        let chart = |e: &dyn std::fmt::Display| GymError::Chart(e.to_string());
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (800, 500)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| chart(&e))?;
            let most = self.strategies.iter().map(|s| s.mean_input_tokens + s.mean_output_tokens).fold(0.0, f64::max);
            let x_max = if most > 0.0 { most * 1.25 } else { 1.0 };
            let mut plot = ChartBuilder::on(&root)
                .caption(format!("{}: success rate against tokens ({})", self.env, self.model), ("sans-serif", 20))
                .margin(20)
                .x_label_area_size(45)
                .y_label_area_size(60)
                .build_cartesian_2d(0.0..x_max, 0.0..100.0)
                .map_err(|e| chart(&e))?;
            plot.configure_mesh()
                .x_desc("mean tokens per episode (in + out)")
                .y_desc("success rate, % (95% CI)")
                .draw()
                .map_err(|e| chart(&e))?;
            for (i, s) in self.strategies.iter().enumerate() {
                let colour = Palette99::pick(i).to_rgba();
                let x = s.mean_input_tokens + s.mean_output_tokens;
                let interval = PathElement::new(vec![(x, 100.0 * s.ci_low), (x, 100.0 * s.ci_high)], colour.stroke_width(2));
                plot.draw_series(std::iter::once(interval)).map_err(|e| chart(&e))?;
                let point = EmptyElement::at((x, 100.0 * s.success_rate))
                    + Circle::new((0, 0), 5, colour.filled())
                    + Text::new(s.strategy.clone(), (9, -18), ("sans-serif", 15));
                plot.draw_series(std::iter::once(point)).map_err(|e| chart(&e))?;
            }
            root.present().map_err(|e| chart(&e))?;
        }
        Ok(svg)
    }
}
