//! `citysense-relay`: hands the stations' data to the environment authority as Circular 10/2021
//! files over FTP/FTPS.
// The command prints its requested output (the default config) on stdout; logs go to stderr.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use protocol::registry::Registry;
use relay::config::{Config, DEFAULT_CONFIG, ENV_PREFIX};
use relay::{Relay, Snapshot};
use tokio_util::sync::CancellationToken;

/// The variable that names the config file, and the file used without it.
const CONFIG_ENV: &str = "CITYSENSE_RELAY_CONFIG";
const CONFIG_FILE: &str = "relay.toml";

/// Takes the stations' frames from the MQTT broker, writes one file per station and interval in
/// the environment authority's layout (Circular 10/2021/TT-BTNMT) into a durable outbox, and
/// uploads each file once, in order, to every configured FTP/FTPS receiver.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the relay until SIGINT/SIGTERM, then sync, acknowledge and exit.
    Run {
        /// Configuration file (see `print-default-config`).
        #[arg(short, long, env = CONFIG_ENV, default_value = CONFIG_FILE)]
        config: PathBuf,
    },
    /// Print a commented configuration with every field and its default.
    PrintDefaultConfig,
    /// Check a configuration file (with environment overrides) and its registry, and say what is
    /// wrong, if anything.
    CheckConfig {
        /// The file to check.
        #[arg(short, long, env = CONFIG_ENV, default_value = CONFIG_FILE)]
        config: PathBuf,
    },
    /// Show the outbox: files written, and per receiver how many wait and since when.
    Status {
        /// Configuration naming the outbox and the receivers.
        #[arg(short, long, env = CONFIG_ENV, default_value = CONFIG_FILE)]
        config: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    service::cli::init_tracing("info");
    let result = match Cli::parse().command {
        Command::PrintDefaultConfig => {
            print!("{DEFAULT_CONFIG}");
            Ok(())
        }
        Command::Run { config } => run(&config).await,
        Command::CheckConfig { config } => load(&config).map(|(_, registry)| {
            println!(
                "{}: valid ({} nodes in the registry)",
                config.display(),
                registry.len()
            );
        }),
        Command::Status { config } => status(&config),
    };
    service::cli::exit_code(result)
}

fn load(path: &Path) -> anyhow::Result<(Config, Registry)> {
    let config: Config = service::config::load_with_env(path, ENV_PREFIX)?;
    let registry = Registry::load(&config.registry.path)?;
    Ok((config, registry))
}

async fn run(path: &Path) -> anyhow::Result<()> {
    let (config, registry) = load(path)?;
    let relay = Relay::new(config, registry)?;
    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        service::cli::shutdown_signal().await;
        trigger.cancel();
    });
    relay.run(shutdown).await
}

fn status(path: &Path) -> anyhow::Result<()> {
    let (config, _) = load(path)?;
    let names: Vec<String> = config.receivers.iter().map(|r| r.name.clone()).collect();
    let outbox = relay::outbox::Outbox::open(
        &config.outbox.path,
        &names,
        config.outbox.max_bytes,
        config.outbox.keep_days,
    )?;
    let queues: Vec<_> = (0..names.len()).map(|r| outbox.pending(r)).collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let s: Snapshot = relay::Stats::new(names).snapshot(outbox.usage(), &queues, now);
    println!(
        "outbox {}: {} of {} bytes",
        config.outbox.path.display(),
        s.outbox_bytes,
        s.outbox_max_bytes
    );
    println!("{:<16} {:>8}  oldest waiting", "receiver", "waiting");
    for r in &s.receivers {
        let age = if r.pending == 0 {
            "-".to_owned()
        } else {
            format!("{} s ago", r.oldest_pending_age_s)
        };
        println!("{:<16} {:>8}  {age}", r.name, r.pending);
    }
    Ok(())
}
