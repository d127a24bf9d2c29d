//! A plausible Hậu Giang station list for demos and tests: air stations in the towns, water
//! stations on the canals, each with a fresh random key. Names and districts are written as the
//! province writes them, with their diacritics; station ids stay ASCII.

use protocol::NodeKey;
use protocol::registry::{NodeInfo, Registry, StationKind};
use rand::Rng;

/// A place for a station: (district, station code, name, longitude, latitude).
type Site = (&'static str, &'static str, &'static str, f64, f64);

/// The province's towns, for air stations.
const TOWNS: [Site; 8] = [
    ("Vị Thanh", "VT", "Trung tâm TP. Vị Thanh", 105.4701, 9.7845),
    ("Ngã Bảy", "NB", "Chợ nổi Ngã Bảy", 105.8199, 9.8116),
    ("Long Mỹ", "LM", "Thị xã Long Mỹ", 105.5716, 9.6800),
    ("Vị Thủy", "VTy", "Thị trấn Nàng Mau", 105.5540, 9.7950),
    ("Châu Thành", "CT", "Thị trấn Ngã Sáu", 105.8366, 9.9278),
    ("Châu Thành A", "CTA", "Thị trấn Một Ngàn", 105.6400, 9.9400),
    ("Phụng Hiệp", "PH", "Thị trấn Cây Dương", 105.7260, 9.8120),
    ("Long Mỹ", "LMt", "Chợ Long Mỹ", 105.5960, 9.6500),
];

/// Canals and rivers, for water stations.
const CANALS: [Site; 6] = [
    ("Vị Thanh", "XN", "Kênh Xà No tại Vị Thanh", 105.4760, 9.7900),
    ("Long Mỹ", "CL", "Sông Cái Lớn tại Lương Nghĩa", 105.5200, 9.6300),
    ("Vị Thủy", "NM", "Kênh Nàng Mau", 105.5600, 9.8000),
    ("Châu Thành", "CB", "Kênh Cái Côn", 105.8000, 9.9000),
    ("Phụng Hiệp", "QL", "Kênh Quản Lộ – Phụng Hiệp", 105.7300, 9.8000),
    ("Ngã Bảy", "NB", "Sông Cái Côn tại Ngã Bảy", 105.8200, 9.8150),
];

/// A registry with `air` air nodes (ids from 101) and `water` water nodes (ids from 201, or right
/// after the air ids when there are more than 100), placed round-robin over the towns and canals,
/// each with a random 32-byte key.
pub fn hau_giang(air: u32, water: u32) -> Registry {
    let mut rng = rand::rng();
    let mut key = || NodeKey::new(rng.random());
    let water_first_id = 201.max(101 + air);
    let nodes = place(&TOWNS, air, 101, StationKind::Air, &mut key)
        .into_iter()
        .chain(place(
            &CANALS,
            water,
            water_first_id,
            StationKind::Water,
            &mut key,
        ));
    Registry::from_nodes(nodes)
        .unwrap_or_else(|e| unreachable!("generated ids and station ids are unique: {e}"))
}

/// `count` nodes of `kind` from `first_id`, round-robin over `sites`; the second round at a site
/// gets `#2` in its name and stands a little east.
fn place(
    sites: &[Site],
    count: u32,
    first_id: u32,
    kind: StationKind,
    key: &mut impl FnMut() -> NodeKey,
) -> Vec<NodeInfo> {
    let letter = if kind == StationKind::Air { 'A' } else { 'W' };
    (0..count)
        .map(|i| {
            let (district, code, name, lon, lat) = sites[i as usize % sites.len()];
            let round = i as usize / sites.len();
            NodeInfo {
                id: first_id + i,
                station: format!("HG-{code}-{letter}{:02}", round + 1),
                name: if round == 0 {
                    name.to_owned()
                } else {
                    format!("{name} #{}", round + 1)
                },
                kind,
                district: district.to_owned(),
                location: Some((lon + 0.004 * round as f64, lat)),
                key: Some(key()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_registry_is_unique_and_round_trips() {
        let registry = hau_giang(20, 9);
        assert_eq!(registry.len(), 29);
        assert_eq!(
            hau_giang(150, 10).len(),
            160,
            "more than 100 air nodes do not collide with water ids"
        );
        let stations: std::collections::HashSet<_> = registry.nodes().map(|n| n.station.clone()).collect();
        assert_eq!(stations.len(), 29, "station ids are unique");
        assert_eq!(
            Registry::from_toml(&registry.to_toml()).expect("parses"),
            registry
        );
    }
}
