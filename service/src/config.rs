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
    /// The TOML does not have the configuration's shape (serde names the field). The cause is
    /// in the message, not chained, so `{:#}` does not print it twice.
    #[error("config file is not valid: {0}")]
    Syntax(toml::de::Error),
    /// The configuration with environment overrides applied does not have the right shape.
    #[error("config is not valid with the environment overrides {vars} applied: {message}")]
    SyntaxWithEnv {
        /// The variables that were applied.
        vars: String,
        /// What serde said (it names the field).
        message: String,
    },
    /// An environment override cannot apply (its variable is named).
    #[error("environment variable {var}: {problem}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong.
        problem: String,
    },
    /// A field has a value that cannot work.
    #[error("config field `{field}` {problem}")]
    Invalid {
        /// Dotted path of the field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
}

impl From<toml::de::Error> for ConfigError {
    fn from(error: toml::de::Error) -> Self {
        ConfigError::Syntax(error)
    }
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

    /// Replaces the secrets the config names by file (`*_file` fields) with what those files
    /// hold; called before [`Validate::validate`], so the checks see the secrets themselves.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the field whose file cannot be read, or a secret given
    /// both inline and by file.
    fn read_secret_files(&mut self) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// Parses and validates TOML text.
///
/// # Errors
///
/// [`ConfigError`] naming the first bad field.
pub fn from_toml<T: DeserializeOwned + Validate>(text: &str) -> Result<T, ConfigError> {
    let mut config: T = toml::from_str(text)?;
    config.read_secret_files()?;
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

/// Reads a config file, applies environment overrides, then parses and validates.
///
/// A variable `{prefix}__SECTION__FIELD` (double underscores between the parts of the path,
/// matched case-insensitively) sets `[section] field`, e.g. `CITYSENSE_COLLECTOR__SINK__TOKEN`
/// sets `[sink] token`. The value is read as a TOML value when it is one (`5000`, `true`,
/// `"text"`) and as a string otherwise, so `http://host:8086` needs no quotes.
///
/// # Errors
///
/// [`ConfigError`] naming the file, the variable or the first bad field.
pub fn load_with_env<T: DeserializeOwned + Validate>(path: &Path, prefix: &str) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Io {
        path: path.display().to_string(),
        error,
    })?;
    from_toml_with_env(&text, prefix, std::env::vars())
}

/// As [`load_with_env`], from text and an explicit set of variables (for tests).
///
/// # Errors
///
/// As [`load_with_env`].
pub fn from_toml_with_env<T: DeserializeOwned + Validate>(
    text: &str,
    prefix: &str,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let marker = format!("{prefix}__");
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(name, _)| name.starts_with(&marker))
        .collect();
    if vars.is_empty() {
        // No override: parse the text itself, so errors keep their line and column.
        return from_toml(text);
    }
    vars.sort();
    let applied = vars
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut table: toml::Table = toml::from_str(text)?;
    for (var, raw) in vars.clone() {
        let path: Vec<String> = var[marker.len()..].split("__").map(str::to_lowercase).collect();
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::Env {
                var,
                problem: "has an empty part between `__`".into(),
            });
        }
        let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(raw));
        let (last, sections) = path
            .split_last()
            .unwrap_or_else(|| unreachable!("split yields one part"));
        let mut current = &mut table;
        for section in sections {
            let entry = current
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            current = match entry {
                toml::Value::Table(t) => t,
                _ => {
                    return Err(ConfigError::Env {
                        var,
                        problem: format!("`{section}` is not a table"),
                    });
                }
            };
        }
        current.insert(last.clone(), value);
    }
    let mut config: T = table
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::SyntaxWithEnv {
            vars: applied,
            message: e.message().trim().to_owned(),
        })?;
    config.read_secret_files()?;
    config.validate()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Demo {
        sink: Sink,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sink {
        url: String,
        batch: u32,
    }
    impl Validate for Demo {
        fn validate(&self) -> Result<(), ConfigError> {
            if self.sink.batch == 0 {
                return Err(ConfigError::invalid("sink.batch", "must be at least 1"));
            }
            Ok(())
        }
    }

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    #[test]
    fn environment_overrides_fields_and_is_validated() {
        let text = "[sink]\nurl = \"http://a\"\nbatch = 5\n";
        let demo: Demo = from_toml_with_env(
            text,
            "APP",
            vars(&[
                ("APP__SINK__URL", "http://b:8086"),
                ("APP__SINK__BATCH", "7"),
                ("OTHER", "x"),
            ]),
        )
        .expect("valid");
        assert_eq!(demo.sink.url, "http://b:8086");
        assert_eq!(demo.sink.batch, 7);

        let err = from_toml_with_env::<Demo>(text, "APP", vars(&[("APP__SINK__BATCH", "0")]))
            .expect_err("zero")
            .to_string();
        assert!(err.contains("sink.batch"), "{err}");
        let err = from_toml_with_env::<Demo>(text, "APP", vars(&[("APP__SINK__BACH", "1")]))
            .expect_err("typo")
            .to_string();
        assert!(err.contains("bach") && err.contains("APP__SINK__BACH"), "{err}");
        let err = from_toml_with_env::<Demo>("[sink]\nurl = 1\nbatch = 1\n", "APP", vars(&[]))
            .expect_err("type")
            .to_string();
        assert!(err.contains("line 2"), "file errors keep their position: {err}");
        let err = from_toml_with_env::<Demo>(text, "APP", vars(&[("APP__SINK__URL__X", "1")]))
            .expect_err("not a table")
            .to_string();
        assert!(err.contains("APP__SINK__URL__X"), "{err}");
    }
}
