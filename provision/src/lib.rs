//! Provisioning: one step gives a new node everything it needs and nothing more (its frame key
//! in the registry, its broker account limited to its own topics, the settings blob its flash is
//! programmed with), and gives each service a broker account with the least its job needs.
//! Rotating a node replaces its key and password; revoking removes both. The broker's password
//! and ACL files are regenerated at every change (`citysense-provision --help`, `docs/deploy.md`).
//!
//! Secrets go only into files with narrow modes: never to stdout, a log or an error message.

pub mod acl;
pub mod blob;
pub mod files;
pub mod passwd;
pub mod tls;

use std::path::{Path, PathBuf};

use protocol::NodeKey;
use protocol::registry::{NodeInfo, Registry, RegistryError};

use crate::acl::{SERVICES, Service, node_user};
use crate::blob::SettingsBlob;
use crate::files::Readers;
use crate::passwd::PasswordFile;

/// Why a provisioning step failed; names the file or the flag, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// A file is not in its format.
    #[error("{what} is malformed: {detail}")]
    Malformed {
        /// Which file.
        what: &'static str,
        /// Where and how.
        detail: String,
    },
    /// The registry refused the change (a station name taken twice, say).
    #[error("the registry: {0}")]
    Registry(#[from] RegistryError),
    /// An argument is wrong.
    #[error("{field} {detail}")]
    Invalid {
        /// The flag.
        field: &'static str,
        /// What is wrong, and what to do.
        detail: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ProvisionError + '_ {
    move |source| ProvisionError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Where the provisioned files live, under one folder (`/etc/citysense` when installed).
#[derive(Debug, Clone)]
pub struct Layout {
    dir: PathBuf,
    registry: PathBuf,
}

impl Layout {
    /// The files under `dir`; the registry at `registry`, or `dir/nodes.toml`.
    pub fn new(dir: &Path, registry: Option<PathBuf>) -> Layout {
        Layout {
            dir: dir.to_owned(),
            registry: registry.unwrap_or_else(|| dir.join("nodes.toml")),
        }
    }

    /// The node registry (keys included).
    pub fn registry(&self) -> &Path {
        &self.registry
    }

    /// mosquitto's `password_file`.
    pub fn passwd(&self) -> PathBuf {
        self.dir.join("mosquitto/passwd")
    }

    /// mosquitto's `acl_file`.
    pub fn acl(&self) -> PathBuf {
        self.dir.join("mosquitto/acl")
    }

    /// The broker's TLS certificate (`certfile` in the shipped mosquitto config).
    pub fn tls_cert(&self) -> PathBuf {
        self.dir.join("mosquitto/tls/server.crt")
    }

    /// Its private key (`keyfile`).
    pub fn tls_key(&self) -> PathBuf {
        self.dir.join("mosquitto/tls/server.key")
    }

    /// The password file a service's config names (`mqtt.password_file`).
    pub fn secret(&self, service: Service) -> PathBuf {
        self.dir.join(format!("secrets/mqtt-{}", service.name()))
    }

    /// A node's settings blob, for the factory's programmer.
    pub fn blob(&self, node_id: u32) -> PathBuf {
        self.dir.join(format!("provisioning/node-{node_id}.bin"))
    }
}

/// A node to provision: its registry entry without the key, which is made here.
#[derive(Debug, Clone)]
pub struct NewNode {
    /// Registry id (also in its MQTT user name and topics).
    pub id: u32,
    /// Station code.
    pub station: String,
    /// Station name, with its diacritics.
    pub name: String,
    /// Air or water.
    pub kind: protocol::registry::StationKind,
    /// District, with its diacritics.
    pub district: String,
    /// Longitude and latitude.
    pub location: Option<(f64, f64)>,
}

/// What a service account step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange {
    /// A new account and password file.
    Created,
    /// A new password for an existing account.
    Rotated,
    /// Left as it was.
    Kept,
}

/// The broker's accounts, for `list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accounts {
    /// Every user name in the password file.
    pub users: Vec<String>,
    /// Nodes in the registry with no broker account.
    pub nodes_without: Vec<u32>,
}

/// Makes the changes, under a [`Layout`], for topics under `prefix`.
#[derive(Debug, Clone)]
pub struct Provisioner {
    layout: Layout,
    prefix: String,
}

impl Provisioner {
    /// A provisioner for the files of `layout` and the topics under `prefix`.
    pub fn new(layout: Layout, prefix: &str) -> Provisioner {
        Provisioner {
            layout,
            prefix: prefix.to_owned(),
        }
    }

    /// The files it writes.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Adds a node with a new key and broker password; returns where its settings blob is.
    ///
    /// # Errors
    /// When the id is provisioned already, the registry refuses the entry, or a file fails.
    pub fn add_node(&self, node: NewNode, broker: &str) -> Result<PathBuf, ProvisionError> {
        let (registry, mut passwd) = self.load()?;
        if registry.get(node.id).is_some() {
            return Err(ProvisionError::Invalid {
                field: "--id",
                detail: format!(
                    "{} is in the registry already: `node rotate --id {}` gives it a new key",
                    node.id, node.id
                ),
            });
        }
        let key: [u8; 32] = rand::random();
        let info = NodeInfo {
            id: node.id,
            station: node.station,
            name: node.name,
            kind: node.kind,
            district: node.district,
            location: node.location,
            key: Some(NodeKey::new(key)),
        };
        let registry = Registry::from_nodes(registry.nodes().cloned().chain([info]))?;
        self.give_credentials(&registry, &mut passwd, node.id, key, broker)
    }

    /// Gives a provisioned node a new key and broker password; the old ones stop working once the
    /// services reread the registry and the broker its files.
    ///
    /// # Errors
    /// When the id is not in the registry, or a file fails.
    pub fn rotate_node(&self, id: u32, broker: &str) -> Result<PathBuf, ProvisionError> {
        let (registry, mut passwd) = self.load()?;
        let Some(old) = registry.get(id) else {
            return Err(not_provisioned(id));
        };
        let key: [u8; 32] = rand::random();
        let info = NodeInfo {
            key: Some(NodeKey::new(key)),
            ..old.clone()
        };
        let registry = Registry::from_nodes(registry.nodes().filter(|n| n.id != id).cloned().chain([info]))?;
        self.give_credentials(&registry, &mut passwd, id, key, broker)
    }

    /// Removes a node: its registry entry (its frames are refused as from an unknown node), its
    /// broker account and its settings blob.
    ///
    /// # Errors
    /// When the id is not in the registry, or a file fails.
    pub fn revoke_node(&self, id: u32) -> Result<(), ProvisionError> {
        let (registry, mut passwd) = self.load()?;
        if registry.get(id).is_none() {
            return Err(not_provisioned(id));
        }
        let registry = Registry::from_nodes(registry.nodes().filter(|n| n.id != id).cloned())?;
        passwd.remove(&node_user(id));
        self.save(&registry, &passwd)?;
        let blob = self.layout.blob(id);
        files::remove(&blob).map_err(io_error(&blob))
    }

    /// Makes the service accounts that are missing, and new passwords for those in `rotate`.
    ///
    /// # Errors
    /// When a file fails.
    pub fn service_accounts(
        &self,
        rotate: &[Service],
    ) -> Result<Vec<(Service, AccountChange)>, ProvisionError> {
        let (registry, mut passwd) = self.load()?;
        let mut changes = Vec::new();
        for service in SERVICES {
            let change = if !passwd.contains(service.user()) {
                AccountChange::Created
            } else if rotate.contains(&service) {
                AccountChange::Rotated
            } else {
                AccountChange::Kept
            };
            if change != AccountChange::Kept {
                let password = blob::new_password();
                let path = self.layout.secret(service);
                files::write(&path, &password, Readers::Services).map_err(io_error(&path))?;
                passwd.set(service.user(), std::str::from_utf8(&password).unwrap_or_default());
            }
            changes.push((service, change));
        }
        self.save(&registry, &passwd)?;
        Ok(changes)
    }

    /// Writes the broker's ACL again from the registry and the accounts (after the registry was
    /// edited by hand, or the prefix changed).
    ///
    /// # Errors
    /// When a file fails.
    pub fn write_broker_files(&self) -> Result<(), ProvisionError> {
        let (registry, passwd) = self.load()?;
        self.save(&registry, &passwd)
    }

    /// The accounts the broker knows, and the nodes in the registry without one.
    ///
    /// # Errors
    /// When a file cannot be read.
    pub fn accounts(&self) -> Result<Accounts, ProvisionError> {
        let (registry, passwd) = self.load()?;
        Ok(Accounts {
            users: passwd.users().map(str::to_owned).collect(),
            nodes_without: registry
                .nodes()
                .map(|n| n.id)
                .filter(|&id| !passwd.contains(&node_user(id)))
                .collect(),
        })
    }

    fn give_credentials(
        &self,
        registry: &Registry,
        passwd: &mut PasswordFile,
        id: u32,
        key: [u8; 32],
        broker: &str,
    ) -> Result<PathBuf, ProvisionError> {
        let blob = SettingsBlob {
            node_id: id,
            key,
            mqtt_password: blob::new_password(),
            broker: broker.to_owned(),
        };
        let bytes = blob.encode()?;
        passwd.set(&node_user(id), blob.password());
        let path = self.layout.blob(id);
        files::write(&path, &bytes, Readers::Owner).map_err(io_error(&path))?;
        self.save(registry, passwd)?;
        Ok(path)
    }

    fn load(&self) -> Result<(Registry, PasswordFile), ProvisionError> {
        let registry = if self.layout.registry.exists() {
            Registry::load(&self.layout.registry)?
        } else {
            Registry::from_nodes([])?
        };
        let path = self.layout.passwd();
        let passwd = match std::fs::read_to_string(&path) {
            Ok(text) => PasswordFile::parse(&text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => PasswordFile::default(),
            Err(e) => return Err(io_error(&path)(e)),
        };
        Ok((registry, passwd))
    }

    /// The registry first (the services reread it), then the broker's passwords and ACL.
    fn save(&self, registry: &Registry, passwd: &PasswordFile) -> Result<(), ProvisionError> {
        let path = &self.layout.registry;
        files::write(path, registry.to_toml().as_bytes(), Readers::Services).map_err(io_error(path))?;
        let path = self.layout.passwd();
        files::write(&path, passwd.render().as_bytes(), Readers::Everyone).map_err(io_error(&path))?;
        let services: Vec<Service> = SERVICES
            .into_iter()
            .filter(|s| passwd.contains(s.user()))
            .collect();
        let nodes = registry
            .nodes()
            .map(|n| n.id)
            .filter(|&id| passwd.contains(&node_user(id)));
        let text = acl::render(&self.prefix, &services, nodes);
        let path = self.layout.acl();
        files::write(&path, text.as_bytes(), Readers::Everyone).map_err(io_error(&path))
    }
}

fn not_provisioned(id: u32) -> ProvisionError {
    ProvisionError::Invalid {
        field: "--id",
        detail: format!("{id} is not in the registry: `node add` provisions a new node"),
    }
}
