//! The operator's commands besides `serve`: they call the same accounts
//! service as the server.

use crate::auth::{Accounts, SessionInfo};
use crate::config::Settings;

/// One connection is all a command needs.
async fn open(settings: &Settings) -> anyhow::Result<Accounts> {
    Ok(Accounts::open(settings, 1).await?.0)
}

/// `gatehouse migrate`: applies pending migrations (opening does).
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    open(settings).await.map(drop)
}

/// `gatehouse purge-denylist`: returns how many denylist rows went.
pub async fn purge_denylist(settings: &Settings) -> anyhow::Result<usize> {
    Ok(open(settings).await?.purge_expired().await?)
}

/// `gatehouse user revoke-sessions EMAIL`: every token of the user stops
/// working; `false` when no user has that email.
pub async fn revoke_sessions(settings: &Settings, email: &str) -> anyhow::Result<bool> {
    Ok(open(settings).await?.revoke_sessions(email).await?)
}

/// `gatehouse user sessions EMAIL`: the user's live sessions; `None` when
/// no user has that email.
pub async fn sessions(
    settings: &Settings,
    email: &str,
) -> anyhow::Result<Option<Vec<SessionInfo>>> {
    let accounts = open(settings).await?;
    let Some(user) = accounts.find_user(email).await? else {
        return Ok(None);
    };
    Ok(Some(accounts.sessions_of(user.id).await?))
}

/// `gatehouse user reset-two-factor EMAIL`: `None` when no user has that
/// email, `Some(false)` when two-factor was off. The notice is queued; a
/// running server sends it.
pub async fn reset_two_factor(settings: &Settings, email: &str) -> anyhow::Result<Option<bool>> {
    Ok(open(settings).await?.reset_two_factor(email).await?)
}

/// `gatehouse user end-session EMAIL ID`: `Ok(false)` when the user has no
/// such live session (or there is no such user).
pub async fn end_session(settings: &Settings, email: &str, id: &str) -> anyhow::Result<bool> {
    let accounts = open(settings).await?;
    let Some(user) = accounts.find_user(email).await? else {
        return Ok(false);
    };
    Ok(accounts.end_session(user.id, id).await?)
}
