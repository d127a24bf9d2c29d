//! A string that never appears in logs or debug output, and the files secrets are read from so
//! that configs need not hold them.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// A password or token. `Debug` and `Display` print `<redacted>`; use [`Secret::expose`] where
/// the value must go on the wire.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the request that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is the empty string (a required secret left out of the config).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The first line of `path` (a password file as `citysense-provision` or an admin writes it,
/// or systemd's `LoadCredential=` puts under `$CREDENTIALS_DIRECTORY`). The error names `field`
/// and the file, never what it holds.
///
/// # Errors
/// [`ConfigError::Invalid`] when the file cannot be read or its first line is empty.
pub fn read_secret_file(field: &'static str, path: &Path) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::invalid(field, format!("cannot read {}: {e}", path.display())))?;
    let secret = text.lines().next().unwrap_or_default().trim_end();
    if secret.is_empty() {
        return Err(ConfigError::invalid(
            field,
            format!("{} is empty", path.display()),
        ));
    }
    Ok(Secret::new(secret))
}

/// An optional secret given inline or by a file (`fields`: the inline field's name, the file
/// field's): at most one of the two; the file's secret is put in `inline`.
///
/// # Errors
/// [`ConfigError::Invalid`] naming the file field when both are given or the file fails.
pub fn take_optional(
    inline: &mut Option<Secret>,
    file: Option<&PathBuf>,
    fields: (&'static str, &'static str),
) -> Result<(), ConfigError> {
    let Some(path) = file else {
        return Ok(());
    };
    if inline.is_some() {
        return Err(ConfigError::invalid(
            fields.1,
            format!("is given with {}: keep one", fields.0),
        ));
    }
    *inline = Some(read_secret_file(fields.1, path)?);
    Ok(())
}

/// A required secret given inline or by a file: exactly one of the two; the file's secret is
/// put in `inline`.
///
/// # Errors
/// [`ConfigError::Invalid`] naming the fields when neither or both are given, or the file fails.
pub fn take_required(
    inline: &mut Secret,
    file: Option<&PathBuf>,
    fields: (&'static str, &'static str),
) -> Result<(), ConfigError> {
    match file {
        Some(_) if !inline.is_empty() => Err(ConfigError::invalid(
            fields.1,
            format!("is given with {}: keep one", fields.0),
        )),
        Some(path) => {
            *inline = read_secret_file(fields.1, path)?;
            Ok(())
        }
        None if inline.is_empty() => Err(ConfigError::invalid(
            fields.0,
            format!("is missing: give it, or {} naming a file that holds it", fields.1),
        )),
        None => Ok(()),
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: (&str, &str) = ("influx.password", "influx.password_file");

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret");
        std::fs::write(&path, text).expect("written");
        (dir, path)
    }

    #[test]
    fn a_file_gives_its_first_line_and_errors_never_show_the_secret() {
        let (_dir, path) = file("s3cr3t-value\nsecond line\n");
        let mut inline = None;
        take_optional(&mut inline, Some(&path), FIELDS).expect("read");
        assert_eq!(inline.as_ref().map(Secret::expose), Some("s3cr3t-value"));

        let both = take_optional(&mut inline, Some(&path), FIELDS).expect_err("both given");
        assert!(both.to_string().contains("influx.password_file"), "{both}");
        assert!(!both.to_string().contains("s3cr3t"), "{both}");

        let (_empty_dir, empty) = file("\n");
        let err = read_secret_file("influx.password_file", &empty).expect_err("empty");
        assert!(err.to_string().contains("is empty"), "{err}");
        let missing =
            read_secret_file("influx.password_file", Path::new("/nonexistent/secret")).expect_err("missing");
        assert!(missing.to_string().contains("/nonexistent/secret"), "{missing}");
    }

    #[test]
    fn a_required_secret_needs_exactly_one_source() {
        let fields = ("sink.token", "sink.token_file");
        let (_dir, path) = file("token-from-file");
        let mut token = Secret::default();
        take_required(&mut token, Some(&path), fields).expect("read");
        assert_eq!(token.expose(), "token-from-file");
        let both = take_required(&mut token, Some(&path), fields).expect_err("both");
        assert!(both.to_string().contains("sink.token_file"), "{both}");
        let mut none = Secret::default();
        let missing = take_required(&mut none, None, fields).expect_err("neither");
        assert!(
            missing.to_string().contains("sink.token") && missing.to_string().contains("sink.token_file"),
            "{missing}"
        );
        let mut inline = Secret::new("inline");
        take_required(&mut inline, None, fields).expect("inline alone");
    }
}
