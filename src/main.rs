use std::process::ExitCode;

use clap::Parser;
use gatehouse::cli::{Cli, Command, UserCommand};
use gatehouse::commands;
use gatehouse::config::Settings;
use gatehouse::startup::Application;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(error) = dotenvy::dotenv()
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
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => actix_web::rt::System::new().block_on(async {
            Application::build(settings)
                .await?
                .run_until_stopped()
                .await?;
            Ok(())
        }),
        Command::Migrate => commands::migrate(&settings),
        Command::User {
            action: UserCommand::RevokeSessions { email },
        } => match commands::revoke_sessions(&settings, &email) {
            Ok(true) => {
                tracing::info!(email = %email, "revoked every session of the user");
                Ok(())
            }
            Ok(false) => Err(anyhow::anyhow!("no user has the email {email}")),
            Err(error) => Err(error),
        },
        Command::PurgeDenylist => commands::purge_denylist(&settings).map(|count| {
            tracing::info!(count, "purged expired denylist rows");
        }),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("gatehouse: {error:#}");
            ExitCode::FAILURE
        }
    }
}
