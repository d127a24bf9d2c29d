//! Provisioning steps on a temporary folder: what each writes, with which modes, and that a
//! rotation or a revocation leaves the old secrets useless.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use protocol::registry::{Registry, StationKind};
use provision::acl::Service;
use provision::blob::SettingsBlob;
use provision::passwd::PasswordFile;
use provision::{AccountChange, Layout, NewNode, Provisioner};

fn node(id: u32) -> NewNode {
    NewNode {
        id,
        station: format!("HG-VT-A{id}"),
        name: "Trạm Vị Thanh".into(),
        kind: StationKind::Air,
        district: "Vị Thanh".into(),
        location: Some((105.47, 9.78)),
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

fn passwd(p: &Provisioner) -> PasswordFile {
    PasswordFile::parse(&std::fs::read_to_string(p.layout().passwd()).expect("passwd")).expect("parses")
}

#[test]
fn add_rotate_and_revoke_a_node_keep_registry_broker_files_and_blob_in_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = Provisioner::new(Layout::new(dir.path(), None), "city/haugiang");

    let blob_path = p.add_node(node(205), "mqtt.haugiang.vn:8883").expect("added");
    let blob = SettingsBlob::decode(&std::fs::read(&blob_path).expect("blob")).expect("a blob");
    assert_eq!(
        (blob.node_id, blob.broker.as_str()),
        (205, "mqtt.haugiang.vn:8883")
    );
    let registry = Registry::load(p.layout().registry()).expect("registry");
    let key = registry.get(205).and_then(|n| n.key.clone()).expect("a key");
    assert_eq!(key.as_bytes(), &blob.key, "the blob carries the registry's key");
    assert!(passwd(&p).verify("node-205", blob.password()));
    let acl = std::fs::read_to_string(p.layout().acl()).expect("acl");
    assert!(acl.contains("user node-205\ntopic write city/haugiang/node/205/telemetry\n"));
    assert_eq!(mode(&blob_path), 0o600);
    assert_eq!(mode(p.layout().registry()), 0o640);
    assert_eq!(mode(&p.layout().acl()), 0o644);

    let again = p.add_node(node(205), "mqtt.haugiang.vn:8883").expect_err("twice");
    assert!(again.to_string().contains("node rotate"), "{again}");

    p.rotate_node(205, "mqtt.haugiang.vn:8883").expect("rotated");
    let rotated = SettingsBlob::decode(&std::fs::read(&blob_path).expect("blob")).expect("a blob");
    assert_ne!(rotated.key, blob.key);
    assert!(
        !passwd(&p).verify("node-205", blob.password()),
        "the old password is gone"
    );
    assert!(passwd(&p).verify("node-205", rotated.password()));

    p.revoke_node(205).expect("revoked");
    assert!(
        Registry::load(p.layout().registry())
            .expect("registry")
            .get(205)
            .is_none()
    );
    assert!(!passwd(&p).contains("node-205"));
    assert!(
        !std::fs::read_to_string(p.layout().acl())
            .expect("acl")
            .contains("node-205")
    );
    assert!(!blob_path.exists(), "the blob is removed");
    assert!(p.revoke_node(205).is_err(), "only once");
}

#[test]
fn service_accounts_are_made_once_and_rotated_on_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = Provisioner::new(Layout::new(dir.path(), None), "city/haugiang");
    let first = p.service_accounts(&[]).expect("made");
    assert!(
        first.iter().all(|(_, c)| *c == AccountChange::Created),
        "{first:?}"
    );
    let secret = |s| std::fs::read_to_string(p.layout().secret(s)).expect("secret");
    let ioc = secret(Service::Ioc);
    assert!(passwd(&p).verify("citysense-ioc", &ioc));
    assert_eq!(mode(&p.layout().secret(Service::Ioc)), 0o640);

    let second = p.service_accounts(&[Service::Relay]).expect("again");
    assert_eq!(
        second,
        [
            (Service::Collector, AccountChange::Kept),
            (Service::Ioc, AccountChange::Kept),
            (Service::Relay, AccountChange::Rotated),
        ]
    );
    assert_eq!(secret(Service::Ioc), ioc, "kept");
    assert!(passwd(&p).verify("citysense-relay", &secret(Service::Relay)));
    let acl = std::fs::read_to_string(p.layout().acl()).expect("acl");
    assert!(acl.contains("user citysense-ioc\n") && acl.contains("topic write city/haugiang/node/+/cmd"));
}
