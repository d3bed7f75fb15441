//! Links sent by email, one mechanism for every purpose: a token of 190
//! random bits (32 letters and digits) in the link, only its SHA-256 in the database, a lifetime
//! per row, single use, and the newest link of a purpose the only one of
//! it that works.

use rand::distr::{Alphanumeric, SampleString};

use crate::db::AnyConnection;
use crate::models::link_token::{self, LinkToken, NewLinkToken};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Confirms the address the account has.
    ConfirmAddress,
    ResetPassword,
    /// Confirms the address the account asked to change to.
    ConfirmNewAddress,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConfirmAddress => "confirm-address",
            Self::ResetPassword => "reset-password",
            Self::ConfirmNewAddress => "confirm-new-address",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        [
            Self::ConfirmAddress,
            Self::ResetPassword,
            Self::ConfirmNewAddress,
        ]
        .into_iter()
        .find(|p| p.as_str() == raw)
    }

    /// The path a link of this purpose opens.
    pub fn path(self, token: &str) -> String {
        match self {
            Self::ResetPassword => format!("/password/reset/{token}"),
            Self::ConfirmAddress | Self::ConfirmNewAddress => format!("/verify-email/{token}"),
        }
    }
}

/// What a password change or reset makes void: a reset link and a pending
/// change of address could both be an intruder's.
pub const VOID_ON_PASSWORD_CHANGE: [Purpose; 2] =
    [Purpose::ResetPassword, Purpose::ConfirmNewAddress];

/// A live link as found by its token.
#[derive(Debug, Clone)]
pub struct Link {
    pub purpose: Purpose,
    pub user_id: i32,
    pub new_email: Option<String>,
    token_hash: String,
}

use crate::auth::sessions::sha256_hex as hash;

/// A new link token for `user_id`, valid `ttl_secs` from `now`; the
/// user's older links of the purpose stop working. Returns the token,
/// which exists from here on only in the email.
pub fn issue(
    conn: &mut AnyConnection,
    user_id: i32,
    purpose: Purpose,
    new_email: Option<&str>,
    ttl_secs: i64,
    now: i64,
) -> diesel::QueryResult<String> {
    // 32 alphanumerics: 190 bits, and a link short enough for one mail line.
    let token = Alphanumeric.sample_string(&mut rand::rng(), 32);
    link_token::delete_of(conn, user_id, &[purpose.as_str()])?;
    link_token::insert(
        conn,
        &NewLinkToken {
            token_hash: &hash(&token),
            user_id,
            purpose: purpose.as_str(),
            new_email,
            created_at: now,
            expires_at: now.saturating_add(ttl_secs),
        },
    )?;
    Ok(token)
}

/// The live link with this token, if it is one of `purposes`. A token too
/// long or short to be one is looked up all the same: it finds nothing.
pub fn find(
    conn: &mut AnyConnection,
    token: &str,
    purposes: &[Purpose],
    now: i64,
) -> diesel::QueryResult<Option<Link>> {
    let found = link_token::find_live(conn, &hash(token), now)?;
    Ok(found.and_then(|row: LinkToken| {
        let purpose = Purpose::parse(&row.purpose).filter(|p| purposes.contains(p))?;
        Some(Link {
            purpose,
            user_id: row.user_id,
            new_email: row.new_email,
            token_hash: row.token_hash,
        })
    }))
}

/// Uses the link up; `false` when another request did first.
pub fn consume(conn: &mut AnyConnection, link: &Link) -> diesel::QueryResult<bool> {
    link_token::delete(conn, &link.token_hash)
}

/// Voids the user's links of these purposes.
pub fn void(
    conn: &mut AnyConnection,
    user_id: i32,
    purposes: &[Purpose],
) -> diesel::QueryResult<()> {
    let names: Vec<&str> = purposes.iter().map(|p| p.as_str()).collect();
    link_token::delete_of(conn, user_id, &names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_round_trip_and_open_their_pages() {
        for purpose in [
            Purpose::ConfirmAddress,
            Purpose::ResetPassword,
            Purpose::ConfirmNewAddress,
        ] {
            assert_eq!(Purpose::parse(purpose.as_str()), Some(purpose));
        }
        assert_eq!(Purpose::ResetPassword.path("t"), "/password/reset/t");
        assert_eq!(Purpose::ConfirmNewAddress.path("t"), "/verify-email/t");
        assert_eq!(Purpose::parse("other"), None);
    }

    #[test]
    fn only_the_hash_is_kept() {
        let stored = hash("secret-token");
        assert_eq!(stored.len(), 64);
        assert!(!stored.contains("secret-token"));
    }
}
