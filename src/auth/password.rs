//! bcrypt hashing. Every method here is slow on purpose and must run on a
//! blocking thread, never on an async worker.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::domain::Password;
use crate::domain::password::MAX_PASSWORD_BYTES;

pub struct PasswordHasher {
    cost: u32,
    /// The hash of a random password, verified against when the account is
    /// unknown; made on first use, off the start-up path.
    dummy: OnceLock<String>,
    verifications: AtomicU64,
}

impl PasswordHasher {
    pub fn new(cost: u32) -> Self {
        Self {
            cost,
            dummy: OnceLock::new(),
            verifications: AtomicU64::new(0),
        }
    }

    /// Hashes a password that passed [`Password::parse`] (at most 72 bytes,
    /// so bcrypt reads all of it).
    pub fn hash_password(&self, password: &Password) -> Result<String, bcrypt::BcryptError> {
        bcrypt::hash(password.expose(), self.cost)
    }

    /// Checks a password against a stored hash. Without a hash (unknown
    /// account) or with a password bcrypt would cut, it still spends one
    /// verification, so timing does not tell which emails exist.
    pub fn verify_password(&self, password: &Password, stored_hash: Option<&str>) -> bool {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let fits = password.expose().len() <= MAX_PASSWORD_BYTES;
        match stored_hash {
            Some(hash) if fits => bcrypt::verify(password.expose(), hash).unwrap_or(false),
            _ => {
                let _ = bcrypt::verify(password.expose(), self.dummy_hash());
                false
            }
        }
    }

    /// Whether a stored hash was made at another cost than the configured one.
    pub fn needs_rehash(&self, stored_hash: &str) -> bool {
        stored_hash
            .split('$')
            .nth(2)
            .and_then(|cost| cost.parse::<u32>().ok())
            .is_some_and(|cost| cost != self.cost)
    }

    /// How many verifications ran, dummy ones included.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    fn dummy_hash(&self) -> &str {
        self.dummy.get_or_init(|| {
            let random = uuid::Uuid::new_v4().simple().to_string();
            bcrypt::hash(random, self.cost).unwrap_or_default()
        })
    }
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
        assert!(hasher.dummy.get().is_some_and(|h| h.starts_with("$2b$04$")));
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
    fn a_longer_password_sharing_the_first_72_bytes_is_refused() {
        let hasher = PasswordHasher::new(4);
        let base = "a".repeat(72);
        let hash = hasher.hash_password(&password(&base)).expect("hash");
        assert!(hasher.verify_password(&Password::for_login(&base), Some(&hash)));
        assert!(!hasher.verify_password(&Password::for_login(&format!("{base}b")), Some(&hash)));
    }
}
