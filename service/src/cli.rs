//! What every binary does the same way: logs, the shutdown signal and the exit status.

use std::fmt::Display;
use std::process::ExitCode;

/// Logs to stderr (stdout is for what a command prints: configs, listings, tokens), filtered by `RUST_LOG` or else by `default_filter` (e.g. `"info"`);
/// in colour only when stderr is a terminal and `NO_COLOR` is unset.
///
/// Whatever the filter, the FTP client (suppaftp) and the SSH client (russh) log at `info` at
/// most: at `debug` and `trace` suppaftp writes every command it sends, `PASS <password>`
/// included, and russh every packet before it is encrypted, a password login's included; no
/// secret goes to a log.
pub fn init_tracing(default_filter: &str) {
    let filter = NO_SECRETS.iter().fold(
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into()),
        |filter, directive| filter.add_directive(directive.parse().unwrap_or_default()),
    );
    // Colour only on a terminal: a log file or journald would keep the escape codes.
    let colour =
        std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_env_filter(filter)
        .init();
}

/// The filter directives that keep suppaftp's command log and russh's packet log (with the
/// password) out.
const NO_SECRETS: [&str; 2] = ["suppaftp=info", "russh=info"];

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The exit status of a command: success, or failure after printing `error: ` and the error
/// with its causes (`{:#}`, as `anyhow` shows them) on stderr.
pub fn exit_code<E: Display>(result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
