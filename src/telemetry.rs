//! Logging through `tracing`. Never a password, a token, a cookie or the
//! secret. Work done on other threads for a request runs inside the
//! request's span, so its lines carry the request id.

use std::io::IsTerminal;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::Level;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// Where log lines go: the server's standard output, or standard error for
/// a command whose output is its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTo {
    Stdout,
    Stderr,
}

/// How each line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// For people: time, level, the span's fields, the message.
    Text,
    /// One JSON object per line (`GATEHOUSE_LOG_FORMAT=json`), with the
    /// request span's fields, for log collectors.
    Json,
}

/// Logs at `info`, or as `RUST_LOG` says. Lines are written by a
/// background thread, so a request never waits for the terminal or the
/// disk; none is dropped. Keep the guard until the end: dropping it flushes.
/// An invalid `RUST_LOG` is reported (once the logger runs) and `info` used.
pub fn init(to: LogTo, format: LogFormat) -> WorkerGuard {
    let (filter, problem) = match std::env::var("RUST_LOG") {
        Ok(raw) if !raw.trim().is_empty() => match LogFilter::parse(&raw) {
            Ok(filter) => (filter, None),
            Err(error) => (
                LogFilter::Static(Targets::new().with_default(Level::INFO)),
                Some(error),
            ),
        },
        _ => (
            LogFilter::Static(Targets::new().with_default(Level::INFO)),
            None,
        ),
    };
    let (ansi, output): (bool, Box<dyn std::io::Write + Send>) = match to {
        LogTo::Stdout => (std::io::stdout().is_terminal(), Box::new(std::io::stdout())),
        LogTo::Stderr => (std::io::stderr().is_terminal(), Box::new(std::io::stderr())),
    };
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::BufWriter::new(output));
    let layer: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_target(false)
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_target(false)
            .with_writer(writer)
            .boxed(),
    };
    let registry = tracing_subscriber::registry().with(layer);
    match filter {
        LogFilter::Static(targets) => registry.with(targets).init(),
        LogFilter::Dynamic(env) => registry.with(env).init(),
    }
    if let Some(problem) = problem {
        tracing::warn!("RUST_LOG is not a valid log filter ({problem}); logging at info");
    }
    guard
}

/// Targets and levels are all most filters say, and a static filter costs
/// nothing per span; `EnvFilter` (span and field directives) takes a lock
/// each time a span is entered, so it is used only when asked for.
#[expect(clippy::large_enum_variant, reason = "made once, at start")]
enum LogFilter {
    Static(Targets),
    Dynamic(EnvFilter),
}

impl LogFilter {
    fn parse(raw: &str) -> Result<Self, String> {
        if let Ok(targets) = raw.parse::<Targets>() {
            return Ok(Self::Static(targets));
        }
        EnvFilter::try_new(raw)
            .map(Self::Dynamic)
            .map_err(|error| error.to_string())
    }
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
    fn plain_filters_are_static_and_span_filters_dynamic() {
        assert!(matches!(LogFilter::parse("info"), Ok(LogFilter::Static(_))));
        assert!(matches!(
            LogFilter::parse("warn,gatehouse=debug"),
            Ok(LogFilter::Static(_))
        ));
        assert!(matches!(
            LogFilter::parse("info,[request{method=POST}]=debug"),
            Ok(LogFilter::Dynamic(_))
        ));
        assert!(LogFilter::parse("info,gatehouse=loudest").is_err());
    }

    #[test]
    fn request_ids_do_not_repeat() {
        let a = next_request_id();
        let b = next_request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 20);
        assert_eq!(a[..8], b[..8]);
    }
}
