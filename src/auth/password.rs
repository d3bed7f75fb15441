//! bcrypt hashing. Every method here is slow on purpose and must run on a
//! blocking thread, never on an async worker.

use std::sync::OnceLock;

use crate::domain::Password;
use crate::domain::password::MAX_PASSWORD_BYTES;

pub struct PasswordHasher {
    cost: u32,
    /// The hash of a random password, verified against when the account is
    /// unknown; made on first use, off the start-up path.
    dummy: OnceLock<String>,
}

impl PasswordHasher {
    pub fn new(cost: u32) -> Self {
        Self {
            cost,
            dummy: OnceLock::new(),
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
        let fits = password.expose().len() <= MAX_PASSWORD_BYTES;
        match stored_hash {
            Some(hash) if fits => bcrypt::verify(password.expose(), hash).unwrap_or(false),
            _ => {
                let _ = bcrypt::verify(password.expose(), self.dummy_hash());
                false
            }
        }
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
    fn a_longer_password_sharing_the_first_72_bytes_is_refused() {
        let hasher = PasswordHasher::new(4);
        let base = "a".repeat(72);
        let hash = hasher.hash_password(&password(&base)).expect("hash");
        assert!(hasher.verify_password(&Password::for_login(&base), Some(&hash)));
        assert!(!hasher.verify_password(&Password::for_login(&format!("{base}b")), Some(&hash)));
    }
}
