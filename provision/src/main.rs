//! `citysense-provision`: provisions nodes (key, registry entry, broker account and ACL, the
//! settings blob for its flash) and the services' broker accounts, and rotates or revokes them.
// The command's report goes to stdout: paths and next steps, never a secret.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use protocol::registry::StationKind;
use protocol::topic::DEFAULT_PREFIX;
use provision::acl::Service;
use provision::tls::{self, BrokerAccess, CertificateChange};
use provision::{AccountChange, Layout, NewNode, Provisioner};

/// Provisions sensor nodes and the services' broker accounts for citysense: one step writes a
/// node's key into the registry, its broker password and ACL (its own topics only) into the
/// broker's files, and the settings blob its flash is programmed with. Secrets go only into
/// files (modes 0600/0640): nothing secret is printed.
///
/// After a change, reload the broker (`systemctl reload mosquitto`, or SIGHUP); the collector, the
/// IOC API and the relay reread the registry on their own.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// The folder of the files: nodes.toml, mosquitto/passwd, mosquitto/acl, secrets/,
    /// provisioning/.
    #[arg(long, default_value = "/etc/citysense", env = "CITYSENSE_PROVISION_DIR")]
    dir: PathBuf,
    /// The node registry, if not <dir>/nodes.toml.
    #[arg(long)]
    registry: Option<PathBuf>,
    /// The topic prefix the services use (`mqtt.prefix` in their configs).
    #[arg(long, default_value = DEFAULT_PREFIX)]
    prefix: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Provision, rotate or revoke a node.
    Node {
        #[command(subcommand)]
        command: NodeCommand,
    },
    /// Create the collector's, IOC API's and relay's broker accounts that are missing (their
    /// passwords in <dir>/secrets/mqtt-<service>), or give some new passwords.
    Services {
        /// Give these accounts new passwords (comma-separated).
        #[arg(long, value_delimiter = ',')]
        rotate: Vec<Service>,
    },
    /// Write the broker's ACL again from the registry (after editing it by hand).
    BrokerFiles,
    /// Make a self-signed TLS certificate for the broker (<dir>/mosquitto/tls/server.crt, its
    /// key server.key readable by the group mosquitto) unless one is there. Until the province
    /// issues a certificate, clients take this file as their CA (`mqtt.tls.ca_file`).
    BrokerCert {
        /// A name or address clients connect to (repeatable; default: this machine's host
        /// name, localhost, 127.0.0.1 and ::1).
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = 825)]
        days: u32,
        /// Replace a certificate that is there (clients must then be given the new one).
        #[arg(long)]
        force: bool,
    },
    /// List the broker accounts and the nodes without one.
    List,
}

#[derive(Subcommand)]
enum NodeCommand {
    /// A new node: a key, a registry entry, a broker account limited to its own topics and the
    /// settings blob for its flash (<dir>/provisioning/node-<id>.bin).
    Add {
        /// Registry id, also its MQTT user (`node-<id>`) and topics.
        #[arg(long)]
        id: u32,
        /// Station code, e.g. HG-VT-A05.
        #[arg(long)]
        station: String,
        /// Station name, with its diacritics.
        #[arg(long)]
        name: String,
        /// Station kind.
        #[arg(long, value_parser = parse_kind)]
        kind: StationKind,
        /// District, with its diacritics.
        #[arg(long)]
        district: String,
        /// Longitude, decimal degrees.
        #[arg(long, requires = "lat", allow_hyphen_values = true)]
        lon: Option<f64>,
        /// Latitude, decimal degrees.
        #[arg(long, requires = "lon", allow_hyphen_values = true)]
        lat: Option<f64>,
        /// The broker address the node's modem connects to (host:port), written into the blob.
        #[arg(long)]
        broker: String,
    },
    /// A new key and broker password for a node (a new blob to program); the old ones stop
    /// working.
    Rotate {
        /// Registry id.
        #[arg(long)]
        id: u32,
        /// The broker address for the new blob (host:port).
        #[arg(long)]
        broker: String,
    },
    /// Remove a node: registry entry, broker account, blob. Its frames are refused from then on.
    Revoke {
        /// Registry id.
        #[arg(long)]
        id: u32,
    },
}

fn parse_kind(text: &str) -> Result<StationKind, String> {
    match text {
        "air" => Ok(StationKind::Air),
        "water" => Ok(StationKind::Water),
        other => Err(format!("`{other}` is not a station kind: air or water")),
    }
}

const RELOAD: &str =
    "Next: reload the broker (systemctl reload mosquitto); the services reread the registry within seconds.";

fn run(cli: Cli) -> anyhow::Result<()> {
    let provisioner = Provisioner::new(Layout::new(&cli.dir, cli.registry), &cli.prefix);
    match cli.command {
        Command::Node { command } => match command {
            NodeCommand::Add {
                id,
                station,
                name,
                kind,
                district,
                lon,
                lat,
                broker,
            } => {
                let location = lon.zip(lat);
                let node = NewNode {
                    id,
                    station: station.clone(),
                    name,
                    kind,
                    district,
                    location,
                };
                let blob = provisioner.add_node(node, &broker)?;
                println!("Node {id} ({station}) provisioned.");
                println!(
                    "Settings blob for its flash: {} (mode 0600; delete it once programmed).",
                    blob.display()
                );
                println!("{RELOAD}");
            }
            NodeCommand::Rotate { id, broker } => {
                let blob = provisioner.rotate_node(id, &broker)?;
                println!("Node {id} has a new key and broker password.");
                println!("Program its new settings blob: {}.", blob.display());
                println!("{RELOAD}");
            }
            NodeCommand::Revoke { id } => {
                provisioner.revoke_node(id)?;
                println!("Node {id} revoked: no registry entry, no broker account.");
                println!("{RELOAD}");
            }
        },
        Command::Services { rotate } => {
            for (service, change) in provisioner.service_accounts(&rotate)? {
                let what = match change {
                    AccountChange::Created => "created",
                    AccountChange::Rotated => "new password",
                    AccountChange::Kept => "kept",
                };
                println!(
                    "{:<20} {what:<13} password file {}",
                    service.user(),
                    provisioner.layout().secret(service).display()
                );
            }
            println!(
                "Each service's config names its user and password file ([mqtt] username, password_file)."
            );
            println!("{RELOAD}");
        }
        Command::BrokerFiles => {
            provisioner.write_broker_files()?;
            println!(
                "Wrote {} and {}.",
                provisioner.layout().passwd().display(),
                provisioner.layout().acl().display()
            );
            println!("{RELOAD}");
        }
        Command::BrokerCert { hosts, days, force } => {
            let hosts = if hosts.is_empty() {
                tls::default_hosts()
            } else {
                hosts
            };
            let (cert, key) = (provisioner.layout().tls_cert(), provisioner.layout().tls_key());
            let (change, access) = tls::broker_certificate(&cert, &key, &hosts, days, force)?;
            match change {
                CertificateChange::Created { valid_until } => {
                    println!(
                        "Self-signed broker certificate {} for {} (valid until {}), key {}.",
                        cert.display(),
                        hosts.join(", "),
                        valid_until.date(),
                        key.display()
                    );
                    println!(
                        "Clients that connect over TLS take {} as their CA (mqtt.tls.ca_file). Restart the broker (systemctl restart mosquitto).",
                        cert.display()
                    );
                }
                CertificateChange::Kept => {
                    println!(
                        "Broker certificate {} kept (--force replaces it).",
                        cert.display()
                    );
                }
            }
            match access {
                BrokerAccess::Reads => {}
                BrokerAccess::CannotRead => println!(
                    "Warning: mosquitto cannot read {}: `chgrp mosquitto {} && chmod 0640 {}`.",
                    key.display(),
                    key.display(),
                    key.display()
                ),
                BrokerAccess::NoBroker => println!(
                    "Note: mosquitto is not installed here; once it is, run this command again (or `dpkg-reconfigure citysense`) to give it the key."
                ),
            }
        }
        Command::List => {
            let accounts = provisioner.accounts()?;
            for user in &accounts.users {
                println!("{user}");
            }
            for id in &accounts.nodes_without {
                println!(
                    "node {id}: in the registry without a broker account (`node rotate --id {id}` gives it one)"
                );
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    service::cli::exit_code(run(Cli::parse()))
}
