//! The request span's fields as values, for the text log without colours:
//! the span opens without fields, holds these in its extensions, and each
//! line logged inside the request writes them straight from here. The
//! library's way (format the fields into a string when the span opens,
//! format again and append at each `record`) cost a sixth of a cached
//! request. Lines read the same either way: `request{id=… method=GET
//! path=/me client=… user=7 route=/me}`.

use std::fmt::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

use actix_web::http::Method;
use tracing::Span;
use tracing_subscriber::Registry;
use tracing_subscriber::registry::LookupSpan;

use crate::auth::Client;
use crate::telemetry::RequestId;
use crate::telemetry::text::write_decimal;

/// Whether request spans carry [`RequestFields`] (set at start by
/// [`super::init`] when the plain text format writes the lines); else
/// their fields are recorded the library's way, for JSON and colours.
static HELD_AS_VALUES: AtomicBool = AtomicBool::new(false);

pub(super) fn hold_as_values(on: bool) {
    HELD_AS_VALUES.store(on, Ordering::Relaxed);
}

/// Whether request spans carry [`RequestFields`].
pub fn held_as_values() -> bool {
    HELD_AS_VALUES.load(Ordering::Relaxed)
}

/// No user recorded.
const NO_USER: i64 = i64::MIN;

/// What a request's lines say of it.
pub struct RequestFields {
    /// `id=… method=… path=… client=…`, written once.
    text: String,
    /// Where the path is in `text`.
    path: std::ops::Range<usize>,
    /// Known once authenticated.
    user: AtomicI64,
    /// Known once routed.
    route: OnceLock<Route>,
}

/// The route a request took.
#[derive(Debug, Clone, Copy)]
pub enum Route {
    /// A route with parameters: its pattern.
    Pattern(&'static str),
    /// A route without parameters, or none: the path, as logged.
    Path,
}

impl RequestFields {
    /// `path` as logged (an email link's token masked).
    pub fn new(id: RequestId, method: &Method, path: &str, client: Client) -> Arc<Self> {
        let mut text = String::with_capacity(64 + path.len());
        text.push_str("id=");
        text.push_str(id.as_str());
        text.push_str(" method=");
        text.push_str(method.as_str());
        text.push_str(" path=");
        let start = text.len();
        text.push_str(path);
        let path = start..text.len();
        text.push_str(" client=");
        // Writing to a `String` does not fail.
        let _ = client.write_to(&mut text);
        Arc::new(Self {
            text,
            path,
            user: AtomicI64::new(NO_USER),
            route: OnceLock::new(),
        })
    }

    /// The first user recorded stays.
    pub fn set_user(&self, id: i32) {
        let _ = self.user.compare_exchange(
            NO_USER,
            i64::from(id),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    pub fn set_route(&self, route: Route) {
        let _ = self.route.set(route);
    }

    /// Hands these to `span`, where the log lines find them.
    pub fn attach(self: &Arc<Self>, span: &Span) {
        span.with_subscriber(|(id, dispatch)| {
            if let Some(span) = dispatch
                .downcast_ref::<Registry>()
                .and_then(|registry| registry.span(id))
            {
                span.extensions_mut().insert(Arc::clone(self));
            }
        });
    }

    /// `id=… method=… path=… client=…`, then `user=…` and `route=…` once
    /// known, as the library writes recorded fields.
    pub fn write(&self, w: &mut impl Write) -> fmt::Result {
        w.write_str(&self.text)?;
        let user = self.user.load(Ordering::Relaxed);
        if user != NO_USER {
            w.write_str(" user=")?;
            write_decimal(w, user < 0, user.unsigned_abs())?;
        }
        match self.route.get() {
            Some(Route::Pattern(pattern)) => {
                w.write_str(" route=")?;
                w.write_str(pattern)
            }
            Some(Route::Path) => {
                w.write_str(" route=")?;
                w.write_str(&self.text[self.path.clone()])
            }
            None => Ok(()),
        }
    }
}
