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
    /// Copy the collector's state into DIR while it runs.
    ///
    /// The spool's segments and cursor, the replay window's snapshot and log, and the
    /// dead-letter store with its older generation, then `manifest.json` (each file's size and
    /// SHA-256, the time) last. Consistent without stopping the collector: a record being
    /// appended is left out, as a restart after a crash leaves it out; what is spooled after
    /// the copy is not in it. See docs/operations.md.
    Backup {
        /// Configuration naming the state (`[spool] dir`, `[dead_letter] path`).
        #[arg(short, long, env = CONFIG_ENV, default_value = CONFIG_FILE)]
        config: PathBuf,
        /// The backup directory to create (absent or empty).
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
    },
    /// Write a backup into the collector's state (stop the collector first).
    ///
    /// Into the config's `[spool] dir` and `[dead_letter] path`, every file checked against the
    /// manifest first. Refused while a collector runs on the spool directory (it holds
    /// `collector.flock` there), and onto state that is already there unless --force. See
    /// docs/operations.md.
    Restore {
        /// Configuration naming where the state goes.
        #[arg(short, long, env = CONFIG_ENV, default_value = CONFIG_FILE)]
        config: PathBuf,
        /// The backup directory (written by `backup`).
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// Delete the spool, replay window and dead letters that are there first (without it,
        /// restore only onto an empty state).
        #[arg(long)]
        force: bool,
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
        Command::Backup { config, to } => backup(&config, &to),
        Command::Restore { config, from, force } => restore(&config, &from, force),
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

fn backup(config: &std::path::Path, to: &std::path::Path) -> anyhow::Result<()> {
    let config = load(config)?;
    let manifest = collector::backup::backup(&config, to)?;
    let count = |prefix: &str, suffix: &str| {
        manifest
            .files
            .iter()
            .filter(|f| f.name.starts_with(prefix) && f.name.ends_with(suffix))
            .fold((0, 0), |(n, bytes), f| (n + 1, bytes + f.bytes))
    };
    let (segments, spool_bytes) = count("spool/", ".seg");
    let (window, _) = count("spool/replay-window", "");
    let (dead_letters, _) = count("dead-letter/", "");
    eprintln!(
        "Backed up {} file(s) to {} at {}: {segments} spool segment(s) ({spool_bytes} bytes), {window} replay-window file(s), {dead_letters} dead-letter file(s); the list is in {}.",
        manifest.files.len(),
        to.display(),
        manifest.created_at,
        to.join(collector::backup::MANIFEST).display()
    );
    if manifest.files.is_empty() {
        eprintln!(
            "Nothing was there to back up ({} and {} hold nothing): check that this is the config the collector runs with.",
            config.spool.dir.display(),
            config.dead_letter.path.display()
        );
    }
    Ok(())
}

fn restore(config: &std::path::Path, from: &std::path::Path, force: bool) -> anyhow::Result<()> {
    let config = load(config)?;
    let report = collector::backup::restore(&config, from, force)?;
    if !report.removed.is_empty() {
        eprintln!(
            "Deleted {} state file(s) that were there (--force).",
            report.removed.len()
        );
    }
    eprintln!(
        "Restored the backup of {} into {}: {} spool segment(s) ({} bytes), {} replay-window file(s), {} dead-letter file(s). Start the collector now; it drains the spool once InfluxDB answers.",
        report.created_at,
        config.spool.dir.display(),
        report.segments,
        report.spool_bytes,
        report.window_files,
        report.dead_letter_files
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
