//! `citysense-collector`: takes node frames from MQTT and writes them to InfluxDB.
// The command prints its requested output (the default config) on stdout; logs go to stderr.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use collector::Config;
use collector::config::DEFAULT_CONFIG;

/// Takes sensor-node frames from an MQTT broker, verifies and decodes them, and writes them to
/// InfluxDB; acknowledges each message only once it is written.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the collector until SIGINT/SIGTERM, then drain and exit.
    Run {
        /// Configuration file (see `print-default-config`).
        #[arg(
            short,
            long,
            env = "CITYSENSE_COLLECTOR_CONFIG",
            default_value = "collector.toml"
        )]
        config: PathBuf,
    },
    /// Print a commented configuration with every field and its default.
    PrintDefaultConfig,
    /// Send a line-protocol file written by the `file` sink to the InfluxDB the config names.
    Ship {
        /// The file to send.
        file: PathBuf,
        /// Configuration whose `[sink]` names the target InfluxDB.
        #[arg(
            short,
            long,
            env = "CITYSENSE_COLLECTOR_CONFIG",
            default_value = "collector.toml"
        )]
        config: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    service::cli::init_tracing("info");
    match Cli::parse().command {
        Command::PrintDefaultConfig => {
            print!("{DEFAULT_CONFIG}");
            ExitCode::SUCCESS
        }
        Command::Run { config } => report(run(&config).await),
        Command::Ship { file, config } => report(ship(&file, &config).await),
    }
}

async fn run(config: &std::path::Path) -> anyhow::Result<()> {
    let config: Config = service::config::load(config)?;
    collector::run(config, service::cli::shutdown_signal()).await
}

async fn ship(file: &std::path::Path, config: &std::path::Path) -> anyhow::Result<()> {
    let config: Config = service::config::load(config)?;
    let shipped = collector::ship_file(file, &config.sink).await?;
    let done = file.with_extension("shipped");
    std::fs::rename(file, &done)?;
    eprintln!("Shipped {shipped} points; the file is now {}.", done.display());
    Ok(())
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
