//! A plausible Hau Giang station list for demos and tests: air stations in the towns, water
//! stations on the canals, each with a fresh random key.

use protocol::NodeKey;
use protocol::registry::{NodeInfo, Registry, StationKind};
use rand::Rng;

/// (district, station code, name, longitude, latitude) for the province's towns.
const TOWNS: [(&str, &str, &str, f64, f64); 8] = [
    ("Vi Thanh", "VT", "Vi Thanh city centre", 105.4701, 9.7845),
    ("Nga Bay", "NB", "Nga Bay floating market", 105.8199, 9.8116),
    ("Long My", "LM", "Long My town", 105.5716, 9.6800),
    ("Vi Thuy", "VTy", "Nang Mau town", 105.5540, 9.7950),
    ("Chau Thanh", "CT", "Nga Sau town", 105.8366, 9.9278),
    ("Chau Thanh A", "CTA", "Mot Ngan town", 105.6400, 9.9400),
    ("Phung Hiep", "PH", "Cay Duong town", 105.7260, 9.8120),
    ("Long My", "LMt", "Long My market", 105.5960, 9.6500),
];

/// (district, station code, canal name, longitude, latitude) for water stations.
const CANALS: [(&str, &str, &str, f64, f64); 6] = [
    ("Vi Thanh", "XN", "Xa No canal at Vi Thanh", 105.4760, 9.7900),
    ("Long My", "CL", "Cai Lon river at Luong Nghia", 105.5200, 9.6300),
    ("Vi Thuy", "NM", "Nang Mau canal", 105.5600, 9.8000),
    ("Chau Thanh", "CB", "Cai Con canal", 105.8000, 9.9000),
    ("Phung Hiep", "QL", "Quan Lo - Phung Hiep canal", 105.7300, 9.8000),
    ("Nga Bay", "NB", "Cai Con river at Nga Bay", 105.8200, 9.8150),
];

/// A registry with `air` air nodes (ids from 101) and `water` water nodes (ids from 201),
/// placed round-robin over the towns and canals, each with a random 32-byte key.
pub fn hau_giang(air: u32, water: u32) -> Registry {
    let mut rng = rand::rng();
    let mut key = || NodeKey::new(rng.random());
    let air_nodes: Vec<NodeInfo> = (0..air)
        .map(|i| {
            let (district, code, name, lon, lat) = TOWNS[i as usize % TOWNS.len()];
            let round = i as usize / TOWNS.len();
            NodeInfo {
                id: 101 + i,
                station: format!("HG-{code}-A{:02}", round + 1),
                name: if round == 0 {
                    name.to_owned()
                } else {
                    format!("{name} #{}", round + 1)
                },
                kind: StationKind::Air,
                district: district.to_owned(),
                location: Some((lon + 0.004 * round as f64, lat)),
                key: Some(key()),
            }
        })
        .collect();
    let water_nodes: Vec<NodeInfo> = (0..water)
        .map(|i| {
            let (district, code, name, lon, lat) = CANALS[i as usize % CANALS.len()];
            let round = i as usize / CANALS.len();
            NodeInfo {
                id: 201 + i,
                station: format!("HG-{code}-W{:02}", round + 1),
                name: if round == 0 {
                    name.to_owned()
                } else {
                    format!("{name} #{}", round + 1)
                },
                kind: StationKind::Water,
                district: district.to_owned(),
                location: Some((lon, lat + 0.004 * round as f64)),
                key: Some(key()),
            }
        })
        .collect();
    Registry::from_nodes(air_nodes.into_iter().chain(water_nodes))
        .unwrap_or_else(|e| unreachable!("generated ids and station ids are unique: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_registry_is_unique_and_round_trips() {
        let registry = hau_giang(20, 9);
        assert_eq!(registry.len(), 29);
        let stations: std::collections::HashSet<_> = registry.nodes().map(|n| n.station.clone()).collect();
        assert_eq!(stations.len(), 29, "station ids are unique");
        assert_eq!(
            Registry::from_toml(&registry.to_toml()).expect("parses"),
            registry
        );
    }
}
