//! Free TCP ports on the loopback interface, and an HTTP client for the services on them.

use std::future::Future;
use std::net::TcpListener;
use std::time::Duration;

use anyhow::{Context, Result};

/// How many times a service start is tried when a port it was given got taken meanwhile.
const PORT_ATTEMPTS: usize = 3;

/// An HTTP client for services on 127.0.0.1, each request bounded by `timeout`. A proxy from the
/// environment must not see loopback traffic.
///
/// # Errors
/// When the client cannot be built.
pub fn loopback_client(timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .context("building the HTTP client")
}

/// Asks the kernel for a free port on 127.0.0.1 and releases it for a child process to bind.
///
/// # Errors
/// When the loopback interface refuses the bind.
pub fn free_port() -> Result<u16> {
    Ok(free_ports(1)?[0])
}

/// `count` distinct free ports: every listener is held until all are chosen, so the kernel cannot hand
/// out one port twice.
///
/// # Errors
/// When the loopback interface refuses a bind.
pub fn free_ports(count: usize) -> Result<Vec<u16>> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0 to find a free port"))
        .collect::<Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|listener| {
            Ok(listener
                .local_addr()
                .context("reading the port the kernel chose")?
                .port())
        })
        .collect()
}

/// Runs `start` with `count` free ports, trying again with new ports when it fails because a port was
/// taken between being chosen and being bound ("address already in use" in the error, which carries
/// the child's log).
///
/// Design: a released port can be taken by another test's service before ours binds it; passing a
/// bound socket to the child would close that window, but mosquitto, influxd and victoria-metrics
/// cannot take one, so the rare collision is retried instead.
///
/// # Errors
/// The last attempt's error, or the first error that is not a port collision.
pub async fn with_free_ports<T, F, Fut>(count: usize, mut start: F) -> Result<T>
where
    F: FnMut(Vec<u16>) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut attempt = 1;
    loop {
        match start(free_ports(count)?).await {
            Err(error)
                if attempt < PORT_ATTEMPTS
                    && format!("{error:#}")
                        .to_lowercase()
                        .contains("address already in use") =>
            {
                attempt += 1;
            }
            result => return result,
        }
    }
}
