use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::models::User;
use crate::schema::{denylisted_tokens, sessions, spent_refresh_tokens, users};

/// A session as it is started.
#[derive(Insertable)]
#[diesel(table_name = sessions)]
pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: i32,
    pub created_at: i64,
    pub last_used_at: i64,
    pub idle_secs: i64,
    pub expires_at: i64,
    pub remembered: bool,
    pub client_ip: &'a str,
    pub user_agent: &'a str,
    pub refresh_hash: &'a str,
}

/// A live session, as its owner sees it listed.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub remembered: bool,
    pub client_ip: String,
    pub user_agent: String,
}

/// Why a session ended, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    LoggedOut,
    EndedByUser,
    LoggedOutEverywhere,
    EndedByOperator,
    /// A spent refresh credential came back: someone else holds it.
    RefreshReused,
    PasswordChanged,
    PasswordReset,
    /// Two-factor was turned on or off, or a recovery code was used.
    TwoFactorChanged,
    AccountDisabled,
}

impl EndReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::LoggedOut => "logged out",
            Self::EndedByUser => "ended by its user",
            Self::LoggedOutEverywhere => "logged out everywhere",
            Self::EndedByOperator => "ended by the operator",
            Self::RefreshReused => "a spent refresh token was used again",
            Self::PasswordChanged => "the password was changed",
            Self::PasswordReset => "the password was reset",
            Self::TwoFactorChanged => "two-factor authentication changed",
            Self::AccountDisabled => "the account was disabled",
        }
    }
}

pub fn insert(conn: &mut AnyConnection, new: &NewSession<'_>) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values(new)
        .execute(conn)
        .map(drop)
}

/// Live at `now`: not ended, not idle past its limit, not past its lifetime.
macro_rules! live_at {
    ($now:expr) => {
        sessions::ended_at
            .is_null()
            .and(sessions::expires_at.gt($now))
            .and((sessions::last_used_at + sessions::idle_secs).gt($now))
    };
}

/// The user of a token, when its session was last used and when it ends
/// whatever its use, in one query: `None` when the user is gone or
/// disabled, the token's `jti` is denylisted, or its session is not live.
pub fn find_user_of_live_session(
    conn: &mut AnyConnection,
    user_id: i32,
    session_id: &str,
    jti: &str,
    now: i64,
) -> QueryResult<Option<(User, i64, i64)>> {
    let denylisted = denylisted_tokens::table.find(jti);
    users::table
        .inner_join(sessions::table)
        .filter(users::id.eq(user_id))
        .filter(sessions::id.eq(session_id))
        .filter(live_at!(now))
        // Disabling ends every session; one a login racing with it started
        // lives no further either.
        .filter(users::disabled.eq(false))
        .filter(diesel::dsl::not(diesel::dsl::exists(denylisted)))
        .select((
            User::as_select(),
            sessions::last_used_at,
            sessions::expires_at,
        ))
        .first(conn)
        .optional()
}

/// The live session a refresh credential names, with its user.
pub struct ByRefresh {
    pub user: User,
    pub id: String,
    pub remembered: bool,
    pub last_used_at: i64,
    /// When the session ends however much it is used (Unix seconds).
    pub expires_at: i64,
}

/// The live session whose current refresh credential hashes to `hash`
/// (none of a disabled account).
pub fn find_live_by_refresh(
    conn: &mut AnyConnection,
    hash: &str,
    now: i64,
) -> QueryResult<Option<ByRefresh>> {
    let found: Option<(User, String, bool, i64, i64)> = users::table
        .inner_join(sessions::table)
        .filter(sessions::refresh_hash.eq(hash))
        .filter(live_at!(now))
        .filter(users::disabled.eq(false))
        .select((
            User::as_select(),
            sessions::id,
            sessions::remembered,
            sessions::last_used_at,
            sessions::expires_at,
        ))
        .first(conn)
        .optional()?;
    Ok(found.map(
        |(user, id, remembered, last_used_at, expires_at)| ByRefresh {
            user,
            id,
            remembered,
            last_used_at,
            expires_at,
        },
    ))
}

/// Replaces the session's refresh credential, keeping the old one's hash
/// as spent, and records the use.
pub fn rotate(
    conn: &mut AnyConnection,
    session_id: &str,
    old_hash: &str,
    new_hash: &str,
    now: i64,
) -> QueryResult<()> {
    diesel::insert_into(spent_refresh_tokens::table)
        .values((
            spent_refresh_tokens::refresh_hash.eq(old_hash),
            spent_refresh_tokens::session_id.eq(session_id),
        ))
        .execute(conn)?;
    diesel::update(sessions::table.find(session_id))
        .set((
            sessions::refresh_hash.eq(new_hash),
            sessions::last_used_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// The session (and its user) a spent refresh credential belonged to.
pub fn spent_by(conn: &mut AnyConnection, hash: &str) -> QueryResult<Option<(String, i32)>> {
    spent_refresh_tokens::table
        .inner_join(sessions::table)
        .filter(spent_refresh_tokens::refresh_hash.eq(hash))
        .select((sessions::id, sessions::user_id))
        .first(conn)
        .optional()
}

/// Records that the session was used at `now`.
pub fn touch(conn: &mut AnyConnection, session_id: &str, now: i64) -> QueryResult<()> {
    diesel::update(sessions::table.find(session_id))
        .set(sessions::last_used_at.eq(now))
        .execute(conn)
        .map(drop)
}

/// Ends one session of the user; `false` when it is not theirs or not live.
pub fn end(
    conn: &mut AnyConnection,
    user_id: i32,
    session_id: &str,
    reason: EndReason,
    now: i64,
) -> QueryResult<bool> {
    let ended = diesel::update(
        sessions::table
            .find(session_id)
            .filter(sessions::user_id.eq(user_id))
            .filter(live_at!(now)),
    )
    .set((
        sessions::ended_at.eq(now),
        sessions::end_reason.eq(reason.as_str()),
    ))
    .execute(conn)?;
    Ok(ended > 0)
}

/// Ends every live session of the user but `keep`; returns how many ended.
pub fn end_all(
    conn: &mut AnyConnection,
    user_id: i32,
    keep: Option<&str>,
    reason: EndReason,
    now: i64,
) -> QueryResult<usize> {
    let of_user = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::ended_at.is_null())
        .filter(sessions::id.ne(keep.unwrap_or("")));
    diesel::update(of_user)
        .set((
            sessions::ended_at.eq(now),
            sessions::end_reason.eq(reason.as_str()),
        ))
        .execute(conn)
}

/// The user's live sessions, most recently used first.
pub fn list_live(conn: &mut AnyConnection, user_id: i32, now: i64) -> QueryResult<Vec<Session>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(live_at!(now))
        .order((sessions::last_used_at.desc(), sessions::created_at.desc()))
        .select(Session::as_select())
        .load(conn)
}

/// Deletes sessions that have ended, by any cause. Two statements, so that
/// SQLite reads each through its index (`purge_indexes`) instead of
/// scanning every session.
pub fn purge_ended(conn: &mut AnyConnection, now: i64) -> QueryResult<usize> {
    let ended =
        diesel::delete(sessions::table.filter(sessions::ended_at.is_not_null())).execute(conn)?;
    let lapsed = diesel::delete(
        sessions::table.filter(
            sessions::expires_at
                .le(now)
                .or((sessions::last_used_at + sessions::idle_secs).le(now)),
        ),
    )
    .execute(conn)?;
    Ok(ended + lapsed)
}
