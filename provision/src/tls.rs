//! The broker's TLS certificate until the province issues one: a self-signed certificate for
//! this machine's names, so that mosquitto starts with the shipped config (its 8883 listener
//! needs a certificate and key) right after the package is installed. Clients trust it by being
//! given the certificate itself as their CA (`mqtt.tls.ca_file`). A certificate the admin put
//! there is never replaced unless asked.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair};
use time::{Duration, OffsetDateTime};

use crate::files::{self, BROKER_GROUP, Readers};
use crate::{ProvisionError, io_error};

/// What [`broker_certificate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateChange {
    /// A new self-signed certificate, valid until this time.
    Created {
        /// Its last valid instant.
        valid_until: OffsetDateTime,
    },
    /// A certificate and key were there already and are kept.
    Kept,
}

/// Whether the broker can read the key (mosquitto cannot start its TLS listener otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerAccess {
    /// The broker's user or group reads it.
    Reads,
    /// The broker's group exists but cannot read it (an admin's key with other owners).
    CannotRead,
    /// No `mosquitto` group on this machine: mosquitto is not installed (yet).
    NoBroker,
}

/// The names a default certificate is made for: this machine's host name, `localhost` and
/// the loopback addresses.
pub fn default_hosts() -> Vec<String> {
    let mut hosts = Vec::new();
    if let Ok(name) = fs::read_to_string("/proc/sys/kernel/hostname") {
        let name = name.trim();
        if !name.is_empty() && name != "localhost" {
            hosts.push(name.to_owned());
        }
    }
    hosts.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
    hosts
}

/// Makes `cert` and `key` (a P-256 key, readable by root and the broker's group) for `hosts`,
/// valid for `days`, unless both exist and `force` is false.
///
/// # Errors
/// When a host is not a DNS name or an address, `days` is 0, the key cannot be made, or a file
/// cannot be written.
pub fn broker_certificate(
    cert: &Path,
    key: &Path,
    hosts: &[String],
    days: u32,
    force: bool,
) -> Result<(CertificateChange, BrokerAccess), ProvisionError> {
    if days == 0 {
        return Err(invalid("--days", "must be at least 1".into()));
    }
    let Some(first) = hosts.first() else {
        return Err(invalid("--host", "needs at least one name".into()));
    };
    if let Some(bad) = hosts.iter().find(|h| !valid_host(h)) {
        return Err(invalid(
            "--host",
            format!("`{bad}` is not a DNS name or an address"),
        ));
    }
    if !force && cert.is_file() && key.is_file() {
        let access = give_broker_own_key(key).map_err(io_error(key))?;
        return Ok((CertificateChange::Kept, access));
    }
    let mut params = CertificateParams::new(hosts.to_vec())
        .map_err(|e| invalid("--host", format!("is not a DNS name or an address: {e}")))?;
    params.distinguished_name.push(DnType::CommonName, first.as_str());
    params
        .distinguished_name
        .push(DnType::OrganizationName, "citysense broker (self-signed)");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // An hour back, so a client whose clock is a little behind accepts it at once.
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(i64::from(days));
    let pair = KeyPair::generate().map_err(|e| invalid("the key", e.to_string()))?;
    let made = params
        .self_signed(&pair)
        .map_err(|e| invalid("the certificate", e.to_string()))?;
    // The key first: a certificate without its key would be kept by the next run.
    files::write(key, pair.serialize_pem().as_bytes(), Readers::Broker).map_err(io_error(key))?;
    files::write(cert, made.pem().as_bytes(), Readers::Everyone).map_err(io_error(cert))?;
    let access = broker_access(key).map_err(io_error(key))?;
    Ok((
        CertificateChange::Created {
            valid_until: params.not_after,
        },
        access,
    ))
}

/// Whether the broker may read `key`, after giving it the broker's group if it is a key this
/// module wrote before the group existed (root's, 0640, group root: mosquitto was installed
/// after this package, and `dpkg-reconfigure citysense` runs this again).
fn give_broker_own_key(key: &Path) -> std::io::Result<BrokerAccess> {
    let access = broker_access(key)?;
    let meta = fs::metadata(key)?;
    if access == BrokerAccess::CannotRead
        && let Some(gid) = files::group_id(BROKER_GROUP)?
        && meta.uid() == 0
        && meta.gid() == 0
        && meta.mode() & 0o777 == 0o640
    {
        rustix::fs::chown(key, None, Some(gid))?;
        return broker_access(key);
    }
    Ok(access)
}

/// Whether the broker (Debian's mosquitto runs as user and group `mosquitto`) may read `key`.
fn broker_access(key: &Path) -> std::io::Result<BrokerAccess> {
    let meta = fs::metadata(key)?;
    let Some(gid) = files::group_id(BROKER_GROUP)? else {
        return Ok(BrokerAccess::NoBroker);
    };
    let mode = meta.mode();
    let by_owner = files::user_id(BROKER_GROUP)? == Some(meta.uid()) && mode & 0o400 != 0;
    let by_group = meta.gid() == gid.as_raw() && mode & 0o040 != 0;
    Ok(if by_owner || by_group || mode & 0o004 != 0 {
        BrokerAccess::Reads
    } else {
        BrokerAccess::CannotRead
    })
}

/// Whether `host` can name the broker in a certificate: an address, or a DNS name of letters,
/// digits, hyphens and dots.
fn valid_host(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
        || (!host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            }))
}

fn invalid(field: &'static str, detail: String) -> ProvisionError {
    ProvisionError::Invalid { field, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> Vec<String> {
        ["broker.example", "127.0.0.1"].map(String::from).to_vec()
    }

    #[test]
    fn a_certificate_is_made_once_and_kept_after() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = (
            dir.path().join("tls/server.crt"),
            dir.path().join("tls/server.key"),
        );
        let (made, _) = broker_certificate(&cert, &key, &hosts(), 30, false).expect("made");
        let CertificateChange::Created { valid_until } = made else {
            panic!("{made:?}")
        };
        let days = (valid_until - OffsetDateTime::now_utc()).whole_days();
        assert!((29..=30).contains(&days), "{days}");
        let pem = fs::read_to_string(&cert).expect("cert");
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        assert!(fs::read_to_string(&key).expect("key").contains("PRIVATE KEY"));
        assert_eq!(fs::metadata(&key).expect("key").mode() & 0o777, 0o640);
        assert_eq!(fs::metadata(&cert).expect("cert").mode() & 0o777, 0o644);

        let (again, _) = broker_certificate(&cert, &key, &hosts(), 30, false).expect("kept");
        assert_eq!(again, CertificateChange::Kept);
        assert_eq!(
            fs::read_to_string(&cert).expect("cert"),
            pem,
            "a second run keeps the certificate"
        );

        broker_certificate(&cert, &key, &hosts(), 30, true).expect("forced");
        assert_ne!(
            fs::read_to_string(&cert).expect("cert"),
            pem,
            "--force makes a new one"
        );
    }

    #[test]
    fn a_bad_host_or_no_days_is_refused_naming_the_flag() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = (dir.path().join("c"), dir.path().join("k"));
        let bad = broker_certificate(&cert, &key, &["not a name!".into()], 30, false).expect_err("refused");
        assert!(bad.to_string().starts_with("--host"), "{bad}");
        let none = broker_certificate(&cert, &key, &hosts(), 0, false).expect_err("refused");
        assert!(none.to_string().starts_with("--days"), "{none}");
        assert!(!cert.exists() && !key.exists());
    }

    #[test]
    fn default_hosts_cover_loopback() {
        let hosts = default_hosts();
        assert!(hosts.contains(&"localhost".to_owned()) && hosts.contains(&"127.0.0.1".to_owned()));
    }
}
