//! The `current_time` tool: the date and time now.

use agentos_core::ToolSpec;
use agentos_kernel::{Tool, ToolContext, ToolError};
use async_trait::async_trait;
use chrono::{DateTime, Local, SecondsFormat, TimeZone, Utc};
use serde_json::{json, Value};

/// `current_time {timezone?}`: the current time as RFC 3339 with the weekday, in UTC (the
/// default) or in the machine's local time zone.
#[derive(Clone, Copy, Debug, Default)]
pub struct CurrentTime;

fn show<Tz: TimeZone>(now: DateTime<Tz>, zone: &str) -> String
where
    Tz::Offset: std::fmt::Display,
{
    format!("{} ({}, {zone})", now.to_rfc3339_opts(SecondsFormat::Secs, true), now.format("%A"))
}

#[async_trait]
impl Tool for CurrentTime {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "current_time".into(),
            description: "Returns the current date and time as an RFC 3339 timestamp followed by the weekday, \
                for example `2025-03-14T09:26:53Z (Friday, UTC)`. Use it whenever the answer depends on today's date \
                or the time; never guess them. `timezone` is `utc` (the default) or `local` (the time zone of the \
                machine the agent runs on)."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "timezone": {
                        "type": "string",
                        "enum": ["utc", "local"],
                        "default": "utc",
                        "description": "`utc` (default) or `local`."
                    }
                },
                "required": [],
                "additionalProperties": false
            }),
        }
    }

    async fn call(&self, arguments: Value, _context: &ToolContext) -> Result<String, ToolError> {
        match crate::optional_str(&arguments, "timezone")?.unwrap_or("utc") {
            "utc" => Ok(show(Utc::now(), "UTC")),
            "local" => Ok(show(Local::now(), "local time")),
            other => Err(ToolError::Invalid(format!("unknown timezone `{other}`; use `utc` or `local`"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

    async fn run(arguments: Value) -> Result<String, ToolError> {
        CurrentTime.call(arguments, &crate::testing::context(&std::env::temp_dir())).await
    }

    /// Parses `<rfc3339> (<weekday>, <zone>)` and checks it against the clock.
    fn check(output: &str, zone: &str, expected_offset: i32) {
        let (stamp, rest) = output.split_once(' ').unwrap_or_else(|| panic!("no weekday in {output:?}"));
        let parsed = DateTime::parse_from_rfc3339(stamp).unwrap_or_else(|e| panic!("{stamp:?} is not RFC 3339: {e}"));
        let drift = (Utc::now() - parsed.with_timezone(&Utc)).num_seconds().abs();
        assert!(drift <= 5, "{output:?} is {drift} s away from now");
        assert_eq!(parsed.offset().local_minus_utc(), expected_offset, "{output:?}");
        let names = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
        assert_eq!(rest, format!("({}, {zone})", names[parsed.weekday().num_days_from_monday() as usize]), "{output:?}");
    }

    #[tokio::test]
    async fn utc_by_default() {
        let out = run(json!({})).await.unwrap();
        assert!(out.contains("Z ("), "{out}");
        check(&out, "UTC", 0);
        check(&run(json!({"timezone": "utc"})).await.unwrap(), "UTC", 0);
    }

    #[tokio::test]
    async fn local_time() {
        let out = run(json!({"timezone": "local"})).await.unwrap();
        check(&out, "local time", Local::now().offset().local_minus_utc());
    }

    #[test]
    fn shows_offset_and_weekday() {
        let zone = chrono::FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
        let moment = zone.with_ymd_and_hms(2024, 2, 29, 12, 0, 7).unwrap();
        assert_eq!(show(moment, "somewhere"), "2024-02-29T12:00:07+05:30 (Thursday, somewhere)");
        assert_eq!(show(moment.with_timezone(&Utc), "UTC"), "2024-02-29T06:30:07Z (Thursday, UTC)");
    }

    #[tokio::test]
    async fn unknown_zone_is_refused() {
        assert!(matches!(run(json!({"timezone": "mars"})).await, Err(ToolError::Invalid(m)) if m.contains("`mars`")));
    }
}
