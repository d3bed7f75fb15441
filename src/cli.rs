//! The command line.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::env::KNOWN;

impl Cli {
    /// Parses the process's arguments; `serve --help` lists the settings.
    pub fn parse_with_settings_help() -> Self {
        let command =
            Self::command().mut_subcommand("serve", |serve| serve.after_help(settings_help()));
        let matches = command.get_matches();
        Self::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
    }
}

/// The environment variables `serve` reads, for its `--help`.
fn settings_help() -> String {
    let mut names = vec!["DATABASE_URL"];
    names.extend(KNOWN);
    names.push("RUST_LOG");
    format!(
        "Settings come from these environment variables (also from a .env file in the working directory); the README says what each means and its default:\n  {}",
        names.join("\n  ")
    )
}

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Register, log in, see protected pages and log out."
)]
#[command(after_help = "Configuration comes from the environment and a .env file; see the README.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve the app (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Delete what no longer matters, then exit: denylist rows of expired
    /// tokens, ended sessions, spent links, old rate-limit counters, and
    /// account events older than GATEHOUSE_ACTIVITY_RETENTION (run it with
    /// the server's settings).
    PurgeDenylist,
    /// Copy a SQLite database, consistent while the server runs, to PATH
    /// (with its key file beside it); for PostgreSQL use pg_dump.
    Backup {
        /// Where the copy goes; it must not exist yet.
        path: std::path::PathBuf,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        action: UserCommand,
    },
    /// Show the activity log: logins, failed logins and account changes,
    /// oldest first.
    Audit {
        /// Only this user's events (their email address, any case).
        #[arg(long, value_name = "EMAIL")]
        user: Option<String>,
        /// Only events of this last stretch of time (`30m`, `1h`, `7d`);
        /// default: every event kept.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        since: Option<std::time::Duration>,
        /// One JSON object per line: `{"at","event","user_id","ip","device"}`.
        #[arg(long)]
        json: bool,
    },
}

/// A duration as the settings write them (`30m`, `1h`, `7d`).
fn parse_duration(raw: &str) -> Result<std::time::Duration, String> {
    crate::config::env::duration(raw.trim())
        .ok_or_else(|| format!("{raw:?} is not a duration such as 30m, 1h or 7d"))
}

#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Log a user out everywhere: every session and token ends.
    RevokeSessions {
        /// The user's email address (any case).
        email: String,
    },
    /// List a user's live sessions, most recently used first.
    Sessions {
        /// The user's email address (any case).
        email: String,
        /// One JSON object per line, as `GET /api/sessions` lists them.
        #[arg(long)]
        json: bool,
    },
    /// Turn a locked-out user's two-factor authentication off: every
    /// session ends and the user gets a notice.
    ResetTwoFactor {
        /// The user's email address (any case).
        email: String,
    },
    /// Delete a user: every session, link and waiting mail goes with the
    /// account; the username and email can be registered again.
    Delete {
        /// The user's email address (any case).
        email: String,
    },
    /// Mark a user's email address as confirmed, without a link.
    ConfirmEmail {
        /// The user's email address (any case).
        email: String,
    },
    /// End one session of a user.
    EndSession {
        /// The user's email address (any case).
        email: String,
        /// The session's id, as `gatehouse user sessions` lists it.
        id: String,
    },
    /// Create a user, by the registration rules.
    ///
    /// The password comes from a prompt that does not echo (asked twice),
    /// or with --password-stdin from the first line of standard input;
    /// never from an argument.
    Create {
        /// The new user's email address.
        email: String,
        /// The new user's username.
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Count the address as confirmed; without it a confirmation email
        /// is queued, as at registration.
        #[arg(long)]
        confirmed: bool,
    },
    /// List every user: id, username, email, whether the address is
    /// confirmed, disabled, two-factor, created.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Show one user: what `list` shows, and the number of live sessions.
    Show {
        /// The user's email address (any case).
        email: String,
        /// One JSON object, as `list --json` prints them.
        #[arg(long)]
        json: bool,
    },
    /// Set a user's password: every session and token ends, and the user
    /// gets a notice.
    ///
    /// The password comes from a prompt that does not echo (asked twice),
    /// or with --password-stdin from the first line of standard input;
    /// never from an argument.
    SetPassword {
        /// The user's email address (any case).
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: every session and token ends, and logging in with
    /// the right password answers "This account is disabled".
    Disable {
        /// The user's email address (any case).
        email: String,
    },
    /// Enable a disabled user again.
    Enable {
        /// The user's email address (any case).
        email: String,
    },
}
