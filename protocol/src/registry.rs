//! The node registry: which nodes may speak, where they stand, and their keys.
//!
//! One TOML file, shared by the collector (keys, tags), the IOC API (stations) and the simulators
//! (which nodes to run). Keys are never logged: [`NodeKey`]'s `Debug` is redacted.
//!
//! ```toml
//! [[node]]
//! id = 101                    # the node id in frames and topics
//! station = "HG-VT-A01"       # station id used by the IOC API and in InfluxDB tags
//! name = "Vi Thanh, Tran Hung Dao"
//! kind = "air"                # "air" or "water"
//! district = "Vi Thanh"
//! lon = 105.4701              # WGS84, optional
//! lat = 9.7845
//! key = "000102…1f"           # 64 hex digits; omit for a keyless node (CRC-32 frames)
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::NodeKey;

/// The kind of station a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StationKind {
    /// Air-quality station: sends air samples.
    Air,
    /// Water-quality station: sends water samples.
    Water,
}

impl StationKind {
    /// Lower-case name, as in the registry file and InfluxDB tags.
    pub fn as_str(self) -> &'static str {
        match self {
            StationKind::Air => "air",
            StationKind::Water => "water",
        }
    }
}

/// One registered node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    /// Node id (frames and topics).
    pub id: u32,
    /// Station id.
    pub station: String,
    /// Human-readable station name.
    pub name: String,
    /// Air or water.
    pub kind: StationKind,
    /// Administrative district (a low-cardinality tag).
    pub district: String,
    /// WGS84 position as (longitude, latitude), if known.
    pub location: Option<(f64, f64)>,
    /// The node's HMAC key; `None` for a keyless node whose frames carry a CRC-32.
    pub key: Option<NodeKey>,
}

/// Why a registry file was refused. Every message names the entry and field.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The file could not be read.
    #[error("cannot read node registry {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The cause (shown in the message, so not chained as a source).
        error: std::io::Error,
    },
    /// The TOML does not have the registry's shape.
    #[error("node registry is not valid: {0}")]
    Syntax(#[from] toml::de::Error),
    /// An entry is wrong; the message names it.
    #[error("node registry entry node[{index}] (id {id}): {field}: {problem}")]
    Entry {
        /// Position in the file, from 0.
        index: usize,
        /// The entry's node id.
        id: u32,
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    node: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: u32,
    station: String,
    #[serde(default)]
    name: String,
    kind: StationKind,
    #[serde(default)]
    district: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lon: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

/// Every registered node, by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registry {
    nodes: BTreeMap<u32, NodeInfo>,
}

impl Registry {
    /// Builds a registry from nodes.
    ///
    /// # Errors
    ///
    /// The same checks as a file: duplicate ids, empty station ids.
    pub fn from_nodes(nodes: impl IntoIterator<Item = NodeInfo>) -> Result<Self, RegistryError> {
        let mut registry = Registry::default();
        for (index, node) in nodes.into_iter().enumerate() {
            registry.insert(index, node)?;
        }
        Ok(registry)
    }

    fn insert(&mut self, index: usize, node: NodeInfo) -> Result<(), RegistryError> {
        let entry_error = |field, problem: &str| RegistryError::Entry {
            index,
            id: node.id,
            field,
            problem: problem.into(),
        };
        if node.station.trim().is_empty() {
            return Err(entry_error("station", "must not be empty"));
        }
        if self.nodes.contains_key(&node.id) {
            return Err(entry_error("id", "is registered twice"));
        }
        self.nodes.insert(node.id, node);
        Ok(())
    }

    /// Parses the TOML text of a registry file.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] naming the first bad entry and field.
    pub fn from_toml(text: &str) -> Result<Self, RegistryError> {
        let file: File = toml::from_str(text)?;
        let mut registry = Registry::default();
        for (index, e) in file.node.into_iter().enumerate() {
            let problem = |field, problem: &str| RegistryError::Entry {
                index,
                id: e.id,
                field,
                problem: problem.into(),
            };
            let key = match &e.key {
                None => None,
                Some(text) => {
                    let bytes = hex::decode(text).map_err(|_| problem("key", "must be hexadecimal"))?;
                    let bytes: [u8; 32] = bytes
                        .try_into()
                        .map_err(|_| problem("key", "must be 64 hex digits (32 bytes)"))?;
                    Some(NodeKey::new(bytes))
                }
            };
            let location = match (e.lon, e.lat) {
                (Some(lon), Some(lat))
                    if (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat) =>
                {
                    Some((lon, lat))
                }
                (None, None) => None,
                _ => return Err(problem("lon/lat", "give both, as WGS84 degrees")),
            };
            let node = NodeInfo {
                id: e.id,
                station: e.station,
                name: e.name,
                kind: e.kind,
                district: e.district,
                location,
                key,
            };
            registry.insert(index, node)?;
        }
        Ok(registry)
    }

    /// Reads and parses a registry file.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Io`] if the file cannot be read, otherwise as [`Registry::from_toml`].
    pub fn load(path: &Path) -> Result<Self, RegistryError> {
        let text = std::fs::read_to_string(path).map_err(|error| RegistryError::Io {
            path: path.display().to_string(),
            error,
        })?;
        Self::from_toml(&text)
    }

    /// Writes the registry as TOML, keys included (this is the provisioning file).
    pub fn to_toml(&self) -> String {
        let file = File {
            node: self
                .nodes
                .values()
                .map(|n| Entry {
                    id: n.id,
                    station: n.station.clone(),
                    name: n.name.clone(),
                    kind: n.kind,
                    district: n.district.clone(),
                    lon: n.location.map(|l| l.0),
                    lat: n.location.map(|l| l.1),
                    key: n.key.as_ref().map(|k| hex::encode(k.as_bytes())),
                })
                .collect(),
        };
        toml::to_string(&file).unwrap_or_else(|e| unreachable!("registry entries always serialise: {e}"))
    }

    /// The node with this id, if registered.
    pub fn get(&self, id: u32) -> Option<&NodeInfo> {
        self.nodes.get(&id)
    }

    /// Every node, by ascending id.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes.values()
    }

    /// Number of registered nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True if no node is registered.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [[node]]
        id = 101
        station = "HG-VT-A01"
        name = "Vi Thanh"
        kind = "air"
        district = "Vi Thanh"
        lon = 105.47
        lat = 9.78
        key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

        [[node]]
        id = 201
        station = "HG-CB-W01"
        kind = "water"
    "#;

    #[test]
    fn parses_and_writes_back_the_same_registry() {
        let registry = Registry::from_toml(GOOD).expect("valid registry");
        assert_eq!(registry.len(), 2);
        let air = registry.get(101).expect("node 101");
        assert_eq!(air.kind, StationKind::Air);
        assert_eq!(air.location, Some((105.47, 9.78)));
        assert!(air.key.is_some());
        assert!(registry.get(201).and_then(|n| n.key.as_ref()).is_none());
        assert_eq!(
            Registry::from_toml(&registry.to_toml()).expect("round trip"),
            registry
        );
    }

    #[test]
    fn errors_name_the_entry_and_field() {
        let bad_key = GOOD.replace("1e1f\"", "1e\"");
        let err = Registry::from_toml(&bad_key).expect_err("short key").to_string();
        assert!(err.contains("node[0]") && err.contains("key"), "{err}");

        let dup = GOOD.replace("id = 201", "id = 101");
        let err = Registry::from_toml(&dup).expect_err("duplicate").to_string();
        assert!(err.contains("node[1]") && err.contains("twice"), "{err}");

        let unknown = GOOD.replace("district = \"Vi Thanh\"", "distrct = \"Vi Thanh\"");
        let err = Registry::from_toml(&unknown).expect_err("typo").to_string();
        assert!(err.contains("distrct"), "{err}");
    }
}
