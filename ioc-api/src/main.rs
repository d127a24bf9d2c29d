//! `citysense-ioc-api`: the operations centre's API.
// The command prints its requested output (the default config) on stdout; logs go to stderr.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ioc_api::Config;
use ioc_api::config::DEFAULT_CONFIG;

/// Serves live station readings, the PM2.5 alert rule and a server-sent-events stream to the
/// operations centre's dashboards, fed by the nodes' MQTT frames.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve until SIGINT/SIGTERM.
    Run {
        /// Configuration file (see `print-default-config`).
        #[arg(short, long, env = "CITYSENSE_IOC_CONFIG", default_value = "ioc-api.toml")]
        config: PathBuf,
    },
    /// Print a commented configuration with every field and its default.
    PrintDefaultConfig,
}

#[tokio::main]
async fn main() -> ExitCode {
    service::cli::init_tracing("info");
    match Cli::parse().command {
        Command::PrintDefaultConfig => {
            print!("{DEFAULT_CONFIG}");
            ExitCode::SUCCESS
        }
        Command::Run { config } => {
            let result = async {
                ioc_api::run(
                    service::config::load::<Config>(&config)?,
                    service::cli::shutdown_signal(),
                )
                .await
            }
            .await;
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
