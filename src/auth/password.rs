//! bcrypt hashing. Every method here is slow on purpose and must run on a
//! blocking thread, never on an async worker.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::domain::Password;
use crate::domain::password::{MAX_PASSWORD_BYTES, has_control_characters};

pub struct PasswordHasher {
    cost: u32,
    /// The cost most stored hashes have, which the dummy hash is made at:
    /// after a change of the configured cost, an unknown email must take as
    /// long as the accounts nobody has logged into since.
    typical_cost: AtomicU32,
    /// The hash of a random password, verified against when the account is
    /// unknown; made on first use (and again when the typical cost moves),
    /// off the start-up path.
    dummy: Mutex<Option<Arc<Dummy>>>,
    verifications: AtomicU64,
    hashes: AtomicU64,
}

struct Dummy {
    cost: u32,
    hash: String,
}

impl PasswordHasher {
    pub fn new(cost: u32) -> Self {
        Self {
            cost,
            typical_cost: AtomicU32::new(cost),
            dummy: Mutex::new(None),
            verifications: AtomicU64::new(0),
            hashes: AtomicU64::new(0),
        }
    }

    /// Makes later dummy verifications take as long as a stored hash of
    /// `cost` (one the bcrypt crate can make: 4 to 31).
    pub fn set_typical_cost(&self, cost: u32) {
        if (4..=31).contains(&cost) {
            self.typical_cost.store(cost, Ordering::Relaxed);
        }
    }

    /// Hashes a password that passed [`Password::parse`] (at most 72 bytes,
    /// so bcrypt reads all of it).
    pub fn hash_password(&self, password: &Password) -> Result<String, bcrypt::BcryptError> {
        self.hashes.fetch_add(1, Ordering::Relaxed);
        bcrypt::hash(password.expose(), self.cost)
    }

    /// Checks a password against a stored hash. Without a hash (unknown
    /// account) or with a password no account can have (longer than bcrypt
    /// reads, or holding a control character bcrypt would cut at), it still
    /// spends one verification, so timing does not tell which emails exist.
    pub fn verify_password(&self, password: &Password, stored_hash: Option<&str>) -> bool {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let fits = password.expose().len() <= MAX_PASSWORD_BYTES
            && !has_control_characters(password.expose());
        match stored_hash {
            Some(hash) if fits => {
                log_verification(cost_of(hash));
                bcrypt::verify(password.expose(), hash).unwrap_or(false)
            }
            _ => {
                let dummy = self.dummy_hash();
                log_verification(Some(dummy.cost));
                let _ = bcrypt::verify(password.expose(), &dummy.hash);
                false
            }
        }
    }

    /// Whether a stored hash was made at another cost than the configured one.
    pub fn needs_rehash(&self, stored_hash: &str) -> bool {
        cost_of(stored_hash).is_some_and(|cost| cost != self.cost)
    }

    /// How many passwords were hashed.
    pub fn hashes(&self) -> u64 {
        self.hashes.load(Ordering::Relaxed)
    }

    /// How many verifications ran, dummy ones included.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    fn dummy_hash(&self) -> Arc<Dummy> {
        let cost = self.typical_cost.load(Ordering::Relaxed);
        // Held while a new dummy is made, so it is made once.
        let mut dummy = self.dummy.lock().unwrap_or_else(PoisonError::into_inner);
        match &*dummy {
            Some(made) if made.cost == cost => Arc::clone(made),
            _ => {
                let random = uuid::Uuid::new_v4().simple().to_string();
                let made = Arc::new(Dummy {
                    cost,
                    hash: bcrypt::hash(random, cost).unwrap_or_default(),
                });
                *dummy = Some(Arc::clone(&made));
                made
            }
        }
    }
}

/// The cost a bcrypt hash (`$2b$12$…`) was made at.
fn cost_of(hash: &str) -> Option<u32> {
    hash.split('$').nth(2)?.parse().ok()
}

/// One line per verification at debug level, for counting the work a burst
/// of logins caused and at which cost (`RUST_LOG=info,gatehouse::bcrypt=debug`).
fn log_verification(cost: Option<u32>) {
    tracing::debug!(target: "gatehouse::bcrypt", cost, "verifying a password");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(raw: &str) -> Password {
        Password::parse(raw).expect("valid password")
    }

    #[test]
    fn a_hash_verifies_its_own_password_only() {
        let hasher = PasswordHasher::new(4);
        let hash = hasher
            .hash_password(&password("correct horse"))
            .expect("hash");
        assert!(hash.starts_with("$2b$04$"));
        assert!(hasher.verify_password(&Password::for_login("correct horse"), Some(&hash)));
        assert!(!hasher.verify_password(&Password::for_login("correct horsE"), Some(&hash)));
    }

    #[test]
    fn an_unknown_account_never_verifies() {
        let hasher = PasswordHasher::new(4);
        assert!(!hasher.verify_password(&Password::for_login("anything at all"), None));
        assert!(hasher.dummy_hash().hash.starts_with("$2b$04$"));
    }

    #[test]
    fn the_dummy_hash_follows_the_typical_cost() {
        let hasher = PasswordHasher::new(5);
        assert!(hasher.dummy_hash().hash.starts_with("$2b$05$"));
        hasher.set_typical_cost(4);
        assert!(hasher.dummy_hash().hash.starts_with("$2b$04$"));
        hasher.set_typical_cost(99);
        assert!(hasher.dummy_hash().hash.starts_with("$2b$04$"));
    }

    #[test]
    fn a_hash_of_another_cost_needs_redoing() {
        let hash = PasswordHasher::new(4)
            .hash_password(&password("correct horse"))
            .expect("hash");
        assert!(!PasswordHasher::new(4).needs_rehash(&hash));
        assert!(PasswordHasher::new(5).needs_rehash(&hash));
    }

    #[test]
    fn every_verification_is_counted_dummy_ones_too() {
        let hasher = PasswordHasher::new(4);
        let hash = hasher
            .hash_password(&password("correct horse"))
            .expect("hash");
        hasher.verify_password(&Password::for_login("correct horse"), Some(&hash));
        hasher.verify_password(&Password::for_login("wrong horse"), None);
        hasher.verify_password(&Password::for_login(&"x".repeat(80)), Some(&hash));
        assert_eq!(hasher.verifications(), 3);
    }

    #[test]
    fn a_password_with_a_nul_never_verifies() {
        let hasher = PasswordHasher::new(4);
        let base = "a".repeat(71);
        let hash = hasher.hash_password(&password(&base)).expect("hash");
        assert!(hasher.verify_password(&Password::for_login(&base), Some(&hash)));
        // bcrypt stops at NUL: without the check, both would pass.
        assert!(!hasher.verify_password(&Password::for_login(&format!("{base}\0")), Some(&hash)));
    }

    #[test]
    fn a_longer_password_sharing_the_first_72_bytes_is_refused() {
        let hasher = PasswordHasher::new(4);
        let base = "a".repeat(72);
        let hash = hasher.hash_password(&password(&base)).expect("hash");
        assert!(hasher.verify_password(&Password::for_login(&base), Some(&hash)));
        assert!(!hasher.verify_password(&Password::for_login(&format!("{base}b")), Some(&hash)));
    }
}
