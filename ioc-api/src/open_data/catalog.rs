//! The DCAT catalogue at [`CATALOG_PATH`], in the DCAT-AP style CKAN's ckanext-dcat and other
//! harvesters read: one `dcat:Dataset` per station kind and district, each with the hourly
//! exports filtered to it as its CSV and JSON distributions.
//!
//! Design: the `@context` is inline and maps prefixes only; every property is a compact IRI
//! (`dct:title`) with explicit `@value`/`@language`, `@type` or `@id`. A harvester needs no
//! network to expand it, and no term can silently expand to the wrong IRI, as a remote
//! context or a context with type coercions would allow. The alternative, the DCAT-AP
//! context by URL, needs a fetch at every harvest and has no Vietnamese tags to offer anyway.

use std::collections::{BTreeMap, BTreeSet};

use protocol::registry::{NodeInfo, Registry, StationKind};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::Publication;
use super::span::Span;
use crate::http::{DEFAULT_EXPORT_DAYS, MAX_EXPORT_DAYS};
use crate::live::Param;
use crate::time_fmt::rfc3339_ms;

/// Where the catalogue is served.
pub(crate) const CATALOG_PATH: &str = "/api/v1/open-data/catalog.jsonld";

/// The EU frequency vocabulary's "hourly": the exports gain an hour every hour.
const HOURLY: &str = "http://publications.europa.eu/resource/authority/frequency/HOURLY";
const THEMES: &str = "http://publications.europa.eu/resource/authority/data-theme";
const ENVIRONMENT: &str = "http://publications.europa.eu/resource/authority/data-theme/ENVI";
const LANGUAGES: [&str; 2] = [
    "http://publications.europa.eu/resource/authority/language/VIE",
    "http://publications.europa.eu/resource/authority/language/ENG",
];
const FILE_TYPES: &str = "http://publications.europa.eu/resource/authority/file-type/";
const MEDIA_TYPES: &str = "http://www.iana.org/assignments/media-types/";

/// The words a dataset of one station kind is described with.
struct Words {
    kind: &'static str,
    title_vi: &'static str,
    title_en: &'static str,
    stations_vi: &'static str,
    stations_en: &'static str,
    keywords_vi: &'static [&'static str],
    keywords_en: &'static [&'static str],
}

const AIR: Words = Words {
    kind: "air",
    title_vi: "Chất lượng không khí",
    title_en: "Air quality",
    stations_vi: "trạm quan trắc không khí tự động",
    stations_en: "automatic air-quality monitoring station",
    keywords_vi: &["chất lượng không khí", "bụi mịn", "quan trắc môi trường"],
    keywords_en: &["air quality", "particulate matter", "environmental monitoring"],
};

const WATER: Words = Words {
    kind: "water",
    title_vi: "Chất lượng nước",
    title_en: "Water quality",
    stations_vi: "trạm quan trắc nước mặt tự động",
    stations_en: "automatic surface-water monitoring station",
    keywords_vi: &[
        "chất lượng nước",
        "độ mặn",
        "xâm nhập mặn",
        "quan trắc môi trường",
    ],
    keywords_en: &[
        "water quality",
        "salinity",
        "saline intrusion",
        "environmental monitoring",
    ],
};

fn context() -> Value {
    json!({
        "dcat": "http://www.w3.org/ns/dcat#",
        "dct": "http://purl.org/dc/terms/",
        "foaf": "http://xmlns.com/foaf/0.1/",
        "vcard": "http://www.w3.org/2006/vcard/ns#",
        "locn": "http://www.w3.org/ns/locn#",
        "gsp": "http://www.opengis.net/ont/geosparql#",
        "xsd": "http://www.w3.org/2001/XMLSchema#"
    })
}

/// A text in Vietnamese, then in English.
fn texts(vi: &str, en: &str) -> Value {
    json!([{"@value": vi, "@language": "vi"}, {"@value": en, "@language": "en"}])
}

fn iri(value: &str) -> Value {
    json!({"@id": value})
}

fn date_time(ms: i64) -> Value {
    json!({"@value": rfc3339_ms(i128::from(ms)), "@type": "xsd:dateTime"})
}

fn wkt(text: String) -> Value {
    json!({"@value": text, "@type": "gsp:wktLiteral"})
}

/// ASCII for an identifier: Vietnamese letters without their marks (composed or decomposed),
/// `đ` as `d`, anything else between words as `-`.
fn slug(text: &str) -> String {
    const FAMILIES: [(char, &str); 7] = [
        ('a', "àáảãạăằắẳẵặâầấẩẫậ"),
        ('e', "èéẻẽẹêềếểễệ"),
        ('i', "ìíỉĩị"),
        ('o', "òóỏõọôồốổỗộơờớởỡợ"),
        ('u', "ùúủũụưừứửữự"),
        ('y', "ỳýỷỹỵ"),
        ('d', "đ"),
    ];
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if ('\u{300}'..='\u{36f}').contains(&c) {
            continue;
        }
        let letter = if c.is_ascii_alphanumeric() {
            Some(c)
        } else {
            FAMILIES
                .iter()
                .find(|(_, f)| f.contains(c))
                .map(|(base, _)| *base)
        };
        match letter {
            Some(l) => out.push(l),
            None if !out.is_empty() && !out.ends_with('-') => out.push('-'),
            None => {}
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// A distinct slug per district: two names that lose their difference with the marks
/// ("Châu Thành", "Chậu Thành") must not give two datasets one IRI.
fn district_slugs<'a>(districts: &BTreeSet<&'a str>) -> BTreeMap<&'a str, String> {
    let mut taken = BTreeSet::new();
    let mut slugs = BTreeMap::new();
    for &district in districts {
        let base = match slug(district) {
            s if s.is_empty() => "no-district".to_owned(),
            s => s,
        };
        let mut candidate = base.clone();
        let mut n = 2;
        while !taken.insert(candidate.clone()) {
            candidate = format!("{base}-{n}");
            n += 1;
        }
        slugs.insert(district, candidate);
    }
    slugs
}

/// Where the stations are: the district's name, the stations' points as GeoJSON, their
/// bounding box's centre and, when it has an area, the box itself (WKT, lon lat); `None` for
/// stations with neither a district nor a position.
fn spatial(district: &str, stations: &[&NodeInfo]) -> Option<Value> {
    let mut location = json!({"@type": "dct:Location"});
    if !district.is_empty() {
        location["locn:geographicName"] = json!({"@value": district, "@language": "vi"});
    }
    let mut points: Vec<(f64, f64)> = stations.iter().filter_map(|n| n.location).collect();
    points.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    points.dedup();
    let Some(&(lon, lat)) = points.first() else {
        return (!district.is_empty()).then_some(location);
    };
    let geometry = if points.len() == 1 {
        json!({"type": "Point", "coordinates": [lon, lat]})
    } else {
        let coordinates: Vec<[f64; 2]> = points.iter().map(|&(x, y)| [x, y]).collect();
        json!({"type": "MultiPoint", "coordinates": coordinates})
    };
    location["locn:geometry"] = json!({"@value": geometry.to_string(), "@type": "gsp:geoJSONLiteral"});
    let (mut west, mut east, mut south, mut north) = (lon, lon, lat, lat);
    for &(x, y) in &points {
        (west, east, south, north) = (west.min(x), east.max(x), south.min(y), north.max(y));
    }
    // Rounded to a micro-degree (10 cm): the halving adds float noise to the last digits.
    let centre = |a: f64, b: f64| ((a + b) / 2.0 * 1e6).round() / 1e6;
    location["dcat:centroid"] = wkt(format!("POINT({} {})", centre(west, east), centre(south, north)));
    if west < east && south < north {
        location["dcat:bbox"] = wkt(format!(
            "POLYGON(({west} {south}, {east} {south}, {east} {north}, {west} {north}, {west} {south}))"
        ));
    }
    Some(location)
}

/// One export of a dataset as a `dcat:Distribution`.
struct Export<'a> {
    id: String,
    url: String,
    /// `csv` or `json`.
    format: &'a str,
    media_type: &'a str,
    title_vi: &'a str,
    title_en: &'a str,
}

fn distribution(export: Export<'_>, licence: &str) -> Value {
    let (default, max) = (DEFAULT_EXPORT_DAYS, MAX_EXPORT_DAYS);
    let range_vi = format!(
        "Mặc định {default} ngày gần nhất; thêm from và to (RFC 3339) để chọn khoảng tới {max} ngày."
    );
    let range_en =
        format!("The last {default} days by default; add from and to (RFC 3339) for up to {max} days.");
    json!({
        "@id": export.id,
        "@type": "dcat:Distribution",
        "dct:title": texts(export.title_vi, export.title_en),
        "dct:description": texts(&range_vi, &range_en),
        "dcat:accessURL": iri(&export.url),
        "dcat:downloadURL": iri(&export.url),
        "dcat:mediaType": iri(&format!("{MEDIA_TYPES}{}", export.media_type)),
        "dct:format": iri(&format!("{FILE_TYPES}{}", export.format.to_ascii_uppercase())),
        "dct:license": iri(licence),
    })
}

/// What a dataset covers and how it is described.
struct DatasetOf<'a> {
    words: &'a Words,
    district: &'a str,
    slug: &'a str,
    stations: Vec<&'a NodeInfo>,
}

/// The parts every dataset shares with the catalogue.
struct Shared<'a> {
    publication: &'a Publication,
    catalog_id: String,
    publisher: Value,
    contact: Value,
    now_ms: i64,
}

fn dataset(shared: &Shared<'_>, of: &DatasetOf<'_>, span: Option<Span>) -> Value {
    let w = of.words;
    let id = format!("{}#{}-{}", shared.catalog_id, w.kind, of.slug);
    // A station without a district still belongs to a dataset, named for what it lacks.
    let (place_vi, place_en, in_vi, in_en) = if of.district.is_empty() {
        (
            "trạm chưa gán huyện",
            "stations without a district",
            "chưa gán huyện".to_owned(),
            "with no district set".to_owned(),
        )
    } else {
        (
            of.district,
            of.district,
            format!("ở {}", of.district),
            format!("in {}", of.district),
        )
    };
    let names = of
        .stations
        .iter()
        .map(|n| format!("{} ({})", n.name, n.station))
        .collect::<Vec<_>>()
        .join("; ");
    let water = w.kind == WATER.kind;
    let fields = Param::measurement(water)
        .1
        .iter()
        .map(|p| format!("{} ({})", p.as_str(), p.unit()))
        .collect::<Vec<_>>()
        .join(", ");
    let n = of.stations.len();
    let plural = if n == 1 { "" } else { "s" };
    let description_vi = format!(
        "Trung bình giờ của {n} {} {in_vi}: {names}. Thông số (khi trạm đo) và đơn vị: {fields}.",
        w.stations_vi
    );
    let description_en = format!(
        "Hourly means of {n} {}{plural} {in_en}: {names}. Fields (where the station measures them) and units: {fields}.",
        w.stations_en
    );
    let mut keywords: Vec<Value> = w
        .keywords_vi
        .iter()
        .map(|k| json!({"@value": k, "@language": "vi"}))
        .collect();
    if !of.district.is_empty() {
        keywords.push(json!({"@value": of.district, "@language": "vi"}));
    }
    keywords.extend(
        w.keywords_en
            .iter()
            .map(|k| json!({"@value": k, "@language": "en"})),
    );
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("kind", w.kind)
        .append_pair("district", of.district)
        .finish();
    let base = &shared.publication.base_url;
    let exports = [
        Export {
            id: format!("{id}-csv"),
            url: format!("{base}/api/v1/export/hourly.csv?{query}"),
            format: "csv",
            media_type: "text/csv",
            title_vi: "Trung bình giờ, CSV (UTF-8, đơn vị ở tiêu đề cột)",
            title_en: "Hourly means, CSV (UTF-8, units in the column headers)",
        },
        Export {
            id: format!("{id}-json"),
            url: format!("{base}/api/v1/export/hourly.json?{query}"),
            format: "json",
            media_type: "application/json",
            title_vi: "Trung bình giờ, JSON (đơn vị trong units)",
            title_en: "Hourly means, JSON (units in units)",
        },
    ];
    let licence = &shared.publication.licence;
    let mut d = json!({
        "@id": id,
        "@type": "dcat:Dataset",
        "dct:identifier": id,
        "dct:title": texts(&format!("{} – {place_vi}", w.title_vi), &format!("{} – {place_en}", w.title_en)),
        "dct:description": texts(&description_vi, &description_en),
        "dcat:keyword": keywords,
        "dcat:theme": iri(ENVIRONMENT),
        "dct:accrualPeriodicity": iri(HOURLY),
        "dcat:temporalResolution": {"@value": "PT1H", "@type": "xsd:duration"},
        "dct:publisher": shared.publisher.clone(),
        "dcat:contactPoint": shared.contact.clone(),
        "dct:license": iri(licence),
        "dcat:distribution": exports.into_iter().map(|e| distribution(e, licence)).collect::<Vec<_>>(),
    });
    if let Some(place) = spatial(of.district, &of.stations) {
        d["dct:spatial"] = place;
    }
    if let Some(span) = span {
        d["dct:temporal"] = json!({
            "@type": "dct:PeriodOfTime",
            "dcat:startDate": date_time(span.start_ms),
            "dcat:endDate": date_time(span.end_ms),
        });
        // The hour in progress ends in the future; it changed now.
        d["dct:modified"] = date_time(span.end_ms.min(shared.now_ms));
    }
    d
}

/// The catalogue of the registry's stations, with each dataset's `dct:temporal` from `spans`
/// (stations without a span have no data yet), as of `now`.
pub(crate) fn catalog(
    publication: &Publication,
    registry: &Registry,
    spans: &BTreeMap<String, Span>,
    now: OffsetDateTime,
) -> Value {
    let catalog_id = format!("{}{CATALOG_PATH}", publication.base_url);
    let publisher = json!({
        "@id": format!("{catalog_id}#publisher"),
        "@type": "foaf:Agent",
        "foaf:name": publication.publisher,
    });
    let mut contact = json!({
        "@id": format!("{catalog_id}#contact"),
        "@type": "vcard:Organization",
        "vcard:fn": publication.publisher,
    });
    if let Some(email) = &publication.contact_email {
        contact["vcard:hasEmail"] = iri(&format!("mailto:{email}"));
    }
    let shared = Shared {
        publication,
        catalog_id,
        publisher,
        contact,
        now_ms: (now.unix_timestamp_nanos() / 1_000_000) as i64,
    };

    let mut groups: BTreeMap<(bool, &str), Vec<&NodeInfo>> = BTreeMap::new();
    for node in registry.nodes() {
        let water = node.kind == StationKind::Water;
        groups
            .entry((water, node.district.as_str()))
            .or_default()
            .push(node);
    }
    let slugs = district_slugs(&groups.keys().map(|(_, d)| *d).collect());
    let mut modified: Option<i64> = None;
    let datasets: Vec<Value> = groups
        .into_iter()
        .map(|((water, district), mut stations)| {
            stations.sort_by(|a, b| a.station.cmp(&b.station));
            let span = stations
                .iter()
                .filter_map(|n| spans.get(&n.station).copied())
                .reduce(Span::union);
            if let Some(s) = span {
                let changed = s.end_ms.min(shared.now_ms);
                modified = Some(modified.map_or(changed, |m| m.max(changed)));
            }
            let of = DatasetOf {
                words: if water { &WATER } else { &AIR },
                district,
                slug: slugs.get(district).map_or("no-district", String::as_str),
                stations,
            };
            dataset(&shared, &of, span)
        })
        .collect();

    json!({
        "@context": context(),
        "@id": shared.catalog_id,
        "@type": "dcat:Catalog",
        "dct:title": texts("Dữ liệu quan trắc môi trường tự động", "Automatic environmental monitoring data"),
        "dct:description": texts(
            "Trung bình giờ đo tại các trạm quan trắc không khí và nước tự động: mỗi bộ dữ liệu là một loại trạm ở một huyện, thị xã hoặc thành phố, tải về dạng CSV hoặc JSON.",
            "Hourly means measured at the automatic air and water monitoring stations: each dataset is one kind of station in one district, town or city, downloadable as CSV or JSON."
        ),
        "dct:publisher": shared.publisher,
        "dct:license": iri(&publication.licence),
        "foaf:homepage": iri(&publication.homepage),
        "dct:language": LANGUAGES.iter().map(|l| iri(l)).collect::<Vec<_>>(),
        "dcat:themeTaxonomy": iri(THEMES),
        "dct:modified": date_time(modified.unwrap_or(shared.now_ms)),
        "dcat:dataset": datasets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_drop_the_marks_of_composed_and_decomposed_letters() {
        assert_eq!(slug("Vị Thanh"), "vi-thanh");
        assert_eq!(slug("Châu Thành A"), "chau-thanh-a");
        assert_eq!(slug("TX. Ngã Bảy"), "tx-nga-bay");
        assert_eq!(slug("Đức Long Mỹ"), "duc-long-my");
        // "Vị" with the dot below as a combining mark (NFD).
        assert_eq!(slug("Vi\u{323} Thanh"), "vi-thanh");
        let districts = BTreeSet::from(["Châu Thành", "Chậu Thành", ""]);
        let slugs = district_slugs(&districts);
        assert_eq!(slugs[""], "no-district");
        let distinct: BTreeSet<&String> = slugs.values().collect();
        assert_eq!(distinct.len(), 3, "{slugs:?}");
    }

    #[test]
    fn one_station_is_a_point_several_a_box() {
        let node = |station: &str, location| NodeInfo {
            id: 1,
            station: station.into(),
            name: station.into(),
            kind: StationKind::Air,
            district: "Vị Thanh".into(),
            location,
            key: None,
        };
        let (a, b, c) = (
            node("A", Some((105.47, 9.78))),
            node("B", Some((105.45, 9.77))),
            node("C", None),
        );
        let one = spatial("Vị Thanh", &[&a, &c]).expect("a place");
        let geometry: Value = one["locn:geometry"]["@value"]
            .as_str()
            .and_then(|g| serde_json::from_str(g).ok())
            .unwrap_or_default();
        assert_eq!(geometry, json!({"type": "Point", "coordinates": [105.47, 9.78]}));
        assert_eq!(one["dcat:centroid"]["@value"], "POINT(105.47 9.78)");
        assert!(one.get("dcat:bbox").is_none(), "a point has no box: {one}");
        let two = spatial("Vị Thanh", &[&a, &b]).expect("a place");
        assert_eq!(
            two["dcat:bbox"]["@value"],
            "POLYGON((105.45 9.77, 105.47 9.77, 105.47 9.78, 105.45 9.78, 105.45 9.77))"
        );
        assert_eq!(two["dcat:centroid"]["@value"], "POINT(105.46 9.775)");
        assert_eq!(two["locn:geographicName"]["@value"], "Vị Thanh");
        assert!(spatial("", &[&c]).is_none(), "nowhere to say");
        assert!(spatial("Vị Thanh", &[&c]).is_some_and(|p| p.get("locn:geometry").is_none()));
    }
}
