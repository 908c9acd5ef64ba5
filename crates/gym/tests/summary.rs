//! The score table: Wilson intervals against published values, the per-strategy means, and the
//! Markdown, CSV, JSON and SVG renderings.

use agentos_core::{RunId, Usage};
use agentos_gym::{wilson_interval, BenchmarkSpec, Summary};
use agentos_kernel::{Budget, EpisodeRecord};
use serde_json::{json, Value};

#[test]
fn wilson_intervals_match_published_values() {
    // Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, method 3.
    let cases = [
        ((81, 263), (0.2553, 0.3662)),
        ((15, 148), (0.0624, 0.1605)),
        ((0, 20), (0.0, 0.1611)),
        ((1, 29), (0.0061, 0.1718)),
        ((5, 10), (0.2366, 0.7634)),
        ((10, 10), (0.7225, 1.0)),
    ];
    for ((successes, n), (low, high)) in cases {
        let (l, h) = wilson_interval(successes, n);
        assert!((l - low).abs() < 5e-5 && (h - high).abs() < 5e-5, "{successes}/{n}: ({l}, {h}), expected ({low}, {high})");
    }
    assert_eq!(wilson_interval(0, 0), (0.0, 1.0));
}

fn episode(strategy: &str, task: usize, reward: Option<f64>, calls: u64, tokens: (u64, u64), wall_ms: u64) -> EpisodeRecord {
    EpisodeRecord {
        strategy: strategy.into(),
        task: task.to_string(),
        run: RunId::from(format!("run-{strategy}-{task}").as_str()),
        reward,
        info: if reward.is_some() { json!({}) } else { Value::Null },
        wall_ms: reward.map(|_| wall_ms),
        usage: Usage { input_tokens: tokens.0, output_tokens: tokens.1, model_calls: calls, cost_usd: 0.0 },
        communication_tokens: 0,
    }
}

fn summary() -> Summary {
    let spec = BenchmarkSpec {
        env: "game24".into(),
        strategies: vec!["react".into(), "cot".into(), "unrun".into()],
        model: "scripted:m.json".into(),
        limit: Some(4),
        seed: None,
        max_steps: 10,
        temperature: None,
        budget: Budget::default(),
        roles: Default::default(),
        feedback: false,
        library: true,
        memories: vec![agentos_kernel::WorkingMemory::Window],
    };
    let episodes = [
        episode("cot", 0, Some(1.0), 1, (100, 50), 1000),
        episode("react", 0, Some(1.0), 2, (300, 20), 2000),
        episode("react", 1, Some(0.0), 4, (500, 40), 4000),
        episode("react", 2, Some(1.0), 3, (400, 30), 3000),
        episode("react", 3, Some(0.0), 3, (400, 30), 3000),
        // Not ended: left out.
        episode("cot", 1, None, 9, (900, 90), 0),
    ];
    Summary::new("b1", &spec, &episodes)
}

#[test]
fn the_summary_counts_successes_and_averages_usage_per_strategy() {
    let s = summary();
    assert_eq!((s.benchmark.as_str(), s.env.as_str(), s.model.as_str()), ("b1", "game24", "scripted:m.json"));
    assert_eq!(s.strategies.len(), 2, "a strategy without ended episodes has no row");
    let react = &s.strategies[0];
    assert_eq!(react.strategy, "react");
    assert_eq!((react.episodes, react.successes, react.success_rate), (4, 2, 0.5));
    assert_eq!((react.ci_low, react.ci_high), wilson_interval(2, 4));
    assert_eq!((react.mean_model_calls, react.mean_input_tokens, react.mean_output_tokens, react.mean_wall_ms), (3.0, 400.0, 30.0, 3000.0));
    let cot = &s.strategies[1];
    assert_eq!((cot.episodes, cot.successes, cot.mean_model_calls, cot.mean_input_tokens), (1, 1, 1.0, 100.0));
}

#[test]
fn the_summary_renders_as_markdown_csv_and_json() {
    let s = summary();
    let (low, high) = wilson_interval(2, 4);
    let markdown = s.to_markdown();
    let lines: Vec<&str> = markdown.lines().collect();
    assert_eq!(lines[0], "**game24** with `scripted:m.json` (benchmark `b1`; feedback before the answer off)");
    assert_eq!(
        lines[2],
        "| strategy | episodes | successes | success rate (95% CI) | mean model calls | mean tokens in | mean tokens out | mean communication tokens | success per 1k tokens | mean wall time |"
    );
    // 50 % over 430 tokens an episode: 1.16 per 1,000 tokens.
    assert_eq!(
        lines[4],
        format!("| react | 4 | 2 | 50.0% ({:.1}–{:.1}%) | 3.0 | 400 | 30 | 0 | 1.16 | 3.00 s |", 100.0 * low, 100.0 * high)
    );
    assert_eq!(lines[4], "| react | 4 | 2 | 50.0% (15.0–85.0%) | 3.0 | 400 | 30 | 0 | 1.16 | 3.00 s |");
    assert_eq!(lines.len(), 6);

    let csv = s.to_csv();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "strategy,episodes,successes,success_rate,ci_low,ci_high,mean_model_calls,mean_input_tokens,mean_output_tokens,mean_wall_ms,mean_communication_tokens,success_per_1k_tokens"
    );
    assert_eq!(rows[1], format!("react,4,2,0.5,{low},{high},3,400,30,3000,0,{}", 0.5 * 1000.0 / 430.0));
    assert_eq!(rows.len(), 3);

    let parsed: Summary = serde_json::from_str(&s.to_json()).unwrap();
    assert_eq!(parsed, s);
}

#[test]
fn the_chart_is_an_svg_with_a_point_and_a_label_per_strategy() {
    let svg = summary().to_svg().unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{}", &svg[..100.min(svg.len())]);
    for text in
        ["game24: success rate against tokens (scripted:m.json)", "\nreact\n", "\ncot\n", "mean tokens per episode", "success rate, %"]
    {
        assert!(svg.contains(text), "the chart lacks `{text}`");
    }
    assert_eq!(svg.matches("<circle").count(), 2);
    assert!(!svg.contains("NaN"));

    let empty =
        Summary { benchmark: "b".into(), env: "gsm8k".into(), model: "m <&> n".into(), feedback: false, library: true, strategies: vec![] };
    let svg = empty.to_svg().unwrap();
    assert!(svg.contains("m &lt;&amp;&gt; n") && !svg.contains("NaN"), "text is escaped and an empty table still draws");
}
