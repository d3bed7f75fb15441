//! Logging through `tracing`. Never a password, a token, a cookie or the
//! secret. Work done on other threads for a request runs inside the
//! request's span, so its lines carry the request id.

mod request;
mod text;

pub use request::{RequestFields, Route, held_as_values};

use std::io::{IsTerminal, Write};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
/// disk, in batches of at most a millisecond under load; none is dropped.
/// Keep the guard until the end: dropping it flushes.
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
        .finish(Batched::new(output));
    request::hold_as_values(format == LogFormat::Text && !ansi);
    let layer: Box<dyn Layer<Registry> + Send + Sync> = match format {
        // Without colours (a file, a pipe, the journal): the same lines,
        // written with less work.
        LogFormat::Text if !ansi => tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .fmt_fields(text::PlainFields)
            .event_format(text::PlainText)
            .with_writer(writer)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(true)
            .with_target(false)
            .with_timer(text::Timestamp)
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_timer(text::Timestamp)
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

/// How often the log writer flushes at most while lines keep coming.
const FLUSH_EVERY: Duration = Duration::from_millis(1);

/// The background writer's output: lines gather in a buffer, which is
/// written when the writer has nothing more to take, but not more often
/// than every [`FLUSH_EVERY`]: a burst of lines costs one `write` a
/// millisecond, and the request threads need not wake the writer for each
/// line (it is not waiting while it pauses). A lone line is written at once.
struct Batched {
    buffer: std::io::BufWriter<Box<dyn Write + Send>>,
    flushed: Instant,
}

impl Batched {
    fn new(output: Box<dyn Write + Send>) -> Self {
        Self {
            buffer: std::io::BufWriter::with_capacity(64 * 1024, output),
            flushed: Instant::now(),
        }
    }
}

impl Write for Batched {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buffer.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let since = self.flushed.elapsed();
        if since < FLUSH_EVERY {
            std::thread::sleep(FLUSH_EVERY - since);
        }
        self.buffer.flush()?;
        self.flushed = Instant::now();
        Ok(())
    }
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
/// Twenty lower-case hex digits, written without the formatting machinery.
pub fn next_request_id() -> RequestId {
    static PREFIX: LazyLock<u32> = LazyLock::new(rand::random);
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut id = [0u8; 20];
    write_hex(&mut id[..8], u64::from(*PREFIX));
    write_hex(&mut id[8..], n);
    RequestId(id)
}

/// The low `out.len()` hex digits of `value`, most significant first.
fn write_hex(out: &mut [u8], mut value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in out.iter_mut().rev() {
        *byte = DIGITS[(value & 0xf) as usize];
        value >>= 4;
    }
}

/// A request's id: ASCII hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId([u8; 20]);

impl RequestId {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        // Hex digits only: always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A duration in milliseconds with three decimals (`"0.123"`), as
/// `format!("{:.3}", ms)` writes it, from integers and without an
/// allocation: rounded to the microsecond.
pub fn millis_3(elapsed: std::time::Duration) -> Millis {
    let micros = (elapsed.as_nanos() + 500) / 1000;
    let mut text = [b'0'; 24];
    let mut start = text.len();
    let mut rest = micros;
    // Three decimals, the point, then at least one whole digit.
    while start > text.len() - 5 || rest > 0 {
        start -= 1;
        if start == text.len() - 4 {
            text[start] = b'.';
            continue;
        }
        text[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    Millis { text, start }
}

/// The text [`millis_3`] made.
pub struct Millis {
    text: [u8; 24],
    start: usize,
}

impl Millis {
    pub fn as_str(&self) -> &str {
        // ASCII digits and a point.
        std::str::from_utf8(&self.text[self.start..]).unwrap_or_default()
    }
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
        assert_eq!(a.as_str().len(), 20);
        assert_eq!(a.as_str()[..8], b.as_str()[..8]);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
        let mut digits = [0u8; 12];
        write_hex(&mut digits, 0xabc_1234_5678);
        assert_eq!(&digits, b"0abc12345678");
    }

    #[test]
    fn latencies_read_as_the_float_format_wrote_them() {
        use std::time::Duration;
        for nanos in [
            0,
            1,
            499,
            501,
            123_456,
            999_999,
            1_000_000,
            12_345_678,
            3_000_999_400,
        ] {
            let elapsed = Duration::from_nanos(nanos);
            assert_eq!(
                millis_3(elapsed).as_str(),
                format!("{:.3}", elapsed.as_secs_f64() * 1000.0),
                "{nanos} ns"
            );
        }
    }
}
