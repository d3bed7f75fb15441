use std::process::ExitCode;

use gatehouse::auth::SessionInfo;
use gatehouse::auth::accounts::AccountSummary;
use gatehouse::auth::activity::Recorded;
use gatehouse::auth::sessions::rfc3339;
use gatehouse::cli::{Cli, Command, UserCommand};
use gatehouse::commands::{self, PasswordFrom};
use gatehouse::config::Settings;
use gatehouse::startup::Application;
use gatehouse::telemetry::LogTo;

fn main() -> ExitCode {
    let cli = Cli::parse_with_settings_help();
    // `.env` in the working directory only, never a parent's.
    if let Err(error) = dotenvy::from_path(".env")
        && !error.not_found()
    {
        eprintln!("gatehouse: cannot read .env: {error}");
        return ExitCode::from(2);
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("gatehouse: invalid configuration: {error}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    // A command's answer is its standard output; its log goes beside it.
    let log_to = match command {
        Command::Serve => LogTo::Stdout,
        _ => LogTo::Stderr,
    };
    let _log_writer = gatehouse::telemetry::init(log_to, settings.log_format);
    for warning in Settings::unknown_variables() {
        tracing::warn!("{warning}");
    }
    let outcome = actix_web::rt::System::new().block_on(async move {
        match command {
            Command::Serve => {
                Application::build(settings)
                    .await?
                    .run_until_stopped()
                    .await?;
                Ok(())
            }
            Command::Migrate => commands::migrate(&settings).await,
            Command::User {
                action: UserCommand::RevokeSessions { email },
            } => on_user(
                commands::revoke_sessions(&settings, &email).await,
                &email,
                "revoked every session of the user",
            ),
            Command::User {
                action: UserCommand::Sessions { email, json },
            } => match commands::sessions(&settings, &email).await? {
                Some(list) => {
                    print_sessions(&list, json);
                    Ok(())
                }
                None => Err(anyhow::anyhow!("no user has the email {email}")),
            },
            Command::User {
                action: UserCommand::ResetTwoFactor { email },
            } => match commands::reset_two_factor(&settings, &email).await {
                Ok(Some(true)) => {
                    tracing::info!(email = %email, "turned two-factor authentication off");
                    Ok(())
                }
                Ok(Some(false)) => {
                    tracing::info!(email = %email, "two-factor authentication is off already");
                    Ok(())
                }
                Ok(None) => Err(anyhow::anyhow!("no user has the email {email}")),
                Err(error) => Err(error),
            },
            Command::User {
                action: UserCommand::Delete { email },
            } => on_user(
                commands::delete_user(&settings, &email).await,
                &email,
                "deleted the user",
            ),
            Command::User {
                action: UserCommand::ConfirmEmail { email },
            } => on_user(
                commands::confirm_email(&settings, &email).await,
                &email,
                "confirmed the email address",
            ),
            Command::User {
                action: UserCommand::EndSession { email, id },
            } => {
                if commands::end_session(&settings, &email, &id).await? {
                    tracing::info!(session = %id, "ended the session");
                    Ok(())
                } else {
                    Err(anyhow::anyhow!("{email} has no live session {id}"))
                }
            }
            Command::Audit { user, since, json } => {
                let mut header = !json;
                let found = commands::audit(&settings, user.as_deref(), since, |events| {
                    if std::mem::take(&mut header) {
                        println!(
                            "{:<20}  {:<24}  {:>7}  {:<15}  DEVICE",
                            "AT", "EVENT", "USER", "IP"
                        );
                    }
                    print_events(&events, json);
                })
                .await?;
                if found {
                    Ok(())
                } else {
                    Err(anyhow::anyhow!(
                        "no user has the email {}",
                        user.unwrap_or_default()
                    ))
                }
            }
            Command::User {
                action:
                    UserCommand::Create {
                        email,
                        username,
                        password_stdin,
                        confirmed,
                    },
            } => {
                let from = PasswordFrom::chosen(password_stdin);
                let user =
                    commands::create_user(&settings, &email, &username, from, confirmed).await?;
                let address = if user.email_verified {
                    "the address counts as confirmed"
                } else {
                    "a confirmation email is queued"
                };
                println!(
                    "created user {} ({}, {}); {address}",
                    user.id, user.username, user.email
                );
                Ok(())
            }
            Command::User {
                action: UserCommand::List { json },
            } => {
                print_accounts(&commands::list_users(&settings).await?, json);
                Ok(())
            }
            Command::User {
                action: UserCommand::Show { email, json },
            } => match commands::show_user(&settings, &email).await? {
                Some((account, live)) => {
                    print_account(&account, live, json);
                    Ok(())
                }
                None => Err(anyhow::anyhow!("no user has the email {email}")),
            },
            Command::User {
                action:
                    UserCommand::SetPassword {
                        email,
                        password_stdin,
                    },
            } => {
                let from = PasswordFrom::chosen(password_stdin);
                if commands::set_password(&settings, &email, from).await? {
                    println!("set the password of {email}; every session has ended");
                    Ok(())
                } else {
                    Err(anyhow::anyhow!("no user has the email {email}"))
                }
            }
            Command::User {
                action: UserCommand::Disable { email },
            } => match commands::set_disabled(&settings, &email, true).await? {
                Some(true) => {
                    println!("disabled {email}; every session has ended");
                    Ok(())
                }
                Some(false) => {
                    println!("{email} is disabled already; nothing changed");
                    Ok(())
                }
                None => Err(anyhow::anyhow!("no user has the email {email}")),
            },
            Command::User {
                action: UserCommand::Enable { email },
            } => match commands::set_disabled(&settings, &email, false).await? {
                Some(true) => {
                    println!("enabled {email}");
                    Ok(())
                }
                Some(false) => {
                    println!("{email} is enabled already; nothing changed");
                    Ok(())
                }
                None => Err(anyhow::anyhow!("no user has the email {email}")),
            },
            Command::Backup { path } => commands::backup(&settings, &path).await,
            Command::PurgeDenylist => commands::purge_denylist(&settings)
                .await
                .map(|count| tracing::info!(count, "purged expired denylist rows")),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("gatehouse: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The end of a command on one user: its log line, or the one-line error
/// of an unknown email.
fn on_user(found: anyhow::Result<bool>, email: &str, done: &str) -> anyhow::Result<()> {
    if found? {
        tracing::info!(email = %email, "{done}");
        Ok(())
    } else {
        Err(anyhow::anyhow!("no user has the email {email}"))
    }
}

/// Events as table rows (the caller prints the header once), or as JSON
/// lines.
fn print_events(events: &[Recorded], json: bool) {
    if json {
        for e in events {
            let row = serde_json::json!({
                "at": e.at_rfc3339(),
                "event": e.event,
                "user_id": e.user_id,
                "ip": e.ip,
                "device": e.device,
            });
            println!("{row}");
        }
        return;
    }
    for e in events {
        println!(
            "{:<20}  {:<24}  {:>7}  {:<15}  {}",
            e.at_rfc3339(),
            e.event,
            e.user_id,
            e.ip,
            e.device
        );
    }
}

/// The sessions as a table, or as JSON lines: one object per session, as
/// `GET /api/sessions` lists them (no session is the operator's own, so
/// `current` is false).
fn print_sessions(list: &[SessionInfo], json: bool) {
    if json {
        for s in list {
            let row = serde_json::json!({
                "id": s.id,
                "device": s.device,
                "ip": s.ip,
                "created_at": rfc3339(s.created_at),
                "last_used_at": rfc3339(s.last_used_at),
                "current": false,
            });
            println!("{row}");
        }
        return;
    }
    println!(
        "{:<32}  {:<28}  {:<15}  {:<20}  LAST ACTIVE",
        "ID", "DEVICE", "IP", "SIGNED IN"
    );
    for s in list {
        println!(
            "{:<32}  {:<28}  {:<15}  {:<20}  {}",
            s.id,
            s.device,
            s.ip,
            rfc3339(s.created_at),
            rfc3339(s.last_used_at)
        );
    }
}

/// An account as one JSON object: the keys `list --json` and `show --json`
/// print.
fn account_json(a: &AccountSummary) -> serde_json::Value {
    serde_json::json!({
        "id": a.id,
        "username": a.username,
        "email": a.email,
        "email_verified": a.email_verified,
        "disabled": a.disabled,
        "two_factor": a.two_factor,
        "created_at": rfc3339(a.created_at),
    })
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

fn on_off(value: bool) -> &'static str {
    if value { "on" } else { "off" }
}

/// The accounts as a table (columns as wide as their longest value), or as
/// JSON lines.
fn print_accounts(list: &[AccountSummary], json: bool) {
    if json {
        for account in list {
            println!("{}", account_json(account));
        }
        return;
    }
    let width = |header: &str, value: fn(&AccountSummary) -> usize| {
        list.iter().map(value).max().unwrap_or(0).max(header.len())
    };
    let id = width("ID", |a| a.id.to_string().len());
    let name = width("USERNAME", |a| a.username.chars().count());
    let email = width("EMAIL", |a| a.email.chars().count());
    println!(
        "{:<id$}  {:<name$}  {:<email$}  CONFIRMED  DISABLED  TWO-FACTOR  CREATED",
        "ID", "USERNAME", "EMAIL"
    );
    for a in list {
        println!(
            "{:<id$}  {:<name$}  {:<email$}  {:<9}  {:<8}  {:<10}  {}",
            a.id,
            a.username,
            a.email,
            yes_no(a.email_verified),
            yes_no(a.disabled),
            on_off(a.two_factor),
            rfc3339(a.created_at)
        );
    }
}

/// One account, a field a line (and its live sessions), or as one JSON
/// object like `list --json`.
fn print_account(a: &AccountSummary, live_sessions: usize, json: bool) {
    if json {
        println!("{}", account_json(a));
        return;
    }
    println!("id             {}", a.id);
    println!("username       {}", a.username);
    println!("email          {}", a.email);
    println!("confirmed      {}", yes_no(a.email_verified));
    println!("disabled       {}", yes_no(a.disabled));
    println!("two-factor     {}", on_off(a.two_factor));
    println!("created        {}", rfc3339(a.created_at));
    println!("live sessions  {live_sessions}");
}
