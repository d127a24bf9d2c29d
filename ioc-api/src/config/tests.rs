use super::*;

#[test]
fn the_shipped_example_is_valid() {
    let config = service::config::from_toml::<Config>(DEFAULT_CONFIG).expect("example is valid");
    assert_eq!(config.indices.min_coverage, 0.75);
    assert_eq!(config.indices.salinity_classes.len(), 4);
}

#[test]
fn errors_name_the_field() {
    let bad = DEFAULT_CONFIG.replace("min_coverage = 0.75", "min_coverage = 1.5");
    let err = service::config::from_toml::<Config>(&bad)
        .expect_err("bad coverage")
        .to_string();
    assert!(err.contains("indices.min_coverage"), "{err}");
    let typo = DEFAULT_CONFIG.replace("offline_after_s", "offline_after");
    let err = service::config::from_toml::<Config>(&typo)
        .expect_err("typo")
        .to_string();
    assert!(err.contains("offline_after"), "{err}");
    let zone = DEFAULT_CONFIG.replace("Asia/Ho_Chi_Minh", "Vietnam time\\\" onload=\\\"x");
    let err = service::config::from_toml::<Config>(&zone)
        .expect_err("bad zone")
        .to_string();
    assert!(err.contains("stations.time_zone"), "{err}");
    let unknown = DEFAULT_CONFIG.replace("Asia/Ho_Chi_Minh", "Asia/Vi_Thanh");
    let err = service::config::from_toml::<Config>(&unknown)
        .expect_err("unknown zone")
        .to_string();
    assert!(err.contains("stations.time_zone"), "{err}");
}

#[test]
fn open_data_errors_name_the_field() {
    let config = service::config::from_toml::<Config>(DEFAULT_CONFIG).expect("example is valid");
    assert_eq!(
        config.open_data.licence,
        "https://creativecommons.org/licenses/by/4.0/"
    );
    for (line, field) in [
        ("base_url = \"quantrac.example.vn\"", "open_data.base_url"),
        (
            "base_url = \"https://quantrac.example.vn/?x=1\"",
            "open_data.base_url",
        ),
        (
            "contact_email = \"opendata at example.vn\"",
            "open_data.contact_email",
        ),
        ("licence = \"CC BY 4.0\"", "open_data.licence"),
        ("homepage = \"ftp://data.example.vn\"", "open_data.homepage"),
        ("publisher = \" \"", "open_data.publisher"),
        ("daily_backfill_days = 0", "open_data.daily_backfill_days"),
    ] {
        let key = line.split(' ').next().unwrap_or_default();
        let bad: String = DEFAULT_CONFIG
            .lines()
            .filter(|l| !l.starts_with(&format!("{key} =")))
            .map(|l| {
                if l == "[open_data]" {
                    format!("{l}\n{line}")
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let err = service::config::from_toml::<Config>(&bad)
            .expect_err(line)
            .to_string();
        assert!(err.contains(field), "{line}: {err}");
    }
    let good = DEFAULT_CONFIG.replace(
        "[open_data]",
        "[open_data]\nbase_url = \"https://example.vn/citysense/\"\ncontact_email = \"open.data+ioc@so-tnmt.example.vn\"",
    );
    assert!(service::config::from_toml::<Config>(&good).is_ok());
}

#[test]
fn secrets_come_from_their_files_and_are_checked_as_if_inline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (password, key, short) = (
        dir.path().join("influx"),
        dir.path().join("hook"),
        dir.path().join("short"),
    );
    std::fs::write(&password, "reader-password\n").expect("written");
    std::fs::write(&key, "0123456789abcdef0123\n").expect("written");
    std::fs::write(&short, "too-short\n").expect("written");
    let with = |key_file: &std::path::Path| {
        format!(
            "{DEFAULT_CONFIG}\n[influx]\nurl = \"http://127.0.0.1:8086\"\ndatabase = \"citysense\"\npassword_file = \"{}\"\n\
             [[webhooks]]\nname = \"sms\"\nurl = \"https://sms.example.vn/hook\"\nsecret_file = \"{}\"\n",
            password.display(),
            key_file.display()
        )
    };
    let config = service::config::from_toml::<Config>(&with(&key)).expect("valid");
    let influx = config.influx.expect("influx");
    assert_eq!(
        influx.password.as_ref().map(Secret::expose),
        Some("reader-password")
    );
    assert_eq!(config.webhooks[0].secret.expose(), "0123456789abcdef0123");
    let err = service::config::from_toml::<Config>(&with(&short))
        .expect_err("a short key")
        .to_string();
    assert!(
        err.contains("webhooks.secret") && !err.contains("too-short"),
        "{err}"
    );
}

#[test]
fn the_example_shows_the_quality_defaults() {
    let config = service::config::from_toml::<Config>(DEFAULT_CONFIG).expect("example is valid");
    assert_eq!(config.quality, crate::quality::QualityConfig::default());
    let deployed = include_str!("../../../deploy/etc/ioc.toml");
    let deployed: toml::Value = toml::from_str(deployed).expect("deploy config parses");
    let quality: crate::quality::QualityConfig = deployed
        .get("quality")
        .cloned()
        .expect("deploy config has [quality]")
        .try_into()
        .expect("its [quality] is valid");
    assert_eq!(quality, crate::quality::QualityConfig::default());
}
