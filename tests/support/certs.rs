//! Test certificates from the `openssl` command line (Debian package `openssl`): a certificate
//! authority and the server or client certificates it signs, P-256 keys, valid two days.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::process::find_program;

/// A new P-256 key, unencrypted.
const NEW_KEY: &str = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

/// What a certificate is for (its extended key usage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertUsage {
    /// A server's: `serverAuth`, for `localhost` and 127.0.0.1.
    Server,
    /// A client's (mosquitto's `require_certificate`): `clientAuth`.
    Client,
}

/// A CA whose certificate and key live in a folder, as `<name>-ca.pem` and `<name>-ca.key`.
#[derive(Debug, Clone)]
pub struct TestCa {
    dir: PathBuf,
    name: String,
    /// Its certificate (PEM): what a verifier is given as `cafile` / `ca_file`.
    pub cert: PathBuf,
    key: PathBuf,
}

impl TestCa {
    /// Makes a self-signed CA called `name` in `dir`.
    ///
    /// # Errors
    /// When `openssl` is missing or fails (the error quotes its stderr).
    pub fn new(dir: &Path, name: &str) -> Result<Self> {
        let ca = TestCa {
            dir: dir.to_owned(),
            name: name.to_owned(),
            cert: dir.join(format!("{name}-ca.pem")),
            key: dir.join(format!("{name}-ca.key")),
        };
        let config = ca.write_config(
            &format!("{name}-ca"),
            &format!("citysense test CA {name}"),
            "basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n",
        )?;
        openssl(
            dir,
            &format!("req -x509 {NEW_KEY} -days 2 -extensions ext"),
            &[("-config", &config), ("-keyout", &ca.key), ("-out", &ca.cert)],
        )?;
        Ok(ca)
    }

    /// Makes `<name>.pem` (the certificate, CN `name`, signed by this CA) and `<name>.key` in
    /// the CA's folder; returns their paths.
    ///
    /// # Errors
    /// When `openssl` fails.
    pub fn issue(&self, name: &str, usage: CertUsage) -> Result<(PathBuf, PathBuf)> {
        let extensions = match usage {
            CertUsage::Server => {
                "extendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost, IP:127.0.0.1\n"
            }
            CertUsage::Client => "extendedKeyUsage = clientAuth\n",
        };
        let config = self.write_config(
            name,
            name,
            &format!(
                "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n{extensions}"
            ),
        )?;
        let (cert, key, csr) = (
            self.dir.join(format!("{name}.pem")),
            self.dir.join(format!("{name}.key")),
            self.dir.join(format!("{name}.csr")),
        );
        openssl(
            &self.dir,
            &format!("req -new {NEW_KEY}"),
            &[("-config", &config), ("-keyout", &key), ("-out", &csr)],
        )?;
        let serial = self.dir.join(format!("{}-ca.srl", self.name));
        openssl(
            &self.dir,
            "x509 -req -CAcreateserial -days 2 -extensions ext",
            &[
                ("-in", &csr),
                ("-CA", &self.cert),
                ("-CAkey", &self.key),
                ("-CAserial", &serial),
                ("-extfile", &config),
                ("-out", &cert),
            ],
        )?;
        Ok((cert, key))
    }

    /// An openssl config for subject CN `cn` with `extensions` as section `ext`; its path.
    fn write_config(&self, file: &str, cn: &str, extensions: &str) -> Result<PathBuf> {
        let config = self.dir.join(format!("{file}.cnf"));
        fs::write(
            &config,
            format!("[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = {cn}\n[ext]\n{extensions}"),
        )
        .with_context(|| format!("writing {}", config.display()))?;
        Ok(config)
    }
}

/// Runs `openssl` in `dir` with `flags` (split at spaces) and then `files` (flag, path) pairs,
/// kept whole whatever their paths hold.
fn openssl(dir: &Path, flags: &str, files: &[(&str, &Path)]) -> Result<()> {
    let openssl = find_program("openssl", "openssl")?;
    let mut command = Command::new(&openssl);
    command.args(flags.split(' ')).current_dir(dir);
    for (flag, file) in files {
        command.arg(flag).arg(file);
    }
    let output = command
        .output()
        .with_context(|| format!("running {}", openssl.display()))?;
    if !output.status.success() {
        bail!(
            "openssl {flags} ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
