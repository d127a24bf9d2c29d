//! Writing the provisioned files: whole or not at all (a temporary file, fsync, rename), with the
//! mode each needs, and readable by the services' group when it exists.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The system group the services run as (the package's `citysense` user).
pub const SERVICE_GROUP: &str = "citysense";
/// The group Debian's mosquitto package runs the broker as.
pub const BROKER_GROUP: &str = "mosquitto";

/// Who may read a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readers {
    /// Its owner only (0600): the settings blobs, for the factory's programmer.
    Owner,
    /// Its owner and the services' group (0640): the registry's keys, the services' passwords.
    Services,
    /// Anyone (0644): the ACL, and the broker's password hashes (of random 128-bit passwords),
    /// which mosquitto reads as its own user; the broker's certificate.
    Everyone,
    /// Its owner and the broker's group (0640): the broker's TLS key.
    Broker,
}

impl Readers {
    fn mode(self) -> u32 {
        match self {
            Readers::Owner => 0o600,
            Readers::Services | Readers::Broker => 0o640,
            Readers::Everyone => 0o644,
        }
    }

    /// The group the file is given, if any.
    fn group(self) -> Option<&'static str> {
        match self {
            Readers::Services => Some(SERVICE_GROUP),
            Readers::Broker => Some(BROKER_GROUP),
            Readers::Owner | Readers::Everyone => None,
        }
    }
}

/// Replaces `path` with `bytes`; a crash leaves the old file or the new one.
///
/// # Errors
/// When the folder cannot be made or the file written, synced, renamed or given its group.
pub fn write(path: &Path, bytes: &[u8], readers: Readers) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(readers.mode())
        .open(&tmp)?;
    // The mode given at creation is masked by the umask; the file gets exactly its own.
    file.set_permissions(fs::Permissions::from_mode(readers.mode()))?;
    if let Some(group) = readers.group()
        && let Some(gid) = group_id(group)?
    {
        rustix::fs::fchown(&file, None, Some(gid))?;
    }
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

/// Removes `path` if it is there.
///
/// # Errors
/// When it exists and cannot be removed.
pub fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// `group`'s id from /etc/group, if the group exists (on a developer's machine it may not).
pub fn group_id(group: &str) -> io::Result<Option<rustix::fs::Gid>> {
    Ok(third_field("/etc/group", group)?.map(rustix::fs::Gid::from_raw))
}

/// `user`'s id from /etc/passwd, if the user exists.
pub fn user_id(user: &str) -> io::Result<Option<u32>> {
    third_field("/etc/passwd", user)
}

/// The numeric id (third field) of the entry `name` in the colon-separated `database`.
fn third_field(database: &str, name: &str) -> io::Result<Option<u32>> {
    let text = match fs::read_to_string(database) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut fields = l.split(':');
            let entry = fields.next()?;
            let id = fields.nth(1)?.parse().ok()?;
            (entry == name).then_some(id)
        })
        .next())
}
