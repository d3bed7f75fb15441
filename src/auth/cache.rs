//! A cache of authenticated tokens, so that a page view needs neither a
//! database round trip nor a second signature check.
//!
//! Entries are keyed by the token itself and made only after the token
//! passed every check, so a hit is as good as a check. The promise the cache
//! keeps: a token revoked on this instance (logout, "log out everywhere") is
//! dropped at once; a token revoked on another instance or by the
//! operator's command is refused here within `ttl` (default 500 ms, at most
//! 1 s) of the revocation.
//!
//! On PostgreSQL a revocation channel (see `revocation_channel`) hears every
//! revocation as it commits and drops the tokens it names here. While that
//! channel is known to be up, an entry is trusted for `pushed_ttl` instead:
//! nothing it could miss is left. "Known to be up" means heard from within
//! [`CHANNEL_GRACE`], on the same connection that was listening when the
//! entry's check began; a channel that goes quiet or reconnects vouches for
//! nothing older, and the short `ttl` applies again by itself.
//!
//! A check that was under way while a token was revoked must not put it
//! back: every revocation moves a generation on, and an entry is only made
//! when the generation is still the one read before the check began.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::auth::token::{Claims, is_expired};
use crate::models::User;

/// At most this many tokens are cached; past it the cache starts over, so
/// memory stays bounded whatever the traffic.
const MAX_ENTRIES: usize = 10_000;

/// How long after the channel was last heard from it still vouches for
/// entries. The channel reports every [`HEARTBEAT`]; a revocation made
/// while it is silently gone is honoured within this grace or `ttl`,
/// whichever is longer: inside the one-second promise.
pub const CHANNEL_GRACE: Duration = Duration::from_millis(400);

/// How often the channel proves it is up.
pub const HEARTBEAT: Duration = Duration::from_millis(100);

pub struct AuthCache {
    /// How long an entry is trusted when no channel vouches for it.
    ttl: Duration,
    /// How long an entry is trusted while the channel vouches for it.
    pushed_ttl: Duration,
    entries: Mutex<HashMap<String, Entry, TailHash>>,
    /// Moved on, under the lock, by every revocation.
    generation: AtomicU64,
    channel: Channel,
}

/// How many bytes at the end of a key are hashed.
const HASHED_TAIL: usize = 32;

/// Hashes a key by its last [`HASHED_TAIL`] bytes only: a token's
/// signature, or the hex digest of a refresh credential, both random to
/// anyone without the secret, so keys spread as well as when hashed whole,
/// for a tenth of the work on a 300-byte token. Keys still compare whole,
/// and only tokens the server signed are ever stored.
#[derive(Clone, Default)]
struct TailHash(RandomState);

impl BuildHasher for TailHash {
    type Hasher = TailHasher;

    fn build_hasher(&self) -> TailHasher {
        TailHasher(self.0.build_hasher())
    }
}

struct TailHasher(std::hash::DefaultHasher);

impl Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0
            .write(&bytes[bytes.len().saturating_sub(HASHED_TAIL)..]);
    }

    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

/// A token that passed every check, with its user.
#[derive(Clone)]
pub struct Entry {
    pub user: Arc<User>,
    pub claims: Arc<Claims>,
    checked: Instant,
    /// When the token's session ends however it is used, in Unix
    /// milliseconds: no entry outlives it.
    session_ends_ms: i64,
    /// The channel connection listening when the check began; 0: none.
    epoch: u64,
}

/// Read before a check begins; hand it to [`AuthCache::insert`].
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    generation: u64,
    epoch: u64,
}

/// What is known of the revocation channel.
struct Channel {
    base: Instant,
    /// Moves on when a connection starts listening and when it is lost;
    /// odd while one listens.
    epoch: AtomicU64,
    /// Milliseconds after `base` (plus one) up to which every revocation
    /// committed has been heard; 0: not now.
    heard: AtomicU64,
}

/// What a revocation names, as the channel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// One token, by its `jti`.
    Token(String),
    /// Every token of a session.
    Session(String),
    /// Every token of a user (signed out everywhere, changed, disabled, deleted).
    User(i32),
    /// Anything: what cannot be read drops every entry.
    Everything,
}

impl Revoked {
    /// Reads a notification's payload: `t:JTI`, `s:SESSION` or `u:USER_ID`.
    pub fn parse(payload: &str) -> Self {
        match payload.split_once(':') {
            Some(("t", jti)) => Self::Token(jti.to_owned()),
            Some(("s", sid)) => Self::Session(sid.to_owned()),
            Some(("u", id)) => id.parse().map_or(Self::Everything, Self::User),
            _ => Self::Everything,
        }
    }

    fn names(&self, entry: &Entry) -> bool {
        match self {
            Self::Token(jti) => entry.claims.jti == *jti,
            Self::Session(sid) => entry.claims.sid == *sid,
            Self::User(id) => entry.user.id == *id,
            Self::Everything => true,
        }
    }
}

impl AuthCache {
    /// A zero `ttl` turns the cache off. `pushed_ttl` applies only while a
    /// revocation channel reports; it is never shorter than `ttl`.
    pub fn new(ttl: Duration, pushed_ttl: Duration) -> Self {
        Self {
            ttl,
            pushed_ttl: if ttl.is_zero() {
                Duration::ZERO
            } else {
                pushed_ttl.max(ttl)
            },
            entries: Mutex::new(HashMap::with_hasher(TailHash::default())),
            generation: AtomicU64::new(0),
            channel: Channel {
                base: Instant::now(),
                epoch: AtomicU64::new(0),
                heard: AtomicU64::new(0),
            },
        }
    }

    /// Read before checking a token; hand it to [`AuthCache::insert`].
    pub fn ticket(&self) -> Ticket {
        Ticket {
            generation: self.generation.load(Ordering::SeqCst),
            epoch: self.channel.epoch.load(Ordering::SeqCst),
        }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<String, Entry, TailHash>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The user and claims of `token` if it passed every check recently
    /// enough and has not expired since (`now_ms` in Unix milliseconds).
    pub fn get(&self, token: &str, now_ms: i64) -> Option<Entry> {
        let now = Instant::now();
        let entries = self.entries();
        let entry = entries.get(token)?;
        let trusted_for = match self.channel.vouches_for(entry.epoch, now) {
            true => self.pushed_ttl,
            false => self.ttl,
        };
        let fresh = now.saturating_duration_since(entry.checked) < trusted_for
            && now_ms < entry.session_ends_ms;
        (fresh && !is_expired(entry.claims.exp, now_ms)).then(|| entry.clone())
    }

    /// Remembers that `token`, whose session ends at `session_ends` (Unix
    /// seconds), passed a check that began with `ticket`, unless a
    /// revocation happened since.
    pub fn insert(
        &self,
        token: &str,
        user: Arc<User>,
        claims: Arc<Claims>,
        session_ends: i64,
        ticket: Ticket,
    ) {
        if self.ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut entries = self.entries();
        if self.generation.load(Ordering::SeqCst) != ticket.generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            // No entry lives longer than `pushed_ttl` (never below `ttl`).
            let longest = self.pushed_ttl;
            entries.retain(|_, entry| now.saturating_duration_since(entry.checked) < longest);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            token.to_owned(),
            Entry {
                user,
                claims,
                checked: now,
                session_ends_ms: session_ends.saturating_mul(1000),
                epoch: ticket.epoch,
            },
        );
    }

    /// Drops every token the revocations name, in one pass.
    pub fn forget(&self, revoked: &[Revoked]) {
        if revoked.is_empty() {
            return;
        }
        let mut entries = self.entries();
        if revoked.contains(&Revoked::Everything) {
            entries.clear();
        } else {
            entries.retain(|_, entry| !revoked.iter().any(|r| r.names(entry)));
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Drops one token (it was just logged out).
    pub fn forget_token(&self, jti: &str) {
        self.forget(&[Revoked::Token(jti.to_owned())]);
    }

    /// Drops every token of a session (it ended).
    pub fn forget_session(&self, sid: &str) {
        self.forget(&[Revoked::Session(sid.to_owned())]);
    }

    /// Drops every token of a user (logged out everywhere, changed).
    pub fn forget_user(&self, user_id: i32) {
        self.forget(&[Revoked::User(user_id)]);
    }

    /// A channel connection now listens: checks that begin from here on
    /// may be vouched for by it.
    /// (One thread, the channel's, moves the epoch.)
    pub fn channel_listening(&self) {
        let epoch = self.channel.epoch.load(Ordering::SeqCst);
        let next = if epoch.is_multiple_of(2) {
            epoch + 1
        } else {
            epoch + 2
        };
        self.channel.epoch.store(next, Ordering::SeqCst);
        self.channel_heard(Instant::now());
    }

    /// Every revocation committed before `at` has been heard.
    pub fn channel_heard(&self, at: Instant) {
        let ms = at.saturating_duration_since(self.channel.base).as_millis() as u64 + 1;
        self.channel.heard.store(ms, Ordering::SeqCst);
    }

    /// The channel connection is gone: it vouches for nothing any more.
    pub fn channel_lost(&self) {
        self.channel.heard.store(0, Ordering::SeqCst);
        let epoch = self.channel.epoch.load(Ordering::SeqCst);
        if !epoch.is_multiple_of(2) {
            self.channel.epoch.store(epoch + 1, Ordering::SeqCst);
        }
    }

    /// Whether a channel vouches for fresh entries right now.
    pub fn channel_up(&self) -> bool {
        self.channel
            .vouches_for(self.channel.epoch.load(Ordering::SeqCst), Instant::now())
    }
}

impl Channel {
    fn vouches_for(&self, epoch: u64, now: Instant) -> bool {
        if epoch.is_multiple_of(2) || self.epoch.load(Ordering::SeqCst) != epoch {
            return false;
        }
        let heard = self.heard.load(Ordering::SeqCst);
        let now_ms = now.saturating_duration_since(self.base).as_millis() as u64 + 1;
        heard != 0 && now_ms.saturating_sub(heard) <= CHANNEL_GRACE.as_millis() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;
    const NOW_MS: i64 = NOW * 1000;
    /// A session end far off.
    const FAR: i64 = NOW + 3600;

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

    fn short(ttl_ms: u64) -> AuthCache {
        AuthCache::new(Duration::from_millis(ttl_ms), Duration::ZERO)
    }

    #[test]
    fn an_entry_lives_for_the_ttl_only() {
        let cache = short(30);
        cache.insert("t", user(1), claims("a", NOW + 60), FAR, cache.ticket());
        assert_eq!(cache.get("t", NOW_MS).map(|e| e.user.id), Some(1));
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get("t", NOW_MS).is_none());
    }

    #[test]
    fn keys_with_the_same_tail_stay_apart() {
        let cache = short(60_000);
        let tail = "s".repeat(HASHED_TAIL);
        let (first, second) = (format!("header.one.{tail}"), format!("header.two.{tail}"));
        cache.insert(&first, user(1), claims("a", NOW + 60), FAR, cache.ticket());
        cache.insert(&second, user(2), claims("b", NOW + 60), FAR, cache.ticket());
        assert_eq!(cache.get(&first, NOW_MS).map(|e| e.user.id), Some(1));
        assert_eq!(cache.get(&second, NOW_MS).map(|e| e.user.id), Some(2));
        assert!(cache.get(&format!("header.three.{tail}"), NOW_MS).is_none());
        assert!(cache.get(&tail, NOW_MS).is_none());
    }

    #[test]
    fn an_expired_token_is_not_served_from_the_cache() {
        let cache = short(60_000);
        cache.insert("t", user(1), claims("a", NOW), FAR, cache.ticket());
        assert!(cache.get("t", NOW_MS + 5000).is_some());
        assert!(cache.get("t", NOW_MS + 5001).is_none());
    }

    #[test]
    fn forgetting_works_by_token_id_session_and_user() {
        let cache = short(60_000);
        cache.insert("t1", user(1), claims("a", NOW + 60), FAR, cache.ticket());
        cache.insert("t2", user(1), claims("b", NOW + 60), FAR, cache.ticket());
        cache.insert("t3", user(2), claims("c", NOW + 60), FAR, cache.ticket());
        cache.forget_token("c");
        assert!(cache.get("t3", NOW_MS).is_none());
        cache.insert("t4", user(2), claims("d", NOW + 60), FAR, cache.ticket());
        cache.forget_session("session-of-d");
        assert!(cache.get("t4", NOW_MS).is_none());
        cache.forget_user(1);
        assert!(cache.get("t1", NOW_MS).is_none() && cache.get("t2", NOW_MS).is_none());
    }

    #[test]
    fn one_pass_forgets_a_batch_and_garbage_forgets_everything() {
        let cache = short(60_000);
        for (token, id, jti) in [("t1", 1, "a"), ("t2", 2, "b"), ("t3", 3, "c")] {
            cache.insert(token, user(id), claims(jti, NOW + 60), FAR, cache.ticket());
        }
        cache.forget(&[Revoked::parse("u:1"), Revoked::parse("t:b")]);
        assert!(cache.get("t1", NOW_MS).is_none() && cache.get("t2", NOW_MS).is_none());
        assert!(cache.get("t3", NOW_MS).is_some());
        assert_eq!(Revoked::parse("u:x"), Revoked::Everything);
        assert_eq!(Revoked::parse("nonsense"), Revoked::Everything);
        cache.forget(&[Revoked::parse("?")]);
        assert!(cache.get("t3", NOW_MS).is_none());
    }

    #[test]
    fn no_entry_outlives_its_session() {
        let cache = short(60_000);
        cache.insert("t", user(1), claims("a", NOW + 60), NOW + 2, cache.ticket());
        assert!(cache.get("t", NOW_MS + 1999).is_some());
        assert!(cache.get("t", NOW_MS + 2000).is_none());
    }

    #[test]
    fn a_check_under_way_during_a_revocation_does_not_put_the_token_back() {
        let cache = short(60_000);
        let before = cache.ticket();
        cache.forget_token("a");
        cache.insert("t", user(1), claims("a", NOW + 60), FAR, before);
        assert!(cache.get("t", NOW_MS).is_none());
        cache.insert("t", user(1), claims("a", NOW + 60), FAR, cache.ticket());
        assert!(cache.get("t", NOW_MS).is_some());
    }

    /// A cache trusting entries 30 ms alone and 10 s while a channel reports.
    fn pushed() -> AuthCache {
        AuthCache::new(Duration::from_millis(30), Duration::from_secs(10))
    }

    #[test]
    fn a_listening_channel_keeps_entries_for_the_pushed_ttl() {
        let cache = pushed();
        cache.channel_listening();
        cache.insert("t", user(1), claims("a", NOW + 60), FAR, cache.ticket());
        std::thread::sleep(Duration::from_millis(50));
        cache.channel_heard(Instant::now());
        assert!(cache.get("t", NOW_MS).is_some(), "vouched for");
        cache.forget_user(1);
        assert!(
            cache.get("t", NOW_MS).is_none(),
            "a pushed revocation drops it"
        );
    }

    #[test]
    fn a_silent_channel_vouches_for_nothing_after_the_grace() {
        let cache = pushed();
        cache.channel_listening();
        cache.insert("t", user(1), claims("a", NOW + 60), FAR, cache.ticket());
        assert!(cache.channel_up());
        std::thread::sleep(CHANNEL_GRACE + Duration::from_millis(20));
        assert!(!cache.channel_up());
        assert!(cache.get("t", NOW_MS).is_none(), "back to the short ttl");
    }

    #[test]
    fn a_lost_or_replaced_connection_vouches_for_nothing_checked_before() {
        let cache = pushed();
        cache.channel_listening();
        cache.insert("t", user(1), claims("a", NOW + 60), FAR, cache.ticket());
        cache.channel_lost();
        assert!(!cache.channel_up());
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get("t", NOW_MS).is_none());
        // Checked while nothing listened: never vouched for, even once a
        // new connection listens.
        cache.insert("u", user(2), claims("b", NOW + 60), FAR, cache.ticket());
        cache.channel_listening();
        std::thread::sleep(Duration::from_millis(40));
        cache.channel_heard(Instant::now());
        assert!(cache.channel_up());
        assert!(cache.get("u", NOW_MS).is_none());
        // A check begun under the old connection, finished under the new.
        let begun = cache.ticket();
        cache.channel_listening();
        cache.insert("v", user(3), claims("c", NOW + 60), FAR, begun);
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get("v", NOW_MS).is_none());
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let cache = AuthCache::new(Duration::ZERO, Duration::from_secs(60));
        cache.channel_listening();
        cache.insert("t", user(1), claims("a", NOW + 60), FAR, cache.ticket());
        assert!(cache.get("t", NOW_MS).is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = short(60_000);
        for n in 0..(MAX_ENTRIES + 10) {
            cache.insert(
                &n.to_string(),
                user(1),
                claims("a", NOW + 60),
                FAR,
                cache.ticket(),
            );
        }
        assert!(cache.entries().len() <= MAX_ENTRIES);
    }
}
