//! Logging through `tracing`. Never a password, a token, a cookie or the
//! secret. Work done on other threads for a request runs inside the
//! request's span, so its lines carry the request id.

use std::io::IsTerminal;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Logs to stdout at `info`, or as `RUST_LOG` says. Lines are written by a
/// background thread, so a request never waits for the terminal or the
/// disk; none is dropped. Keep the guard until the end: dropping it flushes.
/// An invalid `RUST_LOG` is reported (once the logger runs) and `info` used.
pub fn init() -> WorkerGuard {
    let (filter, problem) = match std::env::var("RUST_LOG") {
        Ok(raw) if !raw.trim().is_empty() => match EnvFilter::try_new(&raw) {
            Ok(filter) => (filter, None),
            Err(error) => (EnvFilter::new("info"), Some(error.to_string())),
        },
        _ => (EnvFilter::new("info"), None),
    };
    let ansi = std::io::stdout().is_terminal();
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::stdout());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_target(false)
        .with_writer(writer)
        .init();
    if let Some(problem) = problem {
        tracing::warn!("RUST_LOG is not a valid log filter ({problem}); logging at info");
    }
    guard
}

/// `tokio::task::spawn_blocking`, with the caller's span entered on the
/// blocking thread.
pub fn spawn_blocking_in_span<T, F>(work: F) -> tokio::task::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
}

/// A request id unique in this process and unlikely across processes:
/// a random prefix per start and a counter, without a syscall per request.
pub fn next_request_id() -> String {
    static PREFIX: LazyLock<u32> = LazyLock::new(rand::random);
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:08x}{n:012x}", *PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_do_not_repeat() {
        let a = next_request_id();
        let b = next_request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 20);
        assert_eq!(a[..8], b[..8]);
    }
}
