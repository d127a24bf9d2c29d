//! Whether an SFTP server's host key is the one the operator trusts: listed for the host in a
//! `known_hosts` file (OpenSSH format), or equal to a pinned SHA-256 fingerprint. Anything else
//! is refused, and the refusal names the key that was seen.
//!
//! Design: our own reading of known_hosts (ssh-key's line parser, OpenSSH's matching rules), not
//! russh's `check_known_hosts_path`: that one takes a missing file for "no key known", splits
//! lines on single spaces only, ignores `@revoked`, and fails on the first key of the host's
//! algorithm that differs even when a later line (a rotated key) matches.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use russh::keys::ssh_key::known_hosts::{Entry, HostPatterns, Marker};
use russh::keys::ssh_key::{Fingerprint, HashAlg, PublicKey};

/// A pinned fingerprint from the config: `SHA256:` and the unpadded base64 of the digest, as
/// `ssh-keygen -l` prints it.
///
/// # Errors
/// When `text` is not in that form.
pub(crate) fn parse_sha256_fingerprint(text: &str) -> Result<Fingerprint, &'static str> {
    match Fingerprint::from_str(text.trim()) {
        Ok(fingerprint) if fingerprint.algorithm() == HashAlg::Sha256 => Ok(fingerprint),
        _ => Err(
            "must be a SHA-256 fingerprint as `ssh-keygen -l -f <key.pub>` prints it: SHA256: and 43 base64 characters",
        ),
    }
}

/// The keys one receiver trusts, read when it connects (an edited known_hosts applies at the next
/// connection).
#[derive(Debug)]
pub(crate) struct TrustedHostKeys {
    /// The host as known_hosts names it: `host`, or `[host]:port` off port 22.
    name: String,
    known_hosts: Option<KnownHosts>,
    pinned: Option<Fingerprint>,
}

/// The lines of a known_hosts file that name the host.
#[derive(Debug)]
struct KnownHosts {
    path: PathBuf,
    accepted: Vec<PublicKey>,
    revoked: Vec<PublicKey>,
}

impl TrustedHostKeys {
    /// What `known_hosts` and `pinned` trust for `host` on `port`.
    ///
    /// # Errors
    /// When the known_hosts file cannot be read or has a line that is not in OpenSSH's format, the
    /// fingerprint is malformed, or neither is given.
    pub(crate) fn load(
        host: &str,
        port: u16,
        known_hosts: Option<&Path>,
        pinned: Option<&str>,
    ) -> Result<Self, String> {
        let host = host.to_ascii_lowercase();
        let name = if port == 22 {
            host
        } else {
            format!("[{host}]:{port}")
        };
        let pinned = pinned
            .map(|text| parse_sha256_fingerprint(text).map_err(|e| format!("host_key_sha256 {e}")))
            .transpose()?;
        let known_hosts = known_hosts
            .map(|path| KnownHosts::read(path, &name))
            .transpose()?;
        if known_hosts.is_none() && pinned.is_none() {
            return Err(
                "neither known_hosts nor host_key_sha256 is set: the server's host key cannot be checked"
                    .into(),
            );
        }
        Ok(TrustedHostKeys {
            name,
            known_hosts,
            pinned,
        })
    }

    /// Accepts `key` when known_hosts lists it for the host (and does not revoke it) or its
    /// fingerprint is the pinned one.
    ///
    /// # Errors
    /// The refusal, naming the fingerprint and algorithm seen and what was expected.
    pub(crate) fn check(&self, key: &PublicKey) -> Result<(), String> {
        let seen = key.fingerprint(HashAlg::Sha256);
        let shown = format!("{seen} ({})", key.algorithm().as_str());
        let same = |known: &PublicKey| known.key_data() == key.key_data();
        if let Some(known) = &self.known_hosts {
            if known.revoked.iter().any(same) {
                return Err(format!(
                    "host key {shown} of {} is marked @revoked in {}",
                    self.name,
                    known.path.display()
                ));
            }
            if known.accepted.iter().any(same) {
                return Ok(());
            }
        }
        if self.pinned == Some(seen) {
            return Ok(());
        }
        let mut refusal = format!("host key {shown} of {} is not trusted:", self.name);
        if let Some(known) = &self.known_hosts {
            let listed: Vec<String> = known
                .accepted
                .iter()
                .map(|k| format!("{} ({})", k.fingerprint(HashAlg::Sha256), k.algorithm().as_str()))
                .collect();
            if listed.is_empty() {
                let _ = write!(refusal, " known_hosts {} has no key for it", known.path.display());
            } else {
                let _ = write!(
                    refusal,
                    " known_hosts {} lists {}",
                    known.path.display(),
                    listed.join(", ")
                );
            }
        }
        if let Some(pinned) = &self.pinned {
            if self.known_hosts.is_some() {
                refusal.push(';');
            }
            let _ = write!(refusal, " host_key_sha256 is {pinned}");
        }
        Err(refusal)
    }
}

impl KnownHosts {
    fn read(path: &Path, name: &str) -> Result<Self, String> {
        let text =
            fs::read_to_string(path).map_err(|e| format!("reading known_hosts {}: {e}", path.display()))?;
        let mut known = KnownHosts {
            path: path.to_path_buf(),
            accepted: Vec::new(),
            revoked: Vec::new(),
        };
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // Design: a line we cannot read fails the check rather than being skipped (OpenSSH
            // skips it): it might be the `@revoked` line for this very key.
            let entry = Entry::from_str(&fields_single_spaced(line)).map_err(|e| {
                format!(
                    "known_hosts {} line {} is not in OpenSSH's format: {e}",
                    path.display(),
                    index + 1
                )
            })?;
            if !names_host(entry.host_patterns(), name) {
                continue;
            }
            match entry.marker() {
                None => known.accepted.push(entry.public_key().clone()),
                Some(Marker::Revoked) => known.revoked.push(entry.public_key().clone()),
                // A certificate authority signs host certificates, which this client does not
                // ask for (russh offers no certificate algorithms by default).
                Some(Marker::CertAuthority) => {}
            }
        }
        Ok(known)
    }
}

/// `line` with each run of spaces or tabs made one space: OpenSSH separates fields by any
/// whitespace, ssh-key's parser by one space.
fn fields_single_spaced(line: &str) -> String {
    line.split_ascii_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether a known_hosts line's host field names `name` (lowercase, `[host]:port` off port 22),
/// by OpenSSH's rules: a hashed name (`|1|salt|hash`, HMAC-SHA1) equals it, or some pattern of the
/// comma-separated list matches it (`*` and `?` as wildcards) and no negated one (`!pattern`) does.
fn names_host(patterns: &HostPatterns, name: &str) -> bool {
    match patterns {
        HostPatterns::HashedName { salt, hash } => {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, salt);
            ring::hmac::verify(&key, name.as_bytes(), hash).is_ok()
        }
        HostPatterns::Patterns(patterns) => {
            let mut named = false;
            for pattern in patterns {
                let pattern = pattern.to_ascii_lowercase();
                match pattern.strip_prefix('!') {
                    Some(negated) if glob(negated.as_bytes(), name.as_bytes()) => return false,
                    Some(_) => {}
                    None => named |= glob(pattern.as_bytes(), name.as_bytes()),
                }
            }
            named
        }
    }
}

/// OpenSSH's `match_pattern`: `*` any run of characters, `?` any one.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((&c, rest)) => text.first() == Some(&c) && glob(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two ed25519 public keys made with ssh-keygen for this test, and their fingerprints as
    /// `ssh-keygen -l` printed them.
    const KEY_A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO9ROFRgSYGvn8IawYWCokN4QSPaJnj4hRMgrC4A0aV0";
    const FINGERPRINT_A: &str = "SHA256:tMQ+sUzRYKg8xo1nTh3EIwIl8To6/qmHgI7+LVWBWFo";
    const KEY_B: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAII02AD4ExHWIPbQrOBc/f4Lr5spKVtoh9DYzYiQEml/J";
    const FINGERPRINT_B: &str = "SHA256:U5Xr+9m4Lt/m12cnsEUXWGY2LCBXm/hkmx/hs0oSQFQ";
    /// `ssh-keygen -H` of the line `[files.example.vn]:2222 <KEY_A>`.
    const HASHED_A: &str = "|1|p4e8qD/gjLVXFve+2WEGFfZWZ1Q=|VIKetIDWqArNt4q4ATEMnZjVDPg= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO9ROFRgSYGvn8IawYWCokN4QSPaJnj4hRMgrC4A0aV0";
    const HOST: &str = "[files.example.vn]:2222";

    fn key(line: &str) -> PublicKey {
        PublicKey::from_openssh(line).expect("a test key")
    }

    /// What a known_hosts file holding `lines` (and `pinned`) trusts for files.example.vn:2222.
    fn trusted(lines: &str, pinned: Option<&str>) -> Result<TrustedHostKeys, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("known_hosts");
        fs::write(&path, lines).expect("write");
        TrustedHostKeys::load("Files.Example.VN", 2222, Some(&path), pinned)
    }

    #[test]
    fn a_listed_key_is_accepted_and_another_is_refused_naming_both_fingerprints() {
        let keys = trusted(
            &format!("# the authority's server\n{HOST}\t{KEY_A}  comment\n"),
            None,
        )
        .expect("loads");
        assert_eq!(keys.check(&key(KEY_A)), Ok(()));
        let refusal = keys.check(&key(KEY_B)).expect_err("not listed");
        assert!(
            refusal.contains(FINGERPRINT_B) && refusal.contains(FINGERPRINT_A) && refusal.contains(HOST),
            "{refusal}"
        );
    }

    #[test]
    fn host_patterns_follow_openssh() {
        for (patterns, named) in [
            ("[files.example.vn]:2222", true),
            ("files.example.vn", false), // port 22 only
            ("[files.example.vn]:22", false),
            ("other,[FILES.example.vn]:2222", true),
            ("[*.example.vn]:*", true),
            ("[*.example.vn]:*,![files.example.vn]:2222", false),
            ("[files.example.v?]:2222", true),
            ("[files.example.v?]:222", false),
        ] {
            let keys = trusted(&format!("{patterns} {KEY_A}\n"), None).expect("loads");
            assert_eq!(keys.check(&key(KEY_A)).is_ok(), named, "{patterns}");
        }
        let keys = trusted(&format!("{HASHED_A}\n"), None).expect("loads");
        assert_eq!(keys.check(&key(KEY_A)), Ok(()), "hashed by ssh-keygen -H");
        let keys = TrustedHostKeys::load("other.example.vn", 2222, None, Some(FINGERPRINT_B)).expect("loads");
        assert!(keys.check(&key(KEY_A)).is_err());
    }

    #[test]
    fn revoked_wins_and_a_rotated_key_on_a_later_line_is_accepted() {
        let keys = trusted(&format!("{HOST} {KEY_B}\n{HOST} {KEY_A}\n"), None).expect("loads");
        assert_eq!(keys.check(&key(KEY_A)), Ok(()));
        assert_eq!(keys.check(&key(KEY_B)), Ok(()));

        let keys = trusted(&format!("{HOST} {KEY_A}\n@revoked * {KEY_A}\n"), None).expect("loads");
        let refusal = keys.check(&key(KEY_A)).expect_err("revoked");
        assert!(refusal.contains("@revoked"), "{refusal}");
    }

    #[test]
    fn a_pin_alone_or_beside_known_hosts_accepts_its_key() {
        let keys = TrustedHostKeys::load("files.example.vn", 22, None, Some(FINGERPRINT_B)).expect("loads");
        assert_eq!(keys.check(&key(KEY_B)), Ok(()));
        let refusal = keys.check(&key(KEY_A)).expect_err("other key");
        assert!(
            refusal.contains(FINGERPRINT_A)
                && refusal.contains(FINGERPRINT_B)
                && refusal.contains("ssh-ed25519"),
            "{refusal}"
        );

        let keys = trusted(&format!("{HOST} {KEY_A}\n"), Some(FINGERPRINT_B)).expect("loads");
        assert!(keys.check(&key(KEY_A)).is_ok() && keys.check(&key(KEY_B)).is_ok());
    }

    #[test]
    fn unreadable_files_lines_and_pins_are_errors_not_open_doors() {
        let missing = TrustedHostKeys::load("h", 22, Some(Path::new("/nonexistent/known_hosts")), None)
            .expect_err("missing file");
        assert!(missing.contains("/nonexistent/known_hosts"), "{missing}");
        let garbled = trusted(
            &format!("{HOST} {KEY_A}\nfiles.example.vn ssh-ed25519 not-base64\n"),
            None,
        )
        .expect_err("bad line");
        assert!(garbled.contains("line 2"), "{garbled}");
        for bad in [
            "",
            "SHA256:short",
            "MD5:00:11",
            "SHA512:AAAA",
            "tMQ+sUzRYKg8xo1nTh3EIwIl8To6/qmHgI7+LVWBWFo",
        ] {
            assert!(parse_sha256_fingerprint(bad).is_err(), "{bad:?}");
        }
        assert!(parse_sha256_fingerprint(FINGERPRINT_A).is_ok());
        assert!(TrustedHostKeys::load("h", 22, None, None).is_err());
    }
}
