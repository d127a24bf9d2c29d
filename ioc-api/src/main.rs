//! `citysense-ioc-api`: the operations centre's API.
// The command prints its requested output (the default config, a new token) on stdout; logs go
// to stderr.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ioc_api::Config;
use ioc_api::auth::Role;
use ioc_api::config::{DEFAULT_CONFIG, ENV_PREFIX};
use ioc_api::store::Store;

/// Serves the operations centre's API and dashboard: live station readings, VN_AQI / US AQI /
/// VN_WQI, threshold alerts with acknowledgement, an event stream, open-data exports, fed by
/// the nodes' MQTT frames. State (thresholds, alerts, audit log, tokens) lives in SQLite.
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
    /// Check a configuration file (with environment overrides and the secret files it names)
    /// and its registry, and say what is wrong, if anything.
    CheckConfig {
        /// The file to check.
        #[arg(short, long, env = "CITYSENSE_IOC_CONFIG", default_value = "ioc-api.toml")]
        config: PathBuf,
    },
    /// Create, list or revoke API tokens in the configured database.
    Token {
        /// Configuration file naming the database (`[storage] path`).
        #[arg(short, long, env = "CITYSENSE_IOC_CONFIG", default_value = "ioc-api.toml")]
        config: PathBuf,
        /// The database file itself, instead of the one the config names (e.g. the all-in-one
        /// demo's `citysense-data/ioc-api.sqlite`).
        #[arg(long)]
        database: Option<PathBuf>,
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Copy the database to a file while the API runs.
    ///
    /// SQLite's online backup, in steps that do not hold up the API, to a temporary file that is
    /// checked (`PRAGMA integrity_check`), fsynced and renamed to FILE (an existing FILE is
    /// replaced whole). Thresholds, alerts and their transitions, acknowledgements, the audit
    /// log, tokens, webhook deliveries, lab results, the local hourly history and the replay
    /// window are all in it. See docs/operations.md.
    Backup {
        /// Configuration file naming the database (`[storage] path`).
        #[arg(short, long, env = "CITYSENSE_IOC_CONFIG", default_value = "ioc-api.toml")]
        config: PathBuf,
        /// The database file itself, instead of the one the config names.
        #[arg(long)]
        database: Option<PathBuf>,
        /// The backup file to write.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Put a backup in place of the database (stop the API first).
    ///
    /// Refused while an API runs on the database (it holds `<database>.flock`), and onto an
    /// existing database without --force. The file is checked first (integrity, a schema
    /// version this build reads, the API's tables); a backup from an older version is brought
    /// up to date by the next start. The database is replaced by a rename: it is the old one or
    /// the backup, never a mix. See docs/operations.md.
    Restore {
        /// Configuration file naming the database (`[storage] path`).
        #[arg(short, long, env = "CITYSENSE_IOC_CONFIG", default_value = "ioc-api.toml")]
        config: PathBuf,
        /// The database file itself, instead of the one the config names.
        #[arg(long)]
        database: Option<PathBuf>,
        /// The backup file (written by `backup`).
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Replace a database that is there (without it, restore only onto a machine that has
        /// none).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Create a token and print it once (only its hash is stored).
    Create {
        /// Unique name, shown in the audit log (letters, digits, - _ . @).
        #[arg(long)]
        name: String,
        /// viewer, operator or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// Revoke a token by name.
    Revoke {
        /// The token's name.
        #[arg(long)]
        name: String,
    },
    /// List tokens (names, roles, dates; never the tokens).
    List,
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| "must be viewer, operator or admin".into())
}

/// The database `--database` names, else the one the config names.
fn database_path(config: &std::path::Path, database: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    Ok(match database {
        Some(path) => path,
        None => load(config)?.storage.path,
    })
}

fn backup(config: &std::path::Path, database: Option<PathBuf>, to: &std::path::Path) -> anyhow::Result<()> {
    let database = database_path(config, database)?;
    let report = ioc_api::backup::backup(&database, to)?;
    eprintln!(
        "Backed up {} to {} ({} bytes, schema version {}; the copy started over {} time(s) because the API wrote meanwhile).",
        database.display(),
        report.path.display(),
        report.bytes,
        report.schema_version,
        report.restarts
    );
    Ok(())
}

fn restore(
    config: &std::path::Path,
    database: Option<PathBuf>,
    from: &std::path::Path,
    force: bool,
) -> anyhow::Result<()> {
    let database = database_path(config, database)?;
    let report = ioc_api::backup::restore(from, &database, force)?;
    eprintln!(
        "Restored {} to {} ({} bytes, schema version {}{}). Start the API now; it brings an older schema up to date.",
        from.display(),
        report.database.display(),
        report.bytes,
        report.schema_version,
        if report.replaced {
            ", replacing the database there"
        } else {
            ""
        }
    );
    Ok(())
}

fn token(config: PathBuf, database: Option<PathBuf>, action: TokenAction) -> anyhow::Result<()> {
    let path = database_path(&config, database)?;
    let store = Store::open(&path)
        .map_err(|e| anyhow::anyhow!("cannot open the database {}: {e}", path.display()))?;
    let now = time::OffsetDateTime::now_utc();
    let at = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    match action {
        TokenAction::Create { name, role } => {
            if !ioc_api::http::valid_token_name(&name) {
                anyhow::bail!("--name must be 1 to 64 characters: letters, digits, - _ . @");
            }
            let token = ioc_api::http::create_token(&store, &name, role, "cli", now)?.ok_or_else(|| {
                anyhow::anyhow!("a token named {name:?} exists; revoke it or pick another name")
            })?;
            store.audit(
                &at,
                "cli",
                "admin",
                "token.create",
                &format!("token/{name}"),
                &format!("{{\"role\":\"{role}\"}}"),
            )?;
            eprintln!("Created token {name:?} ({role}). It is shown once; store it now:");
            println!("{token}");
        }
        TokenAction::Revoke { name } => {
            if !store.revoke_token(&name, &at)? {
                anyhow::bail!("no live token named {name:?}");
            }
            store.audit(
                &at,
                "cli",
                "admin",
                "token.revoke",
                &format!("token/{name}"),
                "{}",
            )?;
            eprintln!("Revoked {name:?}. A running API stops accepting it within a second (alerts.tick_s).");
        }
        TokenAction::List => {
            for t in store.tokens()? {
                println!(
                    "{}\t{}\tcreated {} by {}\t{}",
                    t.name,
                    t.role,
                    t.created_at,
                    t.created_by,
                    t.revoked_at.map_or("live".into(), |r| format!("revoked {r}"))
                );
            }
        }
    }
    Ok(())
}

/// The config at `path`, with the `CITYSENSE_IOC__SECTION__FIELD` variables applied and the
/// secret files it names read.
fn load(path: &std::path::Path) -> anyhow::Result<Config> {
    Ok(service::config::load_with_env(path, ENV_PREFIX)?)
}

async fn run(config: &std::path::Path) -> anyhow::Result<()> {
    let config = load(config)?;
    ioc_api::run(config, service::cli::shutdown_signal()).await
}

#[tokio::main]
async fn main() -> ExitCode {
    service::cli::init_tracing("info");
    let result = match Cli::parse().command {
        Command::PrintDefaultConfig => {
            print!("{DEFAULT_CONFIG}");
            Ok(())
        }
        Command::Token {
            config,
            database,
            action,
        } => token(config, database, action),
        Command::Backup { config, database, to } => backup(&config, database, &to),
        Command::Restore {
            config,
            database,
            from,
            force,
        } => restore(&config, database, &from, force),
        Command::CheckConfig { config } => load(&config).and_then(|c| {
            let registry = protocol::registry::Registry::load(&c.registry.path)?;
            println!(
                "{}: valid ({} nodes in the registry{})",
                config.display(),
                registry.len(),
                if c.alerts.evaluate {
                    ""
                } else {
                    "; a replica: alerts.evaluate = false"
                }
            );
            Ok(())
        }),
        Command::Run { config } => run(&config).await,
    };
    service::cli::exit_code(result)
}
