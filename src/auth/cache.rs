//! A short-lived cache of authenticated tokens, so that a page view needs no
//! database round trip.
//!
//! The promise it keeps: a token revoked on this instance (logout, "log out
//! everywhere") is dropped from the cache at once; a token revoked on
//! another instance or by the operator's command is refused here as soon as
//! its entry expires, within `ttl` (default 500 ms, well inside the one
//! second allowed).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::models::User;

/// At most this many tokens are cached; past it the cache starts over, so
/// memory stays bounded whatever the traffic.
const MAX_ENTRIES: usize = 10_000;

pub struct AuthCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    user: Arc<User>,
    until: Instant,
}

impl AuthCache {
    /// A zero `ttl` turns the cache off.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The user of a token checked within the last `ttl`.
    pub fn get(&self, jti: &str) -> Option<Arc<User>> {
        let entries = self.entries();
        let entry = entries.get(jti)?;
        (entry.until > Instant::now()).then(|| Arc::clone(&entry.user))
    }

    /// Remembers that `jti` was valid for `user` just now.
    pub fn insert(&self, jti: &str, user: Arc<User>) {
        if self.ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, entry| entry.until > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            jti.to_owned(),
            Entry {
                user,
                until: now + self.ttl,
            },
        );
    }

    /// Drops one token (it was just logged out).
    pub fn forget_token(&self, jti: &str) {
        self.entries().remove(jti);
    }

    /// Drops every token of a user (logged out everywhere).
    pub fn forget_user(&self, user_id: i32) {
        self.entries().retain(|_, entry| entry.user.id != user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i32) -> Arc<User> {
        Arc::new(User {
            id,
            username: format!("user{id}"),
            email: format!("user{id}@example.com"),
            hashed_password: String::new(),
            token_version: 0,
        })
    }

    #[test]
    fn an_entry_lives_for_the_ttl_only() {
        let cache = AuthCache::new(Duration::from_millis(30));
        cache.insert("a", user(1));
        assert_eq!(cache.get("a").map(|u| u.id), Some(1));
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn forgetting_works_by_token_and_by_user() {
        let cache = AuthCache::new(Duration::from_secs(60));
        cache.insert("a", user(1));
        cache.insert("b", user(1));
        cache.insert("c", user(2));
        cache.forget_token("c");
        assert!(cache.get("c").is_none());
        cache.forget_user(1);
        assert!(cache.get("a").is_none() && cache.get("b").is_none());
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let cache = AuthCache::new(Duration::ZERO);
        cache.insert("a", user(1));
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = AuthCache::new(Duration::from_secs(60));
        for n in 0..(MAX_ENTRIES + 10) {
            cache.insert(&n.to_string(), user(1));
        }
        assert!(cache.entries().len() <= MAX_ENTRIES);
    }
}
