//! The broker's ACL file, generated from the service accounts and the provisioned nodes: each
//! account may touch only the topics its job needs (`protocol::topic` names them), and anything
//! not listed is refused. mosquitto's `acl_file` format; rewritten whole at every change.

use std::fmt::Write as _;

/// A service with a broker account of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Service {
    /// `citysense-collector`: reads the nodes' frames; writes them back only when an operator
    /// republishes dead letters (they are checked again like any frame).
    Collector,
    /// `citysense-ioc`: reads the nodes' frames and the relay's notices, writes alerts and
    /// downlink commands.
    Ioc,
    /// `citysense-relay`: reads the nodes' frames, writes the transmission notices.
    Relay,
}

/// Every service, in the order the ACL lists them.
pub const SERVICES: [Service; 3] = [Service::Collector, Service::Ioc, Service::Relay];

impl Service {
    /// The broker user name.
    pub fn user(self) -> &'static str {
        match self {
            Service::Collector => "citysense-collector",
            Service::Ioc => "citysense-ioc",
            Service::Relay => "citysense-relay",
        }
    }

    /// The short name used for its secret file (`secrets/mqtt-<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Service::Collector => "collector",
            Service::Ioc => "ioc",
            Service::Relay => "relay",
        }
    }

    /// `(access, topic)` pairs under `prefix`.
    fn grants(self, prefix: &str) -> Vec<(&'static str, String)> {
        let nodes_read = [
            ("read", format!("{prefix}/node/+/telemetry")),
            ("read", format!("{prefix}/node/+/status")),
        ];
        let extra = match self {
            Service::Collector => vec![("write", format!("{prefix}/node/+/telemetry"))],
            Service::Ioc => vec![
                ("read", format!("{prefix}/transmission/#")),
                ("write", format!("{prefix}/alerts/#")),
                ("write", format!("{prefix}/node/+/cmd")),
            ],
            Service::Relay => vec![("write", format!("{prefix}/transmission/#"))],
        };
        nodes_read.into_iter().chain(extra).collect()
    }
}

/// A node's broker user name: its MQTT client id too (`node-{id}`, as the firmware connects).
pub fn node_user(node_id: u32) -> String {
    format!("node-{node_id}")
}

/// The ACL text for `services` and the nodes `node_ids` under `prefix`.
pub fn render(prefix: &str, services: &[Service], node_ids: impl IntoIterator<Item = u32>) -> String {
    let mut out = String::from(
        "# Written by citysense-provision from the node registry and the service accounts; it is\n\
         # rewritten at every change, so edit the registry, not this file. Anything not granted\n\
         # here is refused.\n",
    );
    for service in services {
        let _ = writeln!(out, "\nuser {}", service.user());
        for (access, topic) in service.grants(prefix) {
            let _ = writeln!(out, "topic {access} {topic}");
        }
    }
    for id in node_ids {
        let _ = writeln!(out, "\nuser {}", node_user(id));
        let _ = writeln!(out, "topic write {prefix}/node/{id}/telemetry");
        let _ = writeln!(out, "topic write {prefix}/node/{id}/status");
        let _ = writeln!(out, "topic read {prefix}/node/{id}/cmd");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_may_publish_only_under_its_own_id_and_read_only_its_commands() {
        let acl = render("city/haugiang", &[], [201, 7]);
        let node_7: Vec<&str> = acl
            .split("\n\n")
            .find(|block| block.starts_with("user node-7\n"))
            .expect("node 7's block")
            .lines()
            .skip(1)
            .collect();
        assert_eq!(
            node_7,
            [
                "topic write city/haugiang/node/7/telemetry",
                "topic write city/haugiang/node/7/status",
                "topic read city/haugiang/node/7/cmd",
            ]
        );
    }

    #[test]
    fn only_the_ioc_may_send_commands_and_only_the_relay_announces_transmissions() {
        let acl = render("p", &SERVICES, []);
        let block = |user: &str| {
            acl.split("\n\n")
                .find(|b| b.starts_with(&format!("user {user}\n")))
                .unwrap_or_default()
                .to_owned()
        };
        assert!(block("citysense-ioc").contains("topic write p/node/+/cmd"));
        assert!(!block("citysense-collector").contains("/cmd"));
        assert!(!block("citysense-relay").contains("/cmd"));
        assert!(block("citysense-relay").contains("topic write p/transmission/#"));
        assert!(!block("citysense-ioc").contains("write p/transmission"));
    }
}
