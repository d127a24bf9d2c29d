//! Bands of the indices: names in Vietnamese and English, colours (domain.md §1.1, §2.1, §3.6).

use serde::Serialize;
use utoipa::ToSchema;

/// The band an index value falls in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Band {
    /// Stable code (`good`, `moderate`, ...).
    pub code: &'static str,
    /// Vietnamese name as the decision writes it.
    pub name_vi: &'static str,
    /// English name.
    pub name_en: &'static str,
    /// Colour as `#RRGGBB`.
    pub colour: &'static str,
}

const fn band(
    code: &'static str,
    name_vi: &'static str,
    name_en: &'static str,
    colour: &'static str,
) -> Band {
    Band {
        code,
        name_vi,
        name_en,
        colour,
    }
}

/// VN_AQI bands, Decision 1459 Bảng 1 [V] (domain.md §1.1): upper bound of each band and the band.
const VN_AQI: [(u16, Band); 6] = [
    (50, band("good", "Tốt", "Good", "#00E400")),
    (100, band("moderate", "Trung bình", "Moderate", "#FFFF00")),
    (150, band("poor", "Kém", "Poor", "#FF7E00")),
    (200, band("bad", "Xấu", "Bad", "#FF0000")),
    (300, band("very_bad", "Rất xấu", "Very bad", "#8F3F97")),
    (u16::MAX, band("hazardous", "Nguy hại", "Hazardous", "#7E0023")),
];

/// US EPA AQI categories (domain.md §2.1); same colours as VN_AQI.
const US_AQI: [(u16, Band); 6] = [
    (50, band("good", "Tốt", "Good", "#00E400")),
    (100, band("moderate", "Trung bình", "Moderate", "#FFFF00")),
    (
        150,
        band(
            "unhealthy_for_sensitive_groups",
            "Có hại cho nhóm nhạy cảm",
            "Unhealthy for Sensitive Groups",
            "#FF7E00",
        ),
    ),
    (
        200,
        band("unhealthy", "Có hại cho sức khỏe", "Unhealthy", "#FF0000"),
    ),
    (
        300,
        band("very_unhealthy", "Rất có hại", "Very Unhealthy", "#8F3F97"),
    ),
    (u16::MAX, band("hazardous", "Nguy hại", "Hazardous", "#7E0023")),
];

/// VN_WQI bands, "Table 7 in vn-wqi guide" [I] (domain.md §3.6): lower bound and band, highest
/// first. The Good band is 76–90 as the guide writes it (S14's `>= 75` overlaps the band below).
const VN_WQI: [(u16, Band); 6] = [
    (91, band("very_good", "Rất tốt", "Very good", "#3333FF")),
    (76, band("good", "Tốt", "Good", "#00E400")),
    (51, band("medium", "Trung bình", "Medium", "#FFFF00")),
    (26, band("bad", "Xấu", "Bad", "#FF7E00")),
    (10, band("poor", "Kém", "Poor", "#FF0000")),
    (
        0,
        band(
            "very_heavily_polluted",
            "Ô nhiễm rất nặng",
            "Very heavily polluted",
            "#7E0023",
        ),
    ),
];

fn upper_bound(table: &'static [(u16, Band)], value: u16) -> Band {
    table
        .iter()
        .find(|(upper, _)| value <= *upper)
        .map_or_else(|| table[table.len() - 1].1.clone(), |(_, b)| b.clone())
}

/// The VN_AQI band of an index value.
pub fn vn_aqi(value: u16) -> Band {
    upper_bound(&VN_AQI, value)
}

/// The VN_AQI bands with the upper bound of each, lowest first: the map's legend.
pub fn vn_aqi_bands() -> Vec<(u16, Band)> {
    VN_AQI.to_vec()
}

/// The US EPA AQI category of an index value.
pub fn us_aqi(value: u16) -> Band {
    upper_bound(&US_AQI, value)
}

/// The VN_WQI band of an index value.
pub fn vn_wqi(value: u16) -> Band {
    VN_WQI
        .iter()
        .find(|(lower, _)| value >= *lower)
        .map_or_else(|| VN_WQI[VN_WQI.len() - 1].1.clone(), |(_, b)| b.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_edges() {
        assert_eq!(vn_aqi(50).code, "good");
        assert_eq!(vn_aqi(51).code, "moderate");
        assert_eq!(vn_aqi(300).code, "very_bad");
        assert_eq!(vn_aqi(301).name_vi, "Nguy hại");
        assert_eq!(us_aqi(101).code, "unhealthy_for_sensitive_groups");
        assert_eq!(vn_wqi(91).code, "very_good");
        assert_eq!(vn_wqi(90).code, "good");
        assert_eq!(vn_wqi(76).code, "good");
        assert_eq!(vn_wqi(75).code, "medium");
        assert_eq!(vn_wqi(10).code, "poor");
        assert_eq!(vn_wqi(9).colour, "#7E0023");
    }
}
