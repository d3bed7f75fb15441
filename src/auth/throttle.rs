//! Throttling of failed logins and of registrations, with counters in the
//! database so that every instance agrees.

use std::net::IpAddr;

use actix_web::HttpRequest;

use crate::config::Limit;
use crate::db::AnyConnection;
use crate::error::AppError;
use crate::models::rate_limit;

/// The client's address: the TCP peer, or, when the peer is a trusted proxy,
/// the rightmost address in `X-Forwarded-For` that is not itself one.
pub fn client_ip(req: &HttpRequest, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    Some(resolve_client_ip(
        peer,
        &forwarded.join(","),
        trusted_proxies,
    ))
}

/// The pure part of [`client_ip`].
pub fn resolve_client_ip(peer: IpAddr, forwarded_for: &str, trusted_proxies: &[IpAddr]) -> IpAddr {
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if trusted_proxies.contains(&ip) => client = ip,
            Ok(ip) => return ip,
            // A hop we cannot read: stop at the last one we could.
            Err(_) => return client,
        }
    }
    client
}

pub fn login_pair_key(email: &str, ip: Option<IpAddr>) -> String {
    format!(
        "login:{}:{email}",
        ip.map(|ip| ip.to_string()).unwrap_or_default()
    )
}

pub fn login_email_key(email: &str) -> String {
    format!("login-email:{email}")
}

pub fn register_key(ip: Option<IpAddr>) -> String {
    format!(
        "register:{}",
        ip.map(|ip| ip.to_string()).unwrap_or_default()
    )
}

/// Refuses when any of the counters has reached its limit.
pub fn refuse_if_exhausted(
    conn: &mut AnyConnection,
    checks: &[(&str, Limit)],
    now: i64,
) -> Result<(), AppError> {
    let mut reset_at = None;
    for (key, limit) in checks {
        if let Some(counter) = rate_limit::current(conn, key, now)?
            && counter.count >= i32::try_from(limit.max).unwrap_or(i32::MAX)
        {
            reset_at = reset_at.max(Some(counter.reset_at));
        }
    }
    match reset_at {
        Some(reset_at) => Err(too_many(reset_at, now)),
        None => Ok(()),
    }
}

/// Counts one event against `limit` and refuses it when it goes over.
pub fn count_and_check(
    conn: &mut AnyConnection,
    key: &str,
    limit: Limit,
    now: i64,
) -> Result<(), AppError> {
    let counter = rate_limit::hit(conn, key, window_secs(limit), now)?;
    if counter.count > i32::try_from(limit.max).unwrap_or(i32::MAX) {
        return Err(too_many(counter.reset_at, now));
    }
    Ok(())
}

/// Counts one event without refusing it (a failed login).
pub fn count(conn: &mut AnyConnection, key: &str, limit: Limit, now: i64) -> Result<(), AppError> {
    rate_limit::hit(conn, key, window_secs(limit), now)?;
    Ok(())
}

fn window_secs(limit: Limit) -> i64 {
    i64::try_from(limit.window.as_secs()).unwrap_or(i64::MAX / 4)
}

fn too_many(reset_at: i64, now: i64) -> AppError {
    AppError::TooManyRequests {
        retry_after: u64::try_from(reset_at - now).unwrap_or(0).max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(
            resolve_client_ip(ip("203.0.113.9"), "198.51.100.1", &[]),
            ip("203.0.113.9")
        );
        assert_eq!(
            resolve_client_ip(ip("203.0.113.9"), "198.51.100.1", &[ip("10.0.0.1")]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
        let proxies = [ip("10.0.0.1"), ip("10.0.0.2")];
        assert_eq!(
            resolve_client_ip(ip("10.0.0.1"), "198.51.100.1", &proxies),
            ip("198.51.100.1")
        );
        // The client may prepend anything; only what our proxies saw counts.
        assert_eq!(
            resolve_client_ip(ip("10.0.0.1"), "1.1.1.1, 198.51.100.1, 10.0.0.2", &proxies),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn a_trusted_proxy_without_a_readable_header_is_the_client() {
        let proxies = [ip("10.0.0.1")];
        assert_eq!(
            resolve_client_ip(ip("10.0.0.1"), "", &proxies),
            ip("10.0.0.1")
        );
        assert_eq!(
            resolve_client_ip(ip("10.0.0.1"), "garbage", &proxies),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn keys_separate_the_limits() {
        let a = Some(ip("127.0.0.1"));
        assert_ne!(login_pair_key("a@b.c", a), login_email_key("a@b.c"));
        assert_ne!(
            login_pair_key("a@b.c", a),
            login_pair_key("a@b.c", Some(ip("127.0.0.2")))
        );
    }
}
