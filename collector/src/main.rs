//! `citysense-collector`: takes node frames from MQTT and writes them to InfluxDB.
// The command prints its requested output (the default config) on stdout; logs go to stderr.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use collector::Config;
use collector::config::DEFAULT_CONFIG;

/// The variable that names the config file, and the file used without it.
const CONFIG_ENV: &str = "CITYSENSE_COLLECTOR_CONFIG";
const CONFIG_FILE: &str = "collector.toml";

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
        #[arg(short, long, env = CONFIG_ENV, default_value = CONFIG_FILE)]
        config: PathBuf,
    },
    /// Print a commented configuration with every field and its default.
    PrintDefaultConfig,
    /// Summarise or list the dead-letter store: every frame the collector rejected, with the
    /// reason, the topic and the raw bytes.
    DeadLetters {
        /// Configuration whose `[dead_letter] path` names the store.
        #[arg(short, long, env = CONFIG_ENV, default_value = CONFIG_FILE)]
        config: PathBuf,
        /// List records (newest last) instead of the summary by reason.
        #[arg(long)]
        list: bool,
        /// Only records with this reason (e.g. `bad_tag`, `replay`, `unknown_node`).
        #[arg(long)]
        reason: Option<String>,
        /// At most this many records, the newest (with --list).
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Publish the dead-lettered frames with one reason to the broker again, byte for byte, to
    /// the topic they came on, once the cause is fixed: a node added to the registry (and the
    /// collector restarted) for `unknown_node`, a field type sorted out in InfluxDB for
    /// `sink_refused`. Frames already written come back as duplicates and are not written twice.
    Republish {
        /// Configuration naming the dead-letter store and the broker.
        #[arg(short, long, env = CONFIG_ENV, default_value = CONFIG_FILE)]
        config: PathBuf,
        /// The reason of the records to send (see `dead-letters` for the reasons present).
        #[arg(long)]
        reason: String,
        /// Only count what would be sent.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check a configuration file (with environment overrides) and say what is wrong, if anything.
    CheckConfig {
        /// The file to check.
        #[arg(short, long, env = CONFIG_ENV, default_value = CONFIG_FILE)]
        config: PathBuf,
    },
    /// Send a line-protocol file written by the `file` sink to the InfluxDB the config names.
    Ship {
        /// The file to send.
        file: PathBuf,
        /// Configuration whose `[sink]` names the target InfluxDB.
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
        Command::Ship { file, config } => ship(&file, &config).await,
        Command::DeadLetters {
            config,
            list,
            reason,
            limit,
        } => dead_letters(&config, list, reason.as_deref(), limit),
        Command::Republish {
            config,
            reason,
            dry_run,
        } => republish(&config, &reason, dry_run).await,
        Command::CheckConfig { config } => load(&config).map(|_| {
            println!("{}: valid", config.display());
        }),
    };
    service::cli::exit_code(result)
}

fn load(path: &std::path::Path) -> anyhow::Result<Config> {
    Ok(service::config::load_with_env(
        path,
        collector::config::ENV_PREFIX,
    )?)
}

async fn run(config: &std::path::Path) -> anyhow::Result<()> {
    let config = load(config)?;
    collector::run(config, service::cli::shutdown_signal()).await
}

fn dead_letters(
    config: &std::path::Path,
    list: bool,
    reason: Option<&str>,
    limit: usize,
) -> anyhow::Result<()> {
    let config = load(config)?;
    let path = &config.dead_letter.path;
    let (records, unreadable) = collector::dead_letter::read_all(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let records: Vec<_> = records
        .into_iter()
        .filter(|r| reason.is_none_or(|want| r.reason == want))
        .collect();
    if list {
        for r in &records[records.len().saturating_sub(limit)..] {
            println!(
                "{}  {:<18} {}  {} bytes  {}\n    {}",
                r.rejected_at, r.reason, r.topic, r.payload_len, r.detail, r.payload_hex
            );
        }
    } else {
        let mut by_reason = std::collections::BTreeMap::<&str, (usize, &str, &str)>::new();
        for r in &records {
            let entry = by_reason
                .entry(&r.reason)
                .or_insert((0, &r.rejected_at, &r.rejected_at));
            entry.0 += 1;
            entry.2 = &r.rejected_at;
        }
        println!("{:<20} {:>8}  {:<30} last", "reason", "records", "first");
        for (reason, (count, first, last)) in &by_reason {
            println!("{reason:<20} {count:>8}  {first:<30} {last}");
        }
        println!("{:<20} {:>8}", "total", records.len());
    }
    if unreadable > 0 {
        eprintln!("{unreadable} line(s) are not records (a torn last line after a crash).");
    }
    Ok(())
}

async fn republish(config: &std::path::Path, reason: &str, dry_run: bool) -> anyhow::Result<()> {
    let config = load(config)?;
    if dry_run {
        let selection = collector::republish::select(&config.dead_letter.path, reason)?;
        println!(
            "{} record(s) with reason {reason}: {} would be sent, {} skipped (payload kept only in part).",
            selection.matched,
            selection.frames.len(),
            selection.skipped
        );
        return Ok(());
    }
    let done = collector::republish::republish(&config, reason).await?;
    println!(
        "{} record(s) with reason {reason}: {} sent and acknowledged by the broker, {} skipped (payload kept only in part).",
        done.matched, done.sent, done.skipped
    );
    Ok(())
}

async fn ship(file: &std::path::Path, config: &std::path::Path) -> anyhow::Result<()> {
    let config = load(config)?;
    let shipped = collector::ship_file(file, &config.sink).await?;
    let done = file.with_extension("shipped");
    std::fs::rename(file, &done)?;
    eprintln!("Shipped {shipped} points; the file is now {}.", done.display());
    Ok(())
}
