//! The operator's commands besides `serve`: they call the same accounts
//! service as the server.

use crate::auth::accounts::AccountSummary;
use crate::auth::activity::{self, Recorded};
use crate::auth::{Accounts, SessionInfo};
use std::path::Path;

use anyhow::Context;

use crate::auth::key_file;
use crate::config::{DatabaseUrl, Settings};

/// One connection is all a command needs.
async fn open(settings: &Settings) -> anyhow::Result<Accounts> {
    Ok(Accounts::open(settings, 1).await?.0)
}

/// `gatehouse migrate`: applies pending migrations (opening does).
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    open(settings).await.map(drop)
}

/// `gatehouse backup PATH`: a consistent copy of the SQLite database, and
/// of the key file that holds its generated secret (without it the copy's
/// sessions and two-factor secrets would be dead), made while the server
/// runs.
pub async fn backup(settings: &Settings, path: &Path) -> anyhow::Result<()> {
    let DatabaseUrl::Sqlite(database) = &settings.database_url else {
        anyhow::bail!(
            "gatehouse backup copies SQLite databases; back PostgreSQL up with pg_dump (see the README)"
        );
    };
    if settings.database_url.is_memory() {
        anyhow::bail!("an in-memory database has nothing to back up");
    }
    if path.exists() {
        anyhow::bail!("{} exists already; name a new file", path.display());
    }
    let accounts = open(settings).await?;
    accounts
        .back_up_sqlite(path.to_owned())
        .await
        .with_context(|| format!("copying the database to {}", path.display()))?;
    set_owner_only(path)?;
    let key = key_file::beside(database);
    if key.exists() {
        let copy = key_file::beside(&path.to_string_lossy());
        std::fs::copy(&key, &copy)
            .with_context(|| format!("copying the key file to {}", copy.display()))?;
        set_owner_only(&copy)?;
        tracing::info!(database = %path.display(), key = %copy.display(), "backed up");
    } else {
        tracing::info!(database = %path.display(), "backed up (the secret is configured, not in a key file)");
    }
    Ok(())
}

fn set_owner_only(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("making {} readable by its owner only", path.display()))
}

/// `gatehouse audit`: events of the last `since` (all kept ones when
/// `None`), of the user with `email` or of everyone; `None` when no user
/// has that email.
pub async fn audit(
    settings: &Settings,
    email: Option<&str>,
    since: Option<std::time::Duration>,
    each: impl FnMut(Vec<Recorded>),
) -> anyhow::Result<bool> {
    let since = since.map_or(i64::MAX, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Ok(open(settings).await?.audit(email, since, each).await?)
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

/// `gatehouse user delete EMAIL`: `false` when no user has that email.
pub async fn delete_user(settings: &Settings, email: &str) -> anyhow::Result<bool> {
    Ok(open(settings).await?.delete_user(email).await?)
}

/// `gatehouse user confirm-email EMAIL`: `false` when no user has that email.
pub async fn confirm_email(settings: &Settings, email: &str) -> anyhow::Result<bool> {
    Ok(open(settings).await?.confirm_email_of(email).await?)
}

/// `gatehouse user end-session EMAIL ID`: `Ok(false)` when the user has no
/// such live session (or there is no such user).
pub async fn end_session(settings: &Settings, email: &str, id: &str) -> anyhow::Result<bool> {
    let accounts = open(settings).await?;
    let Some(user) = accounts.find_user(email).await? else {
        return Ok(false);
    };
    Ok(accounts
        .end_session(user.id, id, activity::operator())
        .await?)
}

// The commands that create, list and change accounts.

/// Where `create` and `set-password` take the new password from. Never
/// from an argument: that would stay in the shell's history and show in
/// the process list.
#[derive(Debug, Clone, Copy)]
pub enum PasswordFrom {
    /// The first line of standard input (`--password-stdin`).
    Stdin,
    /// A prompt on the terminal that does not echo, asked twice.
    Prompt,
}

impl PasswordFrom {
    pub fn chosen(password_stdin: bool) -> Self {
        if password_stdin {
            Self::Stdin
        } else {
            Self::Prompt
        }
    }

    fn read(self) -> anyhow::Result<String> {
        use std::io::{BufRead, IsTerminal};
        match self {
            Self::Stdin => {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("cannot read the password from standard input")?;
                let password = line.strip_suffix('\n').unwrap_or(&line);
                let password = password.strip_suffix('\r').unwrap_or(password);
                if password.is_empty() {
                    anyhow::bail!("no password on standard input");
                }
                Ok(password.to_owned())
            }
            Self::Prompt => {
                if !std::io::stdin().is_terminal() {
                    anyhow::bail!(
                        "standard input is not a terminal: pipe the password in with --password-stdin"
                    );
                }
                let first = rpassword::prompt_password("New password: ")
                    .context("cannot read the password")?;
                let again = rpassword::prompt_password("Once more: ")
                    .context("cannot read the password")?;
                if first != again {
                    anyhow::bail!("the two passwords differ");
                }
                Ok(first)
            }
        }
    }
}

/// The core's refusal as one line: every broken rule, or what is taken.
fn refusal(error: crate::auth::Error) -> anyhow::Error {
    match error {
        crate::auth::Error::Invalid(errors) => anyhow::anyhow!(
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => other.into(),
    }
}

/// `gatehouse user create EMAIL USERNAME`: the username and address are
/// checked before the password is asked for.
pub async fn create_user(
    settings: &Settings,
    email: &str,
    username: &str,
    password: PasswordFrom,
    confirmed: bool,
) -> anyhow::Result<crate::models::User> {
    let accounts = open(settings).await?;
    accounts
        .check_new_account(username, email)
        .await
        .map_err(refusal)?;
    let password = password.read()?;
    accounts
        .create_account(username, email, &password, confirmed)
        .await
        .map_err(refusal)
}

/// `gatehouse user list`: every account, oldest first.
pub async fn list_users(settings: &Settings) -> anyhow::Result<Vec<AccountSummary>> {
    Ok(open(settings).await?.list_accounts().await?)
}

/// `gatehouse user show EMAIL`: the account and its number of live
/// sessions; `None` when no user has the email.
pub async fn show_user(
    settings: &Settings,
    email: &str,
) -> anyhow::Result<Option<(AccountSummary, usize)>> {
    let accounts = open(settings).await?;
    let Some(summary) = accounts.account_summary(email).await? else {
        return Ok(None);
    };
    let live = accounts.sessions_of(summary.id).await?.len();
    Ok(Some((summary, live)))
}

/// `gatehouse user set-password EMAIL`: `false` when no user has the
/// email (asked before the password is).
pub async fn set_password(
    settings: &Settings,
    email: &str,
    password: PasswordFrom,
) -> anyhow::Result<bool> {
    let accounts = open(settings).await?;
    if accounts.find_user(email).await?.is_none() {
        return Ok(false);
    }
    let password = password.read()?;
    accounts
        .set_password_of(email, &password)
        .await
        .map_err(refusal)
}

/// `gatehouse user disable EMAIL` (`disabled`) and `enable EMAIL`: `None`
/// when no user has the email, `Some(false)` when it was so already.
pub async fn set_disabled(
    settings: &Settings,
    email: &str,
    disabled: bool,
) -> anyhow::Result<Option<bool>> {
    Ok(open(settings)
        .await?
        .set_disabled_of(email, disabled)
        .await?)
}
