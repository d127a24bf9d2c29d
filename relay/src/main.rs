//! `citysense-relay`: hands the stations' data to the environment authority as Circular 10/2021
//! files over FTP/FTPS/SFTP.
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
/// uploads each file once, in order, to every configured FTP/FTPS/SFTP receiver.
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
    /// Make a station's files for a period again from InfluxDB (`[influx]`), named and written as
    /// the live relay writes them, and upload them again to every receiver (or those named). The
    /// authority asks for this after its own outages. Runs beside the service.
    Resend {
        /// Configuration naming InfluxDB, the layout and the receivers.
        #[arg(short, long, env = CONFIG_ENV, default_value = CONFIG_FILE)]
        config: PathBuf,
        /// The station (its registry id, e.g. HG-VT-A01).
        #[arg(long)]
        station: String,
        /// Start of the period, RFC 3339 with its offset (2026-12-07T00:00:00+07:00).
        #[arg(long)]
        from: String,
        /// End of the period (excluded), RFC 3339.
        #[arg(long)]
        to: String,
        /// Only this receiver (repeat for several); every receiver when absent.
        #[arg(long)]
        receiver: Vec<String>,
        /// Only list the files that would be sent.
        #[arg(long)]
        dry_run: bool,
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
        Command::Resend {
            config,
            station,
            from,
            to,
            receiver,
            dry_run,
        } => resend(&config, &station, (&from, &to), &receiver, dry_run).await,
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

fn instant_ms(flag: &str, text: &str) -> anyhow::Result<u64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(|e| {
            anyhow::anyhow!(
                "--{flag} {text:?} is not an RFC 3339 time such as 2026-12-07T00:00:00+07:00: {e}"
            )
        })?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| anyhow::anyhow!("--{flag} is before 1970"))
}

async fn resend(
    path: &Path,
    station: &str,
    (from, to): (&str, &str),
    receivers: &[String],
    dry_run: bool,
) -> anyhow::Result<()> {
    let (config, registry) = load(path)?;
    let period = (instant_ms("from", from)?, instant_ms("to", to)?);
    let files = relay::resend::remake(&config, &registry, station, period).await?;
    eprintln!("{} file(s) made again from InfluxDB for {station}.", files.len());
    if dry_run {
        for f in &files {
            println!("{}/{}", f.folder, f.name);
        }
        return Ok(());
    }
    let count = files.len();
    let sent = relay::resend::upload(&config, files, receivers, move |receiver, f| {
        eprintln!("  {receiver}: {}/{}", f.folder, f.name);
    })
    .await?;
    eprintln!("Uploaded {sent} file(s) ({count} per receiver).");
    Ok(())
}
