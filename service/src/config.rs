//! Config files: TOML, parsed with serde (which names unknown and mistyped fields), then checked
//! by the config's own `validate` before anything starts.

use std::path::Path;

use serde::de::DeserializeOwned;

/// A configuration that cannot work; the message names the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The cause (shown in the message, so not chained as a source).
        error: std::io::Error,
    },
    /// The TOML does not have the configuration's shape (serde names the field).
    #[error("config file is not valid: {0}")]
    Syntax(#[from] toml::de::Error),
    /// A field has a value that cannot work.
    #[error("config field `{field}` {problem}")]
    Invalid {
        /// Dotted path of the field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
}

impl ConfigError {
    /// A field whose value cannot work.
    pub fn invalid(field: &'static str, problem: impl Into<String>) -> Self {
        ConfigError::Invalid {
            field,
            problem: problem.into(),
        }
    }
}

/// A configuration that can check its own values.
pub trait Validate {
    /// Checks values that parse but cannot work.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the first bad field.
    fn validate(&self) -> Result<(), ConfigError>;
}

/// Parses and validates TOML text.
///
/// # Errors
///
/// [`ConfigError`] naming the first bad field.
pub fn from_toml<T: DeserializeOwned + Validate>(text: &str) -> Result<T, ConfigError> {
    let config: T = toml::from_str(text)?;
    config.validate()?;
    Ok(config)
}

/// Reads, parses and validates a config file.
///
/// # Errors
///
/// [`ConfigError`] naming the file or the first bad field.
pub fn load<T: DeserializeOwned + Validate>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Io {
        path: path.display().to_string(),
        error,
    })?;
    from_toml(&text)
}
