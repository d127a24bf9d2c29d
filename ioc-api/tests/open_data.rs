//! The open-data catalogue over stations in three districts: one DCAT dataset per station kind
//! and district with Vietnamese titles, distributions that answer 200 through the same router
//! and hold only their dataset's rows, the exports' `district` filter, and the document's
//! validity as JSON-LD, checked by pyld (`dcat_jsonld.py`).

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use axum::http::StatusCode;
use common::{Api, MINUTE};
use ioc_api::live::HOUR_MS;
use ioc_api::store::Store;
use protocol::registry::{NodeInfo, Registry, StationKind};
use protocol::{AirSample, Body, WaterSample};
use serde_json::Value;
use time::OffsetDateTime;

/// A public address behind a reverse proxy, with a path: the links must keep it.
const BASE: &str = "https://quantrac.haugiang.example/citysense";
const CATALOG: &str = "/api/v1/open-data/catalog.jsonld";

fn station(
    id: u32,
    station: &str,
    name: &str,
    kind: StationKind,
    district: &str,
    at: (f64, f64),
) -> NodeInfo {
    NodeInfo {
        id,
        station: station.into(),
        name: name.into(),
        kind,
        district: district.into(),
        location: Some(at),
        key: None,
    }
}

fn registry() -> Registry {
    use StationKind::{Air, Water};
    Registry::from_nodes([
        station(
            101,
            "HG-VT-A01",
            "Trung tâm TP. Vị Thanh",
            Air,
            "Vị Thanh",
            (105.4701, 9.7845),
        ),
        station(102, "HG-VT-A02", "Phường V", Air, "Vị Thanh", (105.4520, 9.7702)),
        station(
            103,
            "HG-CTA-A01",
            "Thị trấn Một Ngàn",
            Air,
            "Châu Thành A",
            (105.64, 9.94),
        ),
        station(
            201,
            "HG-VT-W01",
            "Kênh Xà No tại Vị Thanh",
            Water,
            "Vị Thanh",
            (105.476, 9.79),
        ),
        station(
            202,
            "HG-PH-W01",
            "Sông Cái Côn",
            Water,
            "Phụng Hiệp",
            (105.8, 9.9),
        ),
    ])
    .expect("valid registry")
}

/// Two hours of five-minute frames from every station, starting three hours before now, saved
/// to the local history; returns the first frame's hour (ms).
fn api() -> (Api, u64) {
    let mut config = common::config();
    config.open_data.base_url = Some(format!("{BASE}/"));
    config.open_data.contact_email = Some("opendata@haugiang.example".into());
    let api = Api::with_registry(config, registry(), Store::in_memory().expect("db"));
    let now = OffsetDateTime::now_utc();
    let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as u64;
    let start = now_ms - now_ms % HOUR_MS - 3 * HOUR_MS;
    for step in 0..24u64 {
        let t = start + step * 5 * MINUTE;
        for node in [101, 102, 103] {
            let air = AirSample {
                samples: 1,
                pm2_5: Some(200 + node as u16),
                ..AirSample::default()
            };
            api.frame(node, t, Body::Air(air), now);
        }
        for node in [201, 202] {
            let water = WaterSample {
                samples: 1,
                ph: Some(7_100),
                conductivity: Some(1_800),
                temperature: Some(2_900),
                ..WaterSample::default()
            };
            api.frame(node, t, Body::Water(water), now);
        }
    }
    api.state.save_history();
    (api, start)
}

async fn catalog(api: &Api) -> (String, Value) {
    let (status, content_type, text) = api.get_text(CATALOG).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(content_type, "application/ld+json");
    (text.clone(), serde_json::from_str(&text).expect("JSON"))
}

/// The `@value` of the text in `language`.
fn text<'a>(texts: &'a Value, language: &str) -> &'a str {
    texts
        .as_array()
        .and_then(|all| all.iter().find(|t| t["@language"] == language))
        .and_then(|t| t["@value"].as_str())
        .unwrap_or_default()
}

fn rfc3339(ms: u64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .expect("time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

#[tokio::test]
async fn a_dataset_per_kind_and_district_whose_distributions_answer_with_its_rows() {
    let (api, start) = api();
    let (raw, doc) = catalog(&api).await;
    assert_eq!(doc["@type"], "dcat:Catalog");
    assert_eq!(doc["@id"], format!("{BASE}{CATALOG}"));
    assert_eq!(doc["dct:title"][0]["@language"], "vi", "Vietnamese first");
    assert_eq!(
        doc["dct:license"]["@id"], "https://creativecommons.org/licenses/by/4.0/",
        "the default licence"
    );
    // Diacritics as UTF-8, not as \u escapes a portal would have to decode.
    assert!(raw.contains("Chất lượng không khí – Vị Thanh"), "{raw}");

    let datasets = doc["dcat:dataset"].as_array().expect("datasets");
    let by_title: BTreeMap<&str, &Value> = datasets
        .iter()
        .map(|d| (text(&d["dct:title"], "vi"), d))
        .collect();
    let titles: Vec<&str> = by_title.keys().copied().collect();
    assert_eq!(
        titles,
        [
            "Chất lượng không khí – Châu Thành A",
            "Chất lượng không khí – Vị Thanh",
            "Chất lượng nước – Phụng Hiệp",
            "Chất lượng nước – Vị Thanh",
        ]
    );
    let vi_thanh_air = by_title["Chất lượng không khí – Vị Thanh"];
    assert_eq!(text(&vi_thanh_air["dct:title"], "en"), "Air quality – Vị Thanh");
    assert_eq!(
        vi_thanh_air["@id"],
        format!("{BASE}{CATALOG}#air-vi-thanh"),
        "an ASCII identifier from the district's name"
    );
    assert_eq!(vi_thanh_air["dct:identifier"], vi_thanh_air["@id"]);
    assert!(
        text(&vi_thanh_air["dct:description"], "vi").contains("Trung tâm TP. Vị Thanh (HG-VT-A01)"),
        "{vi_thanh_air}"
    );
    assert_eq!(
        vi_thanh_air["dct:spatial"]["dcat:bbox"]["@value"],
        "POLYGON((105.452 9.7702, 105.4701 9.7702, 105.4701 9.7845, 105.452 9.7845, 105.452 9.7702))",
        "the box around its two stations"
    );
    assert_eq!(
        vi_thanh_air["dct:temporal"]["dcat:startDate"]["@value"],
        rfc3339(start),
        "the data starts with the first hour fed"
    );
    assert_eq!(
        vi_thanh_air["dct:temporal"]["dcat:endDate"]["@value"],
        rfc3339(start + 2 * HOUR_MS)
    );
    assert_eq!(
        vi_thanh_air["dct:accrualPeriodicity"]["@id"],
        "http://publications.europa.eu/resource/authority/frequency/HOURLY"
    );
    assert_eq!(
        vi_thanh_air["dcat:contactPoint"]["vcard:hasEmail"]["@id"],
        "mailto:opendata@haugiang.example"
    );
    let one_station = &by_title["Chất lượng không khí – Châu Thành A"]["dct:spatial"];
    assert!(one_station.get("dcat:bbox").is_none(), "{one_station}");
    assert_eq!(one_station["dcat:centroid"]["@value"], "POINT(105.64 9.94)");

    for dataset in datasets {
        let district = dataset["dct:spatial"]["locn:geographicName"]["@value"]
            .as_str()
            .expect("district");
        let kind = if text(&dataset["dct:title"], "en").starts_with("Air") {
            "air"
        } else {
            "water"
        };
        let distributions = dataset["dcat:distribution"].as_array().expect("distributions");
        assert_eq!(distributions.len(), 2, "CSV and JSON: {dataset}");
        for distribution in distributions {
            let url = distribution["dcat:downloadURL"]["@id"].as_str().expect("URL");
            assert_eq!(distribution["dcat:accessURL"]["@id"], url);
            let path = url
                .strip_prefix(BASE)
                .unwrap_or_else(|| panic!("{url} is not under the base URL {BASE}"));
            let (status, content_type, body) = api.get_text(path).await;
            assert_eq!(status, StatusCode::OK, "{url}: {body}");
            if distribution["dcat:mediaType"]["@id"] == "http://www.iana.org/assignments/media-types/text/csv"
            {
                assert_eq!(content_type, "text/csv; charset=utf-8", "{url}");
                let rows: Vec<Vec<&str>> = body.lines().skip(1).map(|l| l.split(',').collect()).collect();
                assert!(!rows.is_empty(), "{url}: no rows");
                assert!(
                    rows.iter().all(|r| r[2] == district && r[3] == kind),
                    "{url} holds other rows:\n{body}"
                );
            } else {
                assert_eq!(content_type, "application/json", "{url}");
                let export: Value = serde_json::from_str(&body).expect("JSON");
                let rows = export["rows"].as_array().expect("rows");
                assert!(!rows.is_empty(), "{url}: no rows");
                assert!(
                    rows.iter()
                        .all(|r| r["district"] == district && r["kind"] == kind),
                    "{url} holds other rows: {export}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_exports_take_a_url_encoded_district_and_name_an_unknown_one() {
    let (api, _) = api();
    let stations_of = |export: &Value| -> Vec<String> {
        let mut ids: Vec<String> = export["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["station"].as_str().map(str::to_owned))
            .collect();
        ids.dedup();
        ids
    };
    for encoded in ["Ch%C3%A2u%20Th%C3%A0nh%20A", "Ch%C3%A2u+Th%C3%A0nh+A"] {
        let (status, export) = api
            .get(&format!("/api/v1/export/hourly.json?district={encoded}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{export}");
        assert_eq!(stations_of(&export), ["HG-CTA-A01"], "{encoded}");
    }
    let (_, both) = api
        .get("/api/v1/export/hourly.json?district=V%E1%BB%8B%20Thanh")
        .await;
    assert_eq!(stations_of(&both), ["HG-VT-A01", "HG-VT-A02", "HG-VT-W01"]);
    // The registry's names, exactly: the name without its marks is another district.
    for unknown in ["Vi%20Thanh", "H%C3%A0%20N%E1%BB%99i"] {
        let (status, body) = api
            .get(&format!("/api/v1/export/hourly.csv?district={unknown}"))
            .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("district")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn pyld_expands_the_catalogue_offline_into_the_dcat_terms() {
    let (api, _) = api();
    let (raw, _) = catalog(&api).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("catalog.jsonld");
    std::fs::write(&file, raw).expect("write");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dcat_jsonld.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): scripts/test installs it, with pyld"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.success(),
        "dcat_jsonld.py failed ({}):\n{stderr}{stdout}",
        output.status
    );
    assert!(
        stdout.contains("dcat_jsonld: 4 datasets, 8 distributions"),
        "{stdout}"
    );
}
