//! Two-factor codes: RFC 6238 TOTP (SHA-1, 6 digits, 30 s) with the step
//! before and after accepted and each step used once, recovery codes, and
//! the secret encrypted at rest under a key derived from the server secret.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::distr::{Alphanumeric, SampleString};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

/// 160 bits, as RFC 4226 recommends.
const SECRET_BYTES: usize = 20;
const STEP_SECS: u64 = 30;
const DIGITS: usize = 6;
pub const RECOVERY_CODES: usize = 10;
const ISSUER: &str = "gatehouse";

/// A TOTP secret in the clear; only ever held while in use.
#[derive(Clone)]
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    pub fn generate() -> Self {
        let mut bytes = vec![0; SECRET_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    fn totp(&self, account: &str) -> TOTP {
        TOTP::new_unchecked(
            Algorithm::SHA1,
            DIGITS,
            1,
            STEP_SECS,
            self.0.clone(),
            Some(ISSUER.to_owned()),
            account.to_owned(),
        )
    }

    /// The secret from its base32 text (as [`TotpSecret::base32`] gave it).
    pub fn from_base32(text: &str) -> Option<Self> {
        totp_rs::Secret::Encoded(text.to_owned())
            .to_bytes()
            .ok()
            .filter(|bytes| bytes.len() == SECRET_BYTES)
            .map(Self)
    }

    /// The set-up QR code of [`TotpSecret::uri`] as an SVG element, dark
    /// on light whatever the page's colours (scanners need that).
    pub fn qr_svg(&self, email: &str) -> String {
        match qrcode::QrCode::new(self.uri(email).as_bytes()) {
            Ok(code) => {
                let svg = code
                    .render::<qrcode::render::svg::Color<'_>>()
                    .min_dimensions(200, 200)
                    .dark_color(qrcode::render::svg::Color("#000000"))
                    .light_color(qrcode::render::svg::Color("#ffffff"))
                    .build();
                // The XML declaration has no place inside HTML.
                match svg.find("<svg") {
                    Some(start) => svg[start..].to_owned(),
                    None => svg,
                }
            }
            Err(_) => String::new(),
        }
    }

    /// The secret as base32 without padding, as authenticator apps take it.
    pub fn base32(&self) -> String {
        self.totp("").get_secret_base32()
    }

    /// The base32 text in groups of four, for typing in by hand.
    pub fn grouped(&self) -> String {
        let plain = self.base32();
        plain
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `otpauth://totp/gatehouse:EMAIL?secret=…&issuer=gatehouse`.
    pub fn uri(&self, email: &str) -> String {
        self.totp(email).get_url()
    }

    /// The 30 s step whose code `code` is, among the one of `now` and its
    /// neighbours, compared in constant time; `None` for no match.
    pub fn matching_step(&self, code: &str, now: u64) -> Option<u64> {
        let code = code.trim();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let totp = self.totp("");
        let current = now / STEP_SECS;
        let mut found = None;
        for step in [current.saturating_sub(1), current, current + 1] {
            let expected = totp.generate(step * STEP_SECS);
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
                found = Some(step);
            }
        }
        found
    }
}

/// Encrypts secrets for the database and back, with ChaCha20-Poly1305
/// under a key derived from the server secret.
#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
    /// Keys the hashes of recovery codes: a dump of the database alone
    /// cannot test guesses against them.
    code_key: [u8; 32],
}

impl SecretBox {
    pub fn new(server_secret: &[u8]) -> Self {
        let derive = |label: &[u8]| -> [u8; 32] {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(server_secret)
                .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
            mac.update(label);
            mac.finalize().into_bytes().into()
        };
        Self {
            cipher: ChaCha20Poly1305::new(&Key::from(derive(
                b"gatehouse two-factor secret key v1",
            ))),
            code_key: derive(b"gatehouse recovery code key v1"),
        }
    }

    /// The stored form of a recovery code: HMAC-SHA-256 (under a key from
    /// the server secret) of it as typed without spaces or dashes,
    /// lower-cased.
    pub fn recovery_hash(&self, code: &str) -> String {
        let normalized: String = code
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.code_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(normalized.as_bytes());
        format!("{:x}", mac.finalize().into_bytes())
    }

    /// `base64(nonce || ciphertext)`; the user id is bound in as
    /// associated data, so a row copied to another account does not open.
    pub fn seal(&self, secret: &TotpSecret, user_id: i32) -> String {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                chacha20poly1305::aead::Payload {
                    msg: &secret.0,
                    aad: &user_id.to_be_bytes(),
                },
            )
            .unwrap_or_else(|_| unreachable!("encryption of a short message"));
        let mut out = nonce.to_vec();
        out.extend(sealed);
        STANDARD.encode(out)
    }

    /// `None` for anything this key did not seal for this user.
    pub fn open(&self, sealed: &str, user_id: i32) -> Option<TotpSecret> {
        let bytes = STANDARD.decode(sealed).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                chacha20poly1305::aead::Payload {
                    msg: ciphertext,
                    aad: &user_id.to_be_bytes(),
                },
            )
            .ok()
            .map(TotpSecret)
    }
}

/// Ten fresh recovery codes, `xxxxx-xxxxx` of lower-case letters and
/// digits (about 51 bits each).
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let raw = Alphanumeric
                .sample_string(&mut rand::rng(), 10)
                .to_lowercase();
            format!("{}-{}", &raw[..5], &raw[5..])
        })
        .collect()
}

/// Whether `code` looks like a recovery code rather than a TOTP code.
pub fn is_recovery_code(code: &str) -> bool {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).count() == 10
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server secret made for the test, never a fixed one.
    fn server_secret() -> Vec<u8> {
        Alphanumeric
            .sample_string(&mut rand::rng(), 40)
            .into_bytes()
    }

    #[test]
    fn rfc_6238_sha1_vectors_are_met() {
        // RFC 6238 appendix B: the ASCII secret "12345678901234567890",
        // 8 digits there; the last six are what a 6-digit code is.
        let secret = TotpSecret(b"12345678901234567890".to_vec());
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(secret.matching_step(code, time), Some(time / 30), "{time}");
        }
    }

    #[test]
    fn the_neighbouring_steps_match_and_no_other() {
        let secret = TotpSecret::generate();
        let totp = secret.totp("");
        let now = 1_000_000_020;
        let step = now / 30;
        assert_eq!(
            secret.matching_step(&totp.generate((step - 1) * 30), now),
            Some(step - 1)
        );
        assert_eq!(
            secret.matching_step(&totp.generate((step + 1) * 30), now),
            Some(step + 1)
        );
        assert_eq!(
            secret.matching_step(&totp.generate((step + 2) * 30), now),
            None
        );
        assert_eq!(secret.matching_step("12345", now), None);
        assert_eq!(secret.matching_step("abcdef", now), None);
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_user_and_key() {
        let secret = TotpSecret::generate();
        let sealer = SecretBox::new(&server_secret());
        let sealed = sealer.seal(&secret, 7);
        assert!(!sealed.contains(&secret.base32()));
        assert_eq!(sealer.open(&sealed, 7).map(|s| s.0), Some(secret.0.clone()));
        assert!(sealer.open(&sealed, 8).is_none());
        assert!(SecretBox::new(&server_secret()).open(&sealed, 7).is_none());
        assert!(sealer.open("garbage", 7).is_none());
    }

    #[test]
    fn recovery_codes_are_distinct_and_hashed_as_typed() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
        assert!(is_recovery_code(&codes[0]));
        assert!(!is_recovery_code("123456"));
        let sealer = SecretBox::new(&server_secret());
        assert_eq!(
            sealer.recovery_hash("ABCDE-fghij"),
            sealer.recovery_hash(" abcdefghij ")
        );
        let other = SecretBox::new(&server_secret());
        assert_ne!(
            sealer.recovery_hash(&codes[0]),
            other.recovery_hash(&codes[0])
        );
    }

    #[test]
    fn the_uri_names_the_issuer_and_the_account() {
        let secret = TotpSecret::generate();
        let uri = secret.uri("alice@example.com");
        assert!(
            uri.starts_with("otpauth://totp/gatehouse:alice%40example.com?secret="),
            "{uri}"
        );
        assert!(uri.ends_with("&issuer=gatehouse"), "{uri}");
        assert_eq!(secret.grouped().replace(' ', ""), secret.base32());
    }
}
