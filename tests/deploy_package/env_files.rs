//! The units' env files, pointing the installed services at the test broker and InfluxDB.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

use super::account::Account;
use crate::support::{Influx1, Mosquitto};

/// The services' HTTP addresses: collector, IOC API, relay, in the order of [`UNITS`](super::unit::UNITS).
///
/// Environment overrides, written to the env files the units read (as an admin would put
/// secrets there); the shipped configs stay as installed.
pub(super) fn point_at_test_services(
    mosquitto: &Mosquitto,
    influx: &Influx1,
    ports: &[u16],
    account: &Account,
) -> Result<Vec<String>> {
    let listen: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let broker_port = mosquitto.port();
    write_owned(
        Path::new("/etc/citysense/secrets/collector.env"),
        &format!(
            "CITYSENSE_COLLECTOR__MQTT__PORT={broker_port}\n\
             CITYSENSE_COLLECTOR__SINK__URL={}\n\
             CITYSENSE_COLLECTOR__HTTP__LISTEN={}\n",
            influx.url(),
            listen[0]
        ),
        account,
    )?;
    write_owned(
        Path::new("/etc/citysense/secrets/relay.env"),
        &format!(
            "CITYSENSE_RELAY__MQTT__PORT={broker_port}\n\
             CITYSENSE_RELAY__HTTP__LISTEN={}\n\
             # An interval's file is written a second after its end instead of two minutes, so the\n\
             # backfilled hour is in files by the time the fleet is done.\n\
             CITYSENSE_RELAY__FILES__GRACE_S=1\n",
            listen[2]
        ),
        account,
    )?;
    write_owned(
        Path::new("/etc/citysense/secrets/ioc.env"),
        &format!(
            "CITYSENSE_IOC__MQTT__PORT={broker_port}\n\
             CITYSENSE_IOC__HTTP__LISTEN={}\n\
             CITYSENSE_IOC__INFLUX__URL={}\n",
            listen[1],
            influx.url()
        ),
        account,
    )?;
    Ok(listen.iter().map(|l| format!("http://{l}")).collect())
}

/// `path` with `text`, 0640 root:citysense: how docs/deploy.md tells an admin to keep the units'
/// env files (they hold passwords).
fn write_owned(path: &Path, text: &str, account: &Account) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o640))?;
    std::os::unix::fs::chown(path, Some(0), Some(account.gid))?;
    Ok(())
}
