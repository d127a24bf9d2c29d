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
//!
//! Or the same as CSV (a file whose name ends in `.csv`), for registries kept in a spreadsheet:
//! a header line naming the columns (`id,station,kind` required; `name,district,lon,lat,key`
//! optional, in any order), one node per line, fields with commas or quotes in double quotes.

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
    /// A CSV registry line cannot be read.
    #[error("node registry CSV line {line}: {problem}")]
    Csv {
        /// Line number, from 1.
        line: usize,
        /// What is wrong.
        problem: String,
    },
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
        Self::from_entries(file.node)
    }

    fn from_entries(entries: Vec<Entry>) -> Result<Self, RegistryError> {
        let mut registry = Registry::default();
        for (index, e) in entries.into_iter().enumerate() {
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

    /// Parses the CSV text of a registry file (see the module docs for the columns).
    ///
    /// # Errors
    ///
    /// [`RegistryError::Csv`] naming the line and column, or [`RegistryError::Entry`] as for TOML.
    pub fn from_csv(text: &str) -> Result<Self, RegistryError> {
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        let csv_error = |line: usize, problem: String| RegistryError::Csv {
            line: line + 1,
            problem,
        };
        let Some((header_line, header)) = lines.next() else {
            return Ok(Registry::default());
        };
        let columns: Vec<String> = split_csv(header)
            .map_err(|p| csv_error(header_line, p))?
            .into_iter()
            .map(|c| c.trim().to_lowercase())
            .collect();
        for required in ["id", "station", "kind"] {
            if !columns.iter().any(|c| c == required) {
                return Err(csv_error(
                    header_line,
                    format!("the header has no `{required}` column"),
                ));
            }
        }
        let mut entries = Vec::new();
        for (n, line) in lines {
            let fields = split_csv(line).map_err(|p| csv_error(n, p))?;
            if fields.len() != columns.len() {
                return Err(csv_error(
                    n,
                    format!("{} fields, the header has {}", fields.len(), columns.len()),
                ));
            }
            let mut entry = Entry {
                id: 0,
                station: String::new(),
                name: String::new(),
                kind: StationKind::Air,
                district: String::new(),
                lon: None,
                lat: None,
                key: None,
            };
            let (mut has_id, mut has_kind) = (false, false);
            for (column, value) in columns.iter().zip(fields) {
                let value = value.trim();
                if value.is_empty() {
                    continue;
                }
                let number = |v: &str| {
                    v.parse::<f64>()
                        .map_err(|e| csv_error(n, format!("{column} {v:?}: {e}")))
                };
                match column.as_str() {
                    "id" => {
                        entry.id = value
                            .parse()
                            .map_err(|e| csv_error(n, format!("id {value:?}: {e}")))?;
                        has_id = true;
                    }
                    "station" => entry.station = value.to_owned(),
                    "name" => entry.name = value.to_owned(),
                    "district" => entry.district = value.to_owned(),
                    "kind" => {
                        entry.kind = match value {
                            "air" => StationKind::Air,
                            "water" => StationKind::Water,
                            other => {
                                return Err(csv_error(
                                    n,
                                    format!("kind {other:?}: must be \"air\" or \"water\""),
                                ));
                            }
                        };
                        has_kind = true;
                    }
                    "lon" => entry.lon = Some(number(value)?),
                    "lat" => entry.lat = Some(number(value)?),
                    "key" => entry.key = Some(value.to_owned()),
                    other => return Err(csv_error(n, format!("unknown column `{other}`"))),
                }
            }
            if !has_id || !has_kind {
                return Err(csv_error(n, "id and kind must not be empty".into()));
            }
            entries.push(entry);
        }
        Self::from_entries(entries)
    }

    /// Reads and parses a registry file: CSV when its name ends in `.csv`, TOML otherwise.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Io`] if the file cannot be read, otherwise as [`Registry::from_toml`] or
    /// [`Registry::from_csv`].
    pub fn load(path: &Path) -> Result<Self, RegistryError> {
        let text = std::fs::read_to_string(path).map_err(|error| RegistryError::Io {
            path: path.display().to_string(),
            error,
        })?;
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
            Self::from_csv(&text)
        } else {
            Self::from_toml(&text)
        }
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

    /// Writes the registry as CSV (the columns of [`Registry::from_csv`]), keys included.
    pub fn to_csv(&self) -> String {
        let quote = |v: &str| {
            if v.contains([',', '"', '\n']) {
                format!("\"{}\"", v.replace('"', "\"\""))
            } else {
                v.to_owned()
            }
        };
        let mut out = String::from("id,station,name,kind,district,lon,lat,key\n");
        for n in self.nodes.values() {
            let (lon, lat) = n.location.map_or((String::new(), String::new()), |(lon, lat)| {
                (lon.to_string(), lat.to_string())
            });
            let key = n
                .key
                .as_ref()
                .map(|k| hex::encode(k.as_bytes()))
                .unwrap_or_default();
            out.push_str(&format!(
                "{},{},{},{},{},{lon},{lat},{key}\n",
                n.id,
                quote(&n.station),
                quote(&n.name),
                n.kind.as_str(),
                quote(&n.district)
            ));
        }
        out
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

/// Splits one CSV line: commas separate fields, a field in double quotes may hold commas, and
/// `""` inside quotes is a quote.
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed".into());
    }
    fields.push(field);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_gives_the_same_registry_as_toml() {
        let csv = "id,station,name,kind,district,lon,lat,key\n\
            101,HG-VT-A01,Vi Thanh,air,Vi Thanh,105.47,9.78,000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n\
            \n\
            201,HG-CB-W01,,water,,,,\n";
        let from_csv = Registry::from_csv(csv).expect("valid csv");
        assert_eq!(from_csv, Registry::from_toml(GOOD).expect("valid toml"));

        let quoted = "station,id,kind,name\n\"HG, \"\"A\"\"\",7,air,\"Vi Thanh, Tran Hung Dao\"\n";
        let reg = Registry::from_csv(quoted).expect("quoted");
        let node = reg.get(7).expect("node 7");
        assert_eq!(node.station, "HG, \"A\"");
        assert_eq!(node.name, "Vi Thanh, Tran Hung Dao");

        let err = Registry::from_csv("id,station\n1,a\n")
            .expect_err("no kind")
            .to_string();
        assert!(err.contains("kind"), "{err}");
        let err = Registry::from_csv("id,station,kind\n1,a,air,extra\n")
            .expect_err("width")
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        let err = Registry::from_csv("id,station,kind\nx,a,air\n")
            .expect_err("id")
            .to_string();
        assert!(err.contains("line 2") && err.contains("id"), "{err}");
        let err = Registry::from_csv("id,station,kind\n1,a,fire\n")
            .expect_err("kind")
            .to_string();
        assert!(err.contains("line 2"), "{err}");
    }

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
