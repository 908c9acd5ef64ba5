//! Leases on live runs: exactly one process drives a run at a time.
//!
//! A run being driven carries a lease in its row of `runs`: the holder (host, process id and a
//! token naming one [`crate::Storage`] handle), when it was taken, and when it expires. The holder
//! renews every lease it holds in one statement every [`RENEW_EVERY`] (a thread per storage
//! handle that holds any), and gives the lease back in the same transaction that records how the
//! run ended. Taking a lease is a compare-and-swap on the holder column, so of two processes that
//! try at once only one gets it, and every step is written only while its writer still holds the
//! lease (a fenced write), so a process that lost its lease cannot add to the journal. This is how
//! job queues on a shared database do it (DBOS, graphile-worker, River), and it needs nothing from
//! the database but a conditional `UPDATE`.
//!
//! A lease is live until it expires, or, when its holder runs on this host, until the holder
//! process is gone: a run whose process was killed shows as `interrupted` at once, not after
//! [`LEASE_TTL`].

use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

/// How long a lease lasts without renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(30);

/// How often a holder renews its leases: a third of [`LEASE_TTL`], so two renewals can be late.
pub const RENEW_EVERY: Duration = Duration::from_secs(10);

/// Who drives a run: a process on a host, through one storage handle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The host's name.
    pub host: String,
    /// The process id on that host.
    pub pid: u32,
    /// Names the storage handle within the process.
    pub token: String,
}

impl Holder {
    /// A new holder for this process.
    pub(crate) fn this_process() -> Holder {
        Holder { host: hostname().to_string(), pid: std::process::id(), token: agentos_core::RunId::new().to_string() }
    }

    /// The text stored in `runs.lease_owner`: `host/pid/token`.
    pub(crate) fn key(&self) -> String {
        format!("{}/{}/{}", self.host, self.pid, self.token)
    }

    /// Reads a stored `host/pid/token` back.
    pub(crate) fn parse(key: &str) -> Option<Holder> {
        let (rest, token) = key.rsplit_once('/')?;
        let (host, pid) = rest.rsplit_once('/')?;
        Some(Holder { host: host.to_string(), pid: pid.parse().ok()?, token: token.to_string() })
    }

    /// False when the holder is a process of this host that no longer exists.
    fn alive(&self) -> bool {
        if self.host != hostname() {
            return true;
        }
        // SAFETY: signal 0 only checks that the process exists and may be signalled.
        let found = unsafe { libc::kill(self.pid as libc::pid_t, 0) } == 0;
        found || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
}

/// A run's lease as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Who holds it.
    pub holder: Holder,
    /// When it was taken (RFC 3339).
    pub since: String,
    /// When it expires unless renewed (Unix time, milliseconds).
    pub expires_ms: i64,
}

impl Lease {
    /// True while the lease holds: not expired, and its holder not known to be gone.
    pub fn live(&self) -> bool {
        self.expires_ms > now_ms() && self.holder.alive()
    }
}

/// The time now, as Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// When a lease taken or renewed now expires.
pub(crate) fn expiry() -> i64 {
    now_ms() + LEASE_TTL.as_millis() as i64
}

/// This host's name, read once per process: every run read from storage checks its lease.
fn hostname() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into())
    })
}

/// The renewal thread of one storage handle: every [`RENEW_EVERY`], extends every lease `owner`
/// holds. Ends when `stop`'s sender is dropped (the storage handle is gone).
pub(crate) fn renew_loop(conn: Connection, owner: String, stop: mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(RENEW_EVERY) {
        // A failed renewal is retried at the next tick; the lease has two more ticks to spare.
        let _ = conn.execute("UPDATE runs SET lease_expires = ?2 WHERE lease_owner = ?1", params![owner, expiry()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_reads_back_and_a_dead_local_process_holds_nothing() {
        let me = Holder::this_process();
        assert_eq!(Holder::parse(&me.key()), Some(me.clone()));
        assert!(me.alive());
        let lease = Lease { holder: me.clone(), since: String::new(), expires_ms: expiry() };
        assert!(lease.live());
        assert!(!Lease { expires_ms: now_ms() - 1, ..lease.clone() }.live(), "expired");
        // A child that has exited and been reaped: its pid names no process.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!Lease { holder: Holder { pid, ..me.clone() }, ..lease.clone() }.live(), "its process is gone");
        let elsewhere = Holder { host: "another-host".into(), pid, ..me };
        assert!(Lease { holder: elsewhere, ..lease }.live(), "a process on another host is trusted until expiry");
    }
}
