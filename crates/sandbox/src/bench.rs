//! `agentos bench sandbox`: what confinement and the driver cost, next to a plain Python start.

use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::isolation::IsolationReport;
use crate::{python, NoTools, Sandbox, SandboxConfig, SandboxError};

/// Medians of start-up and round-trip times, measured side by side in one run on this machine.
#[derive(Clone, Debug)]
pub struct BenchReport {
    /// Samples per measurement.
    pub samples: usize,
    /// The interpreter measured (the real executable, also used for the plain start).
    pub python: PathBuf,
    /// Its version.
    pub python_version: String,
    /// Median time of `python -c pass`, unconfined, with the host's environment.
    pub python_start: Duration,
    /// Median time from [`Sandbox::start`] to a sandbox ready to execute.
    pub sandbox_start: Duration,
    /// Median time of executing `1+1` in a running sandbox, result included.
    pub round_trip: Duration,
    /// What confined the sandboxes measured.
    pub isolation: IsolationReport,
}

/// Measures `samples` (at least 1) sandbox starts, plain `python -c pass` starts (alternating,
/// after one warm-up of each) and round trips of `1+1` in one sandbox started with `config`.
/// Each started sandbox gets a fresh sub-directory of `config.work_dir`.
pub async fn bench(config: SandboxConfig, samples: usize) -> Result<BenchReport, SandboxError> {
    let samples = samples.max(1);
    let python = python::locate(config.python.as_deref()).await?;
    let sandbox_in = |n: usize| SandboxConfig { work_dir: config.work_dir.join(format!("start-{n}")), ..config.clone() };
    let mut python_starts = Vec::with_capacity(samples);
    let mut sandbox_starts = Vec::with_capacity(samples);
    for n in 0..=samples {
        let began = Instant::now();
        let status = tokio::process::Command::new(&python.executable)
            .args(["-c", "pass"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .map_err(|e| SandboxError::PythonUnusable { python: python.executable.clone(), detail: e.to_string() })?;
        let python_start = began.elapsed();
        if !status.success() {
            return Err(SandboxError::PythonUnusable {
                python: python.executable.clone(),
                detail: format!("`-c pass` exited with {status}"),
            });
        }
        let began = Instant::now();
        let sandbox = Sandbox::start(sandbox_in(n)).await?;
        let sandbox_start = began.elapsed();
        sandbox.shutdown().await;
        if n > 0 {
            python_starts.push(python_start);
            sandbox_starts.push(sandbox_start);
        }
    }
    let mut sandbox = Sandbox::start(sandbox_in(samples + 1)).await?;
    let mut round_trips = Vec::with_capacity(samples);
    for n in 0..=samples {
        let began = Instant::now();
        let execution = sandbox.execute("1+1", &NoTools).await?;
        let round_trip = began.elapsed();
        if execution.value.as_deref() != Some("2") {
            return Err(SandboxError::Handshake { detail: format!("`1+1` gave an unexpected result:\n{execution}") });
        }
        if n > 0 {
            round_trips.push(round_trip);
        }
    }
    let isolation = sandbox.report().clone();
    sandbox.shutdown().await;
    Ok(BenchReport {
        samples,
        python: python.executable.clone(),
        python_version: python.version.clone(),
        python_start: median(python_starts),
        sandbox_start: median(sandbox_starts),
        round_trip: median(round_trips),
        isolation,
    })
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

impl fmt::Display for BenchReport {
    /// A table of the three medians and their ratio to the plain Python start, then the isolation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "sandbox bench: python {} ({}), median of {} samples each", self.python_version, self.python.display(), self.samples)?;
        let base = self.python_start.as_secs_f64();
        let rows = [
            ("python -c pass (no sandbox)", self.python_start),
            ("sandbox start (confined, driver ready)", self.sandbox_start),
            ("round trip of `1+1` in a sandbox", self.round_trip),
        ];
        for (name, time) in rows {
            let ms = time.as_secs_f64() * 1e3;
            let ratio = if base > 0.0 { time.as_secs_f64() / base } else { f64::NAN };
            writeln!(f, "  {name:<40} {ms:>10.3} ms  {ratio:>7.3}x python -c pass")?;
        }
        write!(f, "{}", self.isolation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_take_the_middle_sample() {
        let ms = Duration::from_millis;
        assert_eq!(median(vec![ms(5), ms(1), ms(3)]), ms(3));
        assert_eq!(median(vec![ms(4)]), ms(4));
    }
}
