use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use fieldopt_server::config::{Cli, Command};
use fieldopt_server::startup::{self, Application};
use fieldopt_server::{maintenance, seed, solve, telemetry, token};

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.settings.log_format);
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("fieldopt: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = cli.settings;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => actix_web::rt::System::new().block_on(async move {
            Application::build(settings)
                .await?
                .run_until_stopped()
                .await?;
            tracing::info!("stopped");
            Ok(ExitCode::SUCCESS)
        }),
        Command::Migrate => {
            let pool = startup::connect(&settings)?;
            let ran = startup::migrate(&pool)?;
            println!("{ran} migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Seed => {
            let pool = startup::connect(&settings)?;
            startup::migrate(&pool)?;
            let loaded = seed::load_demo_day(&pool, chrono::Utc::now().date_naive())?;
            println!(
                "seeded {} technicians and {} jobs for {} and {}",
                loaded.technicians, loaded.jobs, loaded.first_day, loaded.second_day
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => Ok(maintenance::check(&settings)),
        Command::Backup { path } => {
            let copy = maintenance::backup(&settings, &path)?;
            println!("{}", copy.summary());
            Ok(ExitCode::SUCCESS)
        }
        Command::Solve {
            file,
            time_limit_ms,
            seed,
            max_iterations,
        } => {
            let result = solve::solve_file(
                &file,
                std::time::Duration::from_millis(time_limit_ms),
                max_iterations,
                seed,
            )?;
            println!("{result}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            role,
            sub,
            tech_id,
            ttl,
        } => {
            let request = token::TokenRequest {
                role,
                sub,
                tech_id,
                ttl_secs: ttl,
            };
            println!("{}", token::mint(settings.auth_secret.as_ref(), &request)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Openapi { spec_version } => {
            let doc = fieldopt_http::openapi_pretty_json(spec_version.into())?;
            // A reader that stops early (`| head`) is not an error.
            match writeln!(std::io::stdout().lock(), "{doc}") {
                Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other?,
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
