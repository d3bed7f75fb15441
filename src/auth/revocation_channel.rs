//! Hears, on PostgreSQL, every revocation any instance or the command line
//! commits, and drops the tokens it names from this instance's cache.
//!
//! Triggers in the database (see the migration `revocation_channel`)
//! `NOTIFY gatehouse_auth` whenever a session ends, a token is denylisted
//! or a user row changes or goes; a notification is sent only if its
//! transaction commits, and only once it has. One thread holds one
//! connection that `LISTEN`s, reads what has arrived every few
//! milliseconds, and proves the connection alive with a round trip every
//! [`HEARTBEAT`]. The cache trusts its entries longer only while those
//! proofs keep coming (see `cache`); when they stop, whatever the reason,
//! it falls back to its short life on its own, and the thread reconnects
//! with a growing pause.

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use crate::auth::cache::{AuthCache, HEARTBEAT, Revoked};

/// The channel the triggers notify.
pub const CHANNEL: &str = "gatehouse_auth";

/// How often arrived notifications are read: a revocation reaches the
/// cache within this (plus the database's own delivery).
const POLL: Duration = Duration::from_millis(5);

/// Pauses between attempts to reconnect, doubling.
const FIRST_RETRY: Duration = Duration::from_millis(250);
const LAST_RETRY: Duration = Duration::from_secs(5);

/// Most notifications applied in one pass over the cache.
const BATCH: usize = 1024;

/// Starts the thread that listens at `url` for as long as the process
/// lives.
pub fn spawn(url: &str, cache: Arc<AuthCache>) -> std::io::Result<()> {
    let url = with_timeouts(&crate::db::tls::resolve_system_roots(url));
    std::thread::Builder::new()
        .name("revocations".into())
        .spawn(move || listen_forever(&url, &cache))
        .map(drop)
}

/// libpq's own limits, so that a dead peer is found by the connection too,
/// not only by the missing heartbeats: connecting gives up after 3 s, and
/// unacknowledged data after 5 s. The URL's own values win.
fn with_timeouts(url: &str) -> String {
    let mut url = url.to_owned();
    for (key, value) in [("connect_timeout", "3"), ("tcp_user_timeout", "5000")] {
        if !url.contains(&format!("{key}=")) {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&format!("{key}={value}"));
        }
    }
    url
}

fn listen_forever(url: &str, cache: &AuthCache) {
    let mut retry = FIRST_RETRY;
    // Whether the last connection was lost and the loss was reported.
    let mut lost = false;
    loop {
        match PgConnection::establish(url) {
            Ok(mut conn) => {
                let error = listen(&mut conn, cache, lost);
                cache.channel_lost();
                // Only a connection that came up and went down is news; a
                // database that stays unreachable was reported once.
                if error.listened || !lost {
                    tracing::warn!(
                        error = %error.error,
                        "the revocation channel is down: revocations made elsewhere apply here within GATEHOUSE_AUTH_CACHE_TTL until it is back"
                    );
                }
                if error.listened {
                    retry = FIRST_RETRY;
                }
                lost = true;
            }
            Err(error) => {
                if !lost {
                    tracing::warn!(
                        %error,
                        "cannot open the revocation channel: revocations made elsewhere apply here within GATEHOUSE_AUTH_CACHE_TTL until it opens"
                    );
                    lost = true;
                }
            }
        }
        std::thread::sleep(retry);
        retry = (retry * 2).min(LAST_RETRY);
    }
}

/// Why a listening connection ended.
struct Ended {
    error: diesel::result::Error,
    /// Whether it had started listening.
    listened: bool,
}

/// Listens until the connection fails.
fn listen(conn: &mut PgConnection, cache: &AuthCache, was_lost: bool) -> Ended {
    if let Err(error) = conn.batch_execute(&format!("LISTEN {CHANNEL}")) {
        return Ended {
            error,
            listened: false,
        };
    }
    cache.channel_listening();
    if was_lost {
        tracing::info!(
            "the revocation channel is back: revocations made elsewhere apply here at once"
        );
    } else {
        tracing::info!("listening for revocations made elsewhere");
    }
    let error = 'listening: loop {
        // Whatever was committed before this round trip began has been
        // delivered by the time its answer comes: read it, then say so.
        let sent = Instant::now();
        if let Err(error) = conn
            .batch_execute("SELECT 1")
            .and_then(|()| drain(conn, cache))
        {
            break error;
        }
        cache.channel_heard(sent);
        while Instant::now() < sent + HEARTBEAT {
            std::thread::sleep(POLL);
            if let Err(error) = drain(conn, cache) {
                break 'listening error;
            }
        }
    };
    Ended {
        error,
        listened: true,
    }
}

/// Applies every notification that has arrived.
fn drain(conn: &mut PgConnection, cache: &AuthCache) -> diesel::QueryResult<()> {
    loop {
        let mut batch = Vec::new();
        for notification in conn.notifications_iter().take(BATCH) {
            batch.push(Revoked::parse(&notification?.payload));
        }
        if batch.is_empty() {
            return Ok(());
        }
        cache.forget(&batch);
        metrics::counter!("gatehouse_revocations_heard_total").increment(batch.len() as u64);
        if batch.len() < BATCH {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeouts_join_the_urls_own_settings() {
        assert_eq!(
            with_timeouts("postgres://db/app"),
            "postgres://db/app?connect_timeout=3&tcp_user_timeout=5000"
        );
        assert_eq!(
            with_timeouts("postgres://db/app?sslmode=require&connect_timeout=10"),
            "postgres://db/app?sslmode=require&connect_timeout=10&tcp_user_timeout=5000"
        );
    }
}
