//! The log line for people, as `tracing_subscriber::fmt` writes it without
//! colours (`2026-12-07T05:23:51.123456Z  INFO request{id=… method=GET}:
//! request status=200`), byte for byte, with less work per line: the date
//! and time of day are formatted once a second per thread, and names, `=`
//! and the span's stored fields are copied instead of going through the
//! colour wrappers and the formatting machinery. Anything unusual (the
//! message, an error value) is left to the library's own field visitor.

use std::cell::RefCell;
use std::fmt::{self, Write};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use super::request::RequestFields;

/// The timestamp of every line, text and JSON: RFC 3339 in UTC to the
/// microsecond, as `tracing_subscriber::fmt::time::SystemTime` writes it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timestamp;

impl FormatTime for Timestamp {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let Ok(since_epoch) = SystemTime::now().duration_since(UNIX_EPOCH) else {
            return tracing_subscriber::fmt::time::SystemTime.format_time(w);
        };
        let Ok(secs) = i64::try_from(since_epoch.as_secs()) else {
            return tracing_subscriber::fmt::time::SystemTime.format_time(w);
        };
        write_timestamp(w, secs, since_epoch.subsec_micros())
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` for `secs` after the epoch and `micros`.
fn write_timestamp(w: &mut impl Write, secs: i64, micros: u32) -> fmt::Result {
    thread_local! {
        /// The second last written by this thread, and its text up to the
        /// decimal point.
        static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    SECOND.with(|second| {
        let mut second = second.borrow_mut();
        if second.0 != secs {
            let text = &mut second.1;
            text.clear();
            let Ok(at) = time::OffsetDateTime::from_unix_timestamp(secs) else {
                return Err(fmt::Error);
            };
            let year = at.year();
            if year > 9999 {
                write!(text, "+{year}")?;
            } else if year < 0 {
                write!(text, "{year:05}")?;
            } else {
                write!(text, "{year:04}")?;
            }
            write!(
                text,
                "-{:02}-{:02}T{:02}:{:02}:{:02}.",
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute(),
                at.second()
            )?;
            second.0 = secs;
        }
        w.write_str(&second.1)
    })?;
    let mut digits = [b'0'; 6];
    let mut rest = micros;
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    // ASCII digits.
    w.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?)?;
    w.write_char('Z')
}

/// Formats fields as `DefaultFields` does without colours: `name=value`
/// (the value's `Debug`), separated by spaces, `r#` dropped from names,
/// the log bridge's `log.*` fields left out.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainFields;

impl<'writer> FormatFields<'writer> for PlainFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = PlainVisitor {
            writer,
            is_empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct PlainVisitor<'a> {
    writer: Writer<'a>,
    is_empty: bool,
    result: fmt::Result,
}

impl PlainVisitor<'_> {
    /// Hands one field to the library's visitor, which sanitizes messages
    /// and lists an error's sources.
    fn delegate(&mut self, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        let mut visitor = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        record(&mut visitor);
        self.result = visitor.finish();
        self.is_empty = false;
    }

    /// ` name=` (no space before the first field), or `None` for a field
    /// left out.
    fn start(&mut self, field: &Field) -> Option<()> {
        let name = field.name();
        if self.result.is_err() || name.starts_with("log.") {
            return None;
        }
        let padding = if self.is_empty { "" } else { " " };
        self.is_empty = false;
        let name = name.strip_prefix("r#").unwrap_or(name);
        let writer = &mut self.writer;
        self.result = writer
            .write_str(padding)
            .and_then(|()| writer.write_str(name))
            .and_then(|()| writer.write_char('='));
        self.result.is_ok().then_some(())
    }

    /// A number as `{:?}` writes it; a message goes to the library.
    fn record_number(&mut self, field: &Field, negative: bool, magnitude: u64) {
        if field.name() == "message" {
            let sign = if negative { "-" } else { "" };
            return self.record_debug(field, &format_args!("{sign}{magnitude}"));
        }
        if self.start(field).is_some() {
            self.result = write_decimal(&mut self.writer, negative, magnitude);
        }
    }
}

/// Whether `{:?}` writes `text` as itself between quotes: printable ASCII
/// but `"` and `\`.
fn is_plain(text: &str) -> bool {
    text.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

/// A number in decimal, as `{}` writes it, without the formatting machinery.
pub(super) fn write_decimal(w: &mut impl Write, negative: bool, magnitude: u64) -> fmt::Result {
    let mut text = [0u8; 21];
    let mut start = text.len();
    let mut rest = magnitude;
    loop {
        start -= 1;
        text[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if negative {
        start -= 1;
        text[start] = b'-';
    }
    // ASCII digits and a sign.
    w.write_str(std::str::from_utf8(&text[start..]).map_err(|_| fmt::Error)?)
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        if field.name() == "message" {
            self.delegate(|v| v.record_str(field, value));
        } else if is_plain(value) {
            if self.start(field).is_some() {
                let writer = &mut self.writer;
                self.result = writer
                    .write_char('"')
                    .and_then(|()| writer.write_str(value))
                    .and_then(|()| writer.write_char('"'));
            }
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record_number(field, false, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_number(field, value < 0, value.unsigned_abs());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        self.delegate(|v| v.record_error(field, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        if field.name() == "message" {
            self.delegate(|v| v.record_debug(field, value));
        } else if self.start(field).is_some() {
            self.result = write!(self.writer, "{value:?}");
        }
    }
}

/// The line as `tracing_subscriber::fmt::format::Full` writes it with
/// colours, the target and the thread off: time, level, each span of the
/// event's scope with its fields, then the event's fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainText;

impl<S, N> FormatEvent<S, N> for PlainText
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if Timestamp.format_time(&mut writer).is_err() {
            writer.write_str("<unknown time>")?;
        }
        writer.write_str(match *event.metadata().level() {
            Level::TRACE => " TRACE ",
            Level::DEBUG => " DEBUG ",
            Level::INFO => "  INFO ",
            Level::WARN => "  WARN ",
            Level::ERROR => " ERROR ",
        })?;
        if let Some(scope) = ctx.event_scope() {
            let mut seen = false;
            for span in scope.from_root() {
                writer.write_str(span.metadata().name())?;
                seen = true;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<Arc<RequestFields>>() {
                    writer.write_char('{')?;
                    fields.write(&mut writer)?;
                    writer.write_char('}')?;
                } else if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    writer.write_char('{')?;
                    writer.write_str(&fields.fields)?;
                    writer.write_char('}')?;
                }
                writer.write_char(':')?;
            }
            if seen {
                writer.write_char(' ')?;
            }
        }
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf-8")
        }
    }

    #[derive(Debug)]
    struct Outer(&'static str);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&Inner)
        }
    }

    #[derive(Debug)]
    struct Inner;

    impl fmt::Display for Inner {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("the cause")
        }
    }

    impl std::error::Error for Inner {}

    /// Logs the same lines through `subscriber`.
    fn log_lines(subscriber: impl Subscriber + Send + Sync) {
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                id = %"0123abcd",
                method = %"GET",
                path = %"/me",
                route = tracing::field::Empty,
                client = %"127.0.0.1",
                user = tracing::field::Empty,
            );
            span.record("user", 42);
            span.in_scope(|| {
                let inner = tracing::info_span!("inner", r#type = "quoted \"text\"");
                inner.in_scope(|| tracing::warn!(count = 3, "nested"));
                span.record("route", tracing::field::display("/me"));
                tracing::info!(
                    status = 200u16,
                    latency_ms = "0.123",
                    ok = true,
                    ratio = 0.5,
                    below = -7,
                    big = u64::MAX,
                    lowest = i64::MIN,
                    unicode = "café",
                    "request"
                );
            });
            let error = Outer("it failed");
            tracing::error!(
                error = &error as &(dyn std::error::Error + 'static),
                "message with \x1b[31m an escape"
            );
            tracing::debug!("a debug line");
            tracing::info!(r#"a message with "quotes" and {{braces}}"#);
            tracing::info!(text = "a\nline", "fields after the message");
        });
    }

    /// A subscriber writing the plain text lines into `out`.
    fn plain(out: &Captured) -> impl Subscriber + Send + Sync {
        tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .fmt_fields(PlainFields)
                .event_format(PlainText)
                .with_writer(out.clone()),
        )
    }

    /// The lines without their timestamps, which differ between runs.
    fn without_times(out: &Captured) -> Vec<String> {
        out.text()
            .lines()
            .map(|line| {
                let (time, rest) = line.split_once(' ').expect("a timestamp");
                assert_eq!(time.len(), 27, "{line}");
                assert!(time.ends_with('Z'), "{line}");
                rest.to_owned()
            })
            .collect()
    }

    #[test]
    fn lines_are_the_library_s_without_colours_byte_for_byte() {
        let ours = Captured::default();
        log_lines(plain(&ours));
        let library = Captured::default();
        log_lines(
            tracing_subscriber::registry().with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_target(false)
                    .with_writer(library.clone()),
            ),
        );
        let (ours, library) = (without_times(&ours), without_times(&library));
        assert_eq!(ours.len(), 6, "{ours:#?}");
        assert_eq!(ours, library);
    }

    /// The same requests logged with their fields recorded the library's
    /// way and held as [`RequestFields`].
    #[test]
    fn request_fields_held_as_values_read_as_recorded_fields() {
        use actix_web::http::Method;

        use crate::auth::Client;
        use crate::telemetry::{Route, next_request_id};

        let ids = [next_request_id(), next_request_id()];
        let client = Client(Some([127, 0, 0, 1].into()));
        let routes = [("/me", None), ("/static/{token}", Some("/static/{name}"))];
        let recorded = Captured::default();
        tracing::subscriber::with_default(plain(&recorded), || {
            for (id, (path, pattern)) in ids.iter().zip(routes) {
                let span = tracing::info_span!(
                    "request",
                    id = %id,
                    method = %Method::GET,
                    path = %path,
                    route = tracing::field::Empty,
                    client = %client,
                    user = tracing::field::Empty,
                );
                span.in_scope(|| tracing::warn!("inside"));
                span.record("user", 42);
                span.record("route", tracing::field::display(pattern.unwrap_or(path)));
                span.in_scope(|| tracing::info!(status = 200u16, "request"));
            }
        });
        let held = Captured::default();
        tracing::subscriber::with_default(plain(&held), || {
            for (id, (path, pattern)) in ids.iter().zip(routes) {
                let span = tracing::info_span!("request");
                let fields = RequestFields::new(*id, &Method::GET, path, client);
                fields.attach(&span);
                span.in_scope(|| tracing::warn!("inside"));
                fields.set_user(42);
                fields.set_user(43);
                fields.set_route(pattern.map_or(Route::Path, Route::Pattern));
                span.in_scope(|| tracing::info!(status = 200u16, "request"));
            }
        });
        let (recorded, held) = (without_times(&recorded), without_times(&held));
        assert_eq!(recorded.len(), 4, "{recorded:#?}");
        assert!(
            recorded[3].contains("user=42 route=/static/{name}}: request status=200"),
            "{recorded:#?}"
        );
        assert_eq!(held, recorded);
    }

    #[test]
    fn decimals_read_as_formatted() {
        for n in [
            0,
            7,
            42,
            1_000_000,
            -1,
            -905,
            i64::from(i32::MAX),
            i64::MAX,
            i64::MIN,
        ] {
            let mut text = String::new();
            write_decimal(&mut text, n < 0, n.unsigned_abs()).expect("writes");
            assert_eq!(text, n.to_string());
        }
    }

    #[test]
    fn timestamps_are_the_library_s() {
        let mut text = String::new();
        write_timestamp(&mut text, 1_796_534_631, 7).expect("formats");
        assert_eq!(text, "2026-12-06T05:23:51.000007Z");
        text.clear();
        // The cached second is reused, the next one formatted afresh.
        write_timestamp(&mut text, 1_796_534_631, 999_999).expect("formats");
        write_timestamp(&mut text, 1_796_534_632, 0).expect("formats");
        assert_eq!(
            text,
            "2026-12-06T05:23:51.999999Z2026-12-06T05:23:52.000000Z"
        );
        text.clear();
        write_timestamp(&mut text, 0, 0).expect("formats");
        assert_eq!(text, "1970-01-01T00:00:00.000000Z");
    }
}
