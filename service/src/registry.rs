//! The node registry as it is on disk now: a service rereads it when the file changes (a key
//! rotated or a node revoked by `citysense-provision`), so a rotation takes effect without a
//! restart. Checked at most every [`RELOAD_EVERY`] from the service's own message path (one
//! `stat`), so it needs no task of its own.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use protocol::registry::Registry;
use tracing::{info, warn};

/// How often the file's stamp is looked at.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// What tells one version of the file from another.
type Stamp = (SystemTime, u64, u64);

/// A registry that follows its file.
#[derive(Debug)]
pub struct LiveRegistry {
    path: PathBuf,
    current: Registry,
    seen: Option<Stamp>,
    next_check: Instant,
}

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len(), meta.ino()))
}

impl LiveRegistry {
    /// `registry`, as loaded from `path` (or built for it); later versions of the file replace it.
    pub fn new(path: PathBuf, registry: Registry) -> Self {
        LiveRegistry {
            seen: stamp(&path),
            path,
            current: registry,
            next_check: Instant::now() + RELOAD_EVERY,
        }
    }

    /// The registry in use.
    pub fn get(&self) -> &Registry {
        &self.current
    }

    /// Rereads the file if it changed since the last look (and the last look is
    /// [`RELOAD_EVERY`] old); true when the registry was replaced. A file that no longer parses
    /// is reported and the registry in use stays.
    pub fn refresh(&mut self) -> bool {
        let now = Instant::now();
        if now < self.next_check {
            return false;
        }
        self.next_check = now + RELOAD_EVERY;
        let Some(now_stamp) = stamp(&self.path) else {
            return false;
        };
        if self.seen == Some(now_stamp) {
            return false;
        }
        self.seen = Some(now_stamp);
        match Registry::load(&self.path) {
            Ok(registry) => {
                let keys_changed = registry
                    .nodes()
                    .filter(|n| self.current.get(n.id).is_none_or(|old| old.key != n.key))
                    .count();
                let removed = self
                    .current
                    .nodes()
                    .filter(|n| registry.get(n.id).is_none())
                    .count();
                info!(
                    path = %self.path.display(),
                    nodes = registry.len(),
                    new_or_rekeyed = keys_changed,
                    removed,
                    "Node registry reread."
                );
                self.current = registry;
                true
            }
            Err(e) => {
                warn!(path = %self.path.display(), error = %e, "The node registry changed but does not load; the one in use stays. Fix the file.");
                false
            }
        }
    }

    /// Checks now, however recent the last look: for tests and for a reload on request.
    pub fn refresh_now(&mut self) -> bool {
        self.next_check = Instant::now();
        self.refresh()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::NodeKey;
    use protocol::registry::{NodeInfo, StationKind};

    fn registry(key: u8) -> Registry {
        Registry::from_nodes([NodeInfo {
            id: 7,
            station: "HG-VT-A07".into(),
            name: "Vị Thanh".into(),
            kind: StationKind::Air,
            district: "Vị Thanh".into(),
            location: None,
            key: Some(NodeKey::new([key; 32])),
        }])
        .expect("registry")
    }

    #[test]
    fn a_rewritten_file_replaces_the_registry_and_a_broken_one_does_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nodes.toml");
        std::fs::write(&path, registry(1).to_toml()).expect("write");
        let mut live = LiveRegistry::new(path.clone(), registry(1));
        assert!(!live.refresh_now(), "unchanged");

        // Written elsewhere and renamed into place, as citysense-provision does.
        let tmp = dir.path().join(".nodes.toml.tmp");
        std::fs::write(&tmp, registry(2).to_toml()).expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
        assert!(live.refresh_now(), "rotated");
        assert_eq!(
            live.get().get(7).and_then(|n| n.key.clone()),
            Some(NodeKey::new([2; 32]))
        );

        std::fs::write(&path, "[[node]]\nid = \"not a number\"\n").expect("write");
        assert!(!live.refresh_now(), "broken: kept");
        assert_eq!(
            live.get().get(7).and_then(|n| n.key.clone()),
            Some(NodeKey::new([2; 32]))
        );
    }
}
