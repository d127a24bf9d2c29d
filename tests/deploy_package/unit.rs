//! The package's units: which there are, and what each unit file says about how to run its
//! service (as its user, with its environment and state directories).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

use super::USER;
use super::account::Account;

/// One unit of the package and what the test needs to know about its service.
pub(super) struct UnitSpec {
    /// The unit file's name.
    pub(super) unit: &'static str,
    /// Its binary in /usr/bin.
    pub(super) binary: &'static str,
    /// Its config in /etc/citysense (a conffile).
    pub(super) config: &'static str,
}

pub(super) const UNITS: [UnitSpec; 3] = [
    UnitSpec {
        unit: "citysense-collector.service",
        binary: "citysense-collector",
        config: "collector.toml",
    },
    UnitSpec {
        unit: "citysense-ioc.service",
        binary: "citysense-ioc-api",
        config: "ioc.toml",
    },
    UnitSpec {
        unit: "citysense-relay.service",
        binary: "citysense-relay",
        config: "relay.toml",
    },
];

/// What a unit file says about how to run its service.
pub(super) struct Unit {
    pub(super) spec: &'static UnitSpec,
    pub(super) exec_start: Vec<String>,
    pub(super) user: String,
    pub(super) group: String,
    environment_files: Vec<(PathBuf, bool)>,
    state_directories: Vec<PathBuf>,
    state_directory_mode: u32,
    pub(super) timeout_stop: Duration,
    no_new_privileges: bool,
    empty_bounding_set: bool,
}

impl Unit {
    /// Reads the installed unit's `[Service]` section. Only the forms the shipped units use are
    /// understood; anything else fails rather than run something other than what systemd would.
    pub(super) fn load(spec: &'static UnitSpec) -> Result<Self> {
        let path = Path::new("/lib/systemd/system").join(spec.unit);
        let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut service: Vec<(String, String)> = Vec::new();
        let mut section = String::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if line.starts_with('[') {
                section = line.to_owned();
                continue;
            }
            ensure!(
                !line.ends_with('\\'),
                "{}: continued lines are not supported: {line}",
                spec.unit
            );
            let (key, value) = line
                .split_once('=')
                .with_context(|| format!("{}: not a key=value line: {line}", spec.unit))?;
            if section == "[Service]" {
                service.push((key.trim().to_owned(), value.trim().to_owned()));
            }
        }
        let all = |key: &str| -> Vec<&str> {
            service
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        let one = |key: &str| -> Result<&str> {
            match all(key)[..] {
                [value] => Ok(value),
                ref values => bail!("{}: {key}= {} times, expected once", spec.unit, values.len()),
            }
        };
        let plain = |value: &str| {
            !value.contains(['"', '\'', '$', '%', '\\']) && !value.starts_with(['-', '@', '+', '!', ':'])
        };
        let exec_start = one("ExecStart")?;
        ensure!(
            plain(exec_start),
            "{}: ExecStart= uses quoting, variables, specifiers or prefixes this test does not run: {exec_start}",
            spec.unit
        );
        ensure!(
            all("Environment").is_empty(),
            "{}: Environment= is not run by this test yet (the shipped units use EnvironmentFile=)",
            spec.unit
        );
        let environment_files = all("EnvironmentFile")
            .into_iter()
            .map(|v| match v.strip_prefix('-') {
                Some(optional) => (PathBuf::from(optional), true),
                None => (PathBuf::from(v), false),
            })
            .collect();
        let state_directories = all("StateDirectory")
            .into_iter()
            .flat_map(str::split_whitespace)
            .map(|d| Path::new("/var/lib").join(d))
            .collect();
        // systemd's default StateDirectoryMode= is 0755.
        let state_directory_mode = match all("StateDirectoryMode")[..] {
            [] => 0o755,
            [mode] => u32::from_str_radix(mode, 8)?,
            _ => bail!("{}: StateDirectoryMode= more than once", spec.unit),
        };
        let timeout_stop = humantime::parse_duration(one("TimeoutStopSec")?)
            .with_context(|| format!("{}: TimeoutStopSec=", spec.unit))?;
        let unit = Unit {
            spec,
            exec_start: exec_start.split_whitespace().map(str::to_owned).collect(),
            user: one("User")?.to_owned(),
            group: one("Group")?.to_owned(),
            environment_files,
            state_directories,
            state_directory_mode,
            timeout_stop,
            no_new_privileges: one("NoNewPrivileges")? == "yes",
            empty_bounding_set: one("CapabilityBoundingSet")?.is_empty(),
        };
        ensure!(
            unit.user == USER && unit.group == USER,
            "{}: runs as {}:{}, expected {USER}:{USER}",
            spec.unit,
            unit.user,
            unit.group
        );
        ensure!(
            unit.exec_start.first().map(String::as_str) == Some(&format!("/usr/bin/{}", spec.binary)),
            "{}: ExecStart= does not run /usr/bin/{}",
            spec.unit,
            spec.binary
        );
        Ok(unit)
    }

    /// The unit's state directories, as systemd makes them: the parents root's, the directory
    /// itself the unit's user's with `StateDirectoryMode=`.
    pub(super) fn make_state_directories(&self, account: &Account) -> Result<()> {
        for dir in &self.state_directories {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            std::os::unix::fs::chown(dir, Some(account.uid), Some(account.gid))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(self.state_directory_mode))?;
        }
        Ok(())
    }

    /// `argv` as the unit's user, with the basic environment systemd gives a unit's processes.
    pub(super) fn command(&self, argv: &[String], account: &Account) -> Command {
        let mut command = Command::new("setpriv");
        command.args([
            format!("--reuid={}", self.user),
            format!("--regid={}", self.group),
            "--init-groups".into(),
        ]);
        if self.no_new_privileges {
            command.arg("--no-new-privs");
        }
        if self.empty_bounding_set {
            command.arg("--bounding-set=-all");
        }
        command.arg("--").args(argv);
        command
            .env_clear()
            .current_dir("/")
            .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin")
            .env("HOME", &account.home)
            .env("USER", &self.user)
            .env("LOGNAME", &self.user)
            .env("CONFIGURATION_DIRECTORY", "/etc/citysense");
        let state: Vec<String> = self
            .state_directories
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        if !state.is_empty() {
            command.env("STATE_DIRECTORY", state.join(":"));
        }
        command
    }

    /// The variables of the unit's `EnvironmentFile=`s; a missing optional one (`-`) is skipped.
    pub(super) fn environment_file_vars(&self) -> Result<Vec<(String, String)>> {
        let mut vars = Vec::new();
        for (path, optional) in &self.environment_files {
            let text = match fs::read_to_string(path) {
                Err(e) if *optional && e.kind() == std::io::ErrorKind::NotFound => continue,
                read => {
                    read.with_context(|| format!("{}: EnvironmentFile {}", self.spec.unit, path.display()))?
                }
            };
            for line in text.lines().map(str::trim) {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (k, v) = line
                    .split_once('=')
                    .with_context(|| format!("{}: not VAR=value: {line}", path.display()))?;
                vars.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        Ok(vars)
    }
}
