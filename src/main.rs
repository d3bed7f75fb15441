use std::process::ExitCode;

use clap::Parser;
use gatehouse::cli::{Cli, Command, UserCommand};
use gatehouse::commands;
use gatehouse::config::Settings;
use gatehouse::startup::Application;

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    let _log_writer = gatehouse::telemetry::init();
    for warning in Settings::unknown_variables() {
        tracing::warn!("{warning}");
    }
    let command = cli.command.unwrap_or(Command::Serve);
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
            } => match commands::revoke_sessions(&settings, &email).await {
                Ok(true) => {
                    tracing::info!(email = %email, "revoked every session of the user");
                    Ok(())
                }
                Ok(false) => Err(anyhow::anyhow!("no user has the email {email}")),
                Err(error) => Err(error),
            },
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
