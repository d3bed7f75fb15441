//! A short-lived cache of authenticated tokens, so that a page view needs
//! neither a database round trip nor a second signature check.
//!
//! Entries are keyed by the token itself and made only after the token
//! passed every check, so a hit is as good as a check. The promise the cache
//! keeps: a token revoked on this instance (logout, "log out everywhere") is
//! dropped at once; a token revoked on another instance or by the
//! operator's command is refused here as soon as its entry expires, within
//! `ttl` (default 500 ms, at most 1 s).
//!
//! A check that was under way while a token was revoked here must not put
//! it back: every revocation moves a generation on, and an entry is only
//! made when the generation is still the one read before the check began.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::auth::token::{Claims, is_expired};
use crate::models::User;

/// At most this many tokens are cached; past it the cache starts over, so
/// memory stays bounded whatever the traffic.
const MAX_ENTRIES: usize = 10_000;

pub struct AuthCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
    /// Moved on, under the lock, by every revocation.
    generation: AtomicU64,
}

/// A token that passed every check, with its user.
#[derive(Clone)]
pub struct Entry {
    pub user: Arc<User>,
    pub claims: Arc<Claims>,
    until: Instant,
}

impl AuthCache {
    /// A zero `ttl` turns the cache off.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    /// Read before checking a token; hand it to [`AuthCache::insert`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The user and claims of `token` if it passed every check within the
    /// last `ttl` and has not expired since (`now_ms` in Unix milliseconds).
    pub fn get(&self, token: &str, now_ms: i64) -> Option<Entry> {
        let entries = self.entries();
        let entry = entries.get(token)?;
        let expired = is_expired(entry.claims.exp, now_ms);
        (entry.until > Instant::now() && !expired).then(|| entry.clone())
    }

    /// Remembers that `token` passed every check just now, unless a
    /// revocation happened since `generation` was read.
    pub fn insert(&self, token: &str, user: Arc<User>, claims: Arc<Claims>, generation: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut entries = self.entries();
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, entry| entry.until > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        let until = now + self.ttl;
        entries.insert(
            token.to_owned(),
            Entry {
                user,
                claims,
                until,
            },
        );
    }

    /// Drops one token (it was just logged out).
    pub fn forget_token(&self, jti: &str) {
        let mut entries = self.entries();
        entries.retain(|_, entry| entry.claims.jti != jti);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Drops every token of a session (it ended).
    pub fn forget_session(&self, sid: &str) {
        let mut entries = self.entries();
        entries.retain(|_, entry| entry.claims.sid != sid);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Drops every token of a user (logged out everywhere).
    pub fn forget_user(&self, user_id: i32) {
        let mut entries = self.entries();
        entries.retain(|_, entry| entry.user.id != user_id);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;
    const NOW_MS: i64 = NOW * 1000;

    fn user(id: i32) -> Arc<User> {
        Arc::new(User {
            id,
            username: format!("user{id}"),
            email: format!("user{id}@example.com"),
            hashed_password: String::new(),
            token_version: 0,
            email_verified: false,
            disabled: false,
        })
    }

    fn claims(jti: &str, exp: i64) -> Arc<Claims> {
        Arc::new(Claims {
            sub: "1".into(),
            exp,
            iat: NOW,
            jti: jti.into(),
            iss: "gatehouse".into(),
            ver: 0,
            sid: format!("session-of-{jti}"),
            nbf: None,
        })
    }

    #[test]
    fn an_entry_lives_for_the_ttl_only() {
        let cache = AuthCache::new(Duration::from_millis(30));
        cache.insert("t", user(1), claims("a", NOW + 60), 0);
        assert_eq!(cache.get("t", NOW_MS).map(|e| e.user.id), Some(1));
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get("t", NOW_MS).is_none());
    }

    #[test]
    fn an_expired_token_is_not_served_from_the_cache() {
        let cache = AuthCache::new(Duration::from_secs(60));
        cache.insert("t", user(1), claims("a", NOW), 0);
        assert!(cache.get("t", NOW_MS + 5000).is_some());
        assert!(cache.get("t", NOW_MS + 5001).is_none());
    }

    #[test]
    fn forgetting_works_by_token_id_and_by_user() {
        let cache = AuthCache::new(Duration::from_secs(60));
        cache.insert("t1", user(1), claims("a", NOW + 60), 0);
        cache.insert("t2", user(1), claims("b", NOW + 60), 0);
        cache.insert("t3", user(2), claims("c", NOW + 60), 0);
        cache.forget_token("c");
        assert!(cache.get("t3", NOW_MS).is_none());
        cache.insert("t4", user(2), claims("d", NOW + 60), cache.generation());
        cache.forget_session("session-of-d");
        assert!(cache.get("t4", NOW_MS).is_none());
        cache.forget_user(1);
        assert!(cache.get("t1", NOW_MS).is_none() && cache.get("t2", NOW_MS).is_none());
    }

    #[test]
    fn a_check_under_way_during_a_revocation_does_not_put_the_token_back() {
        let cache = AuthCache::new(Duration::from_secs(60));
        let before = cache.generation();
        cache.forget_token("a");
        cache.insert("t", user(1), claims("a", NOW + 60), before);
        assert!(cache.get("t", NOW_MS).is_none());
        cache.insert("t", user(1), claims("a", NOW + 60), cache.generation());
        assert!(cache.get("t", NOW_MS).is_some());
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let cache = AuthCache::new(Duration::ZERO);
        cache.insert("t", user(1), claims("a", NOW + 60), 0);
        assert!(cache.get("t", NOW_MS).is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = AuthCache::new(Duration::from_secs(60));
        for n in 0..(MAX_ENTRIES + 10) {
            cache.insert(&n.to_string(), user(1), claims("a", NOW + 60), 0);
        }
        assert!(cache.entries().len() <= MAX_ENTRIES);
    }
}
