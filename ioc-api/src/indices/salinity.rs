//! Salinity from conductivity and temperature (PSS-78 with the Hill et al. 1986 extension below
//! S = 2), and the salinity classes the IOC reports (domain.md §5).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Conductivity of standard seawater C(35, 15, 0), mS/cm.
const C_35_15_0: f64 = 42.914;
const A: [f64; 6] = [0.0080, -0.1692, 25.3851, 14.0941, -7.0261, 2.7081];
const B: [f64; 6] = [0.0005, -0.0056, -0.0066, -0.0375, 0.0636, -0.0144];

/// Practical salinity (≈ ‰ for seawater-derived salt) from in-situ conductivity in µS/cm and
/// temperature in °C, at the surface (p = 0). PSS-78 is defined for 2 < S < 42 and −2 < t < 35 °C;
/// below S = 2 the Hill extension applies. `None` for a negative or non-finite input.
pub fn practical_salinity(conductivity_us_cm: f64, t_c: f64) -> Option<f64> {
    if !(conductivity_us_cm.is_finite() && t_c.is_finite()) || conductivity_us_cm < 0.0 {
        return None;
    }
    let r = conductivity_us_cm / 1_000.0 / C_35_15_0;
    let rt_ratio = 0.676_609_7 + 0.020_056_4 * t_c + 1.104_259e-4 * t_c.powi(2) - 6.9698e-7 * t_c.powi(3)
        + 1.0031e-9 * t_c.powi(4);
    let rt = r / rt_ratio;
    let dt = (t_c - 15.0) / (1.0 + 0.0162 * (t_c - 15.0));
    let sqrt_rt = rt.sqrt();
    let (mut sum_a, mut sum_b, mut power) = (0.0, 0.0, 1.0);
    for k in 0..6 {
        sum_a += A[k] * power;
        sum_b += B[k] * power;
        power *= sqrt_rt;
    }
    let mut s = sum_a + dt * sum_b;
    if s < 2.0 {
        let x = 400.0 * rt;
        let y = 100.0 * rt;
        s -= A[0] / (1.0 + 1.5 * x + x * x) + B[0] * dt / (1.0 + y.sqrt() + y + y.powf(1.5));
    }
    Some(s.max(0.0))
}

/// One salinity class: from `from_ppt` (inclusive) up to the next class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SalinityClass {
    /// Lower bound, ‰.
    pub from_ppt: f64,
    /// Stable code.
    pub code: String,
    /// English label.
    pub name_en: String,
    /// Vietnamese label.
    pub name_vi: String,
    /// Colour `#RRGGBB`.
    pub colour: String,
}

fn class(from_ppt: f64, code: &str, name_en: &str, name_vi: &str, colour: &str) -> SalinityClass {
    SalinityClass {
        from_ppt,
        code: code.into(),
        name_en: name_en.into(),
        name_vi: name_vi.into(),
        colour: colour.into(),
    }
}

/// The default classes (domain.md §5.1), configurable as `[[indices.salinity_classes]]`:
/// - below 0.45 ‰: fresh. 0.45 ‰ is the QCVN 08:2023 Table 1 chloride limit for domestic
///   supply, 250 mg/L Cl⁻, as salinity by the seawater ratio S = 1.80655·Cl (S34).
/// - from 0.45 ‰: above the drinking-water chloride limit.
/// - from 1 ‰: caution for crops ("most plants can only tolerate 1 g/L", S27).
/// - from 4 ‰: the intrusion isohaline tracked in the MARD/SIWRR bulletins (S27–S29).
///
/// The often-quoted ≈2 ‰ rice-seedling limit is unconfirmed [U] and not a default class; add it in
/// the config where the province uses it.
///
/// Colours: fresh water blue, then yellow, orange and dark brown (ColorBrewer YlOrBr), darker as it
/// gets saltier, so the order reads by lightness alone and a deuteranope still tells every class
/// apart (the test below checks it).
pub fn default_classes() -> Vec<SalinityClass> {
    vec![
        class(0.0, "fresh", "Fresh", "Nước ngọt", "#2166AC"),
        class(
            DRINKING_LIMIT_PPT,
            "above_drinking_limit",
            "Above the drinking-water chloride limit",
            "Vượt ngưỡng clorua nước cấp sinh hoạt",
            "#FEE391",
        ),
        class(
            1.0,
            "crop_caution",
            "Caution for crops",
            "Cảnh báo cho cây trồng",
            "#FB9A29",
        ),
        class(
            4.0,
            "intrusion",
            "Saline intrusion (4 ‰ isohaline)",
            "Xâm nhập mặn (đường đẳng mặn 4 ‰)",
            "#993404",
        ),
    ]
}

/// QCVN 08:2023 Table 1 Cl⁻ limit 250 mg/L as salinity: 1.80655 × 0.25 ‰ (domain.md §5.1).
pub const DRINKING_LIMIT_PPT: f64 = 1.80655 * 0.25;

/// The class `salinity_ppt` falls in: the last class whose lower bound it reaches. `classes`
/// must be sorted by `from_ppt` (the config validation checks it).
pub fn classify(classes: &[SalinityClass], salinity_ppt: f64) -> Option<&SalinityClass> {
    classes.iter().rev().find(|c| salinity_ppt >= c.from_ppt)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sRGB `#RRGGBB` as linear RGB.
    fn linear(hex: &str) -> [f64; 3] {
        let channel = |i: usize| {
            let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).expect("hex colour")) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        [channel(1), channel(3), channel(5)]
    }

    /// What a deuteranope sees: Machado, Oliveira & Fernandes (2009), "A physiologically-based
    /// model for simulation of color vision deficiency", severity 1.0, in linear RGB.
    fn deuteranopia(rgb: [f64; 3]) -> [f64; 3] {
        const M: [[f64; 3]; 3] = [
            [0.367322, 0.860646, -0.227968],
            [0.280085, 0.672501, 0.047413],
            [-0.011820, 0.042940, 0.968881],
        ];
        M.map(|row| (row[0] * rgb[0] + row[1] * rgb[1] + row[2] * rgb[2]).clamp(0.0, 1.0))
    }

    /// Linear RGB as CIELAB (D65).
    fn lab([r, g, b]: [f64; 3]) -> [f64; 3] {
        let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
        let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
        let f = |t: f64| {
            if t > 0.008856 {
                t.cbrt()
            } else {
                7.787 * t + 16.0 / 116.0
            }
        };
        [116.0 * f(y) - 16.0, 500.0 * (f(x) - f(y)), 200.0 * (f(y) - f(z))]
    }

    /// Every two default classes stay at least ΔE 25 apart for a deuteranope (the old green and
    /// red were 18), and past fresh water each class is darker than the one before.
    #[test]
    fn the_default_colours_stay_apart_for_a_deuteranope() {
        let seen: Vec<[f64; 3]> = default_classes()
            .iter()
            .map(|c| lab(deuteranopia(linear(&c.colour))))
            .collect();
        for (i, a) in seen.iter().enumerate() {
            for b in &seen[i + 1..] {
                let distance = a.iter().zip(b).map(|(p, q)| (p - q).powi(2)).sum::<f64>().sqrt();
                assert!(distance >= 25.0, "ΔE {distance:.1} between {a:?} and {b:?}");
            }
        }
        assert!(
            seen[1..].windows(2).all(|w| w[1][0] < w[0][0]),
            "lightness by severity: {seen:?}"
        );
    }

    #[test]
    fn pss78_matches_the_reference_table_at_25_c() {
        // (S ‰, EC25 mS/cm) from domain.md §5.2; the table's EC has 3–4 significant digits.
        for (s, ec_ms) in [
            (0.25, 0.52),
            (0.5, 1.02),
            (1.0, 1.97),
            (2.0, 3.80),
            (4.0, 7.28),
            (10.0, 17.02),
            (35.0, 53.07),
        ] {
            let got = practical_salinity(ec_ms * 1_000.0, 25.0).expect("value");
            assert!(
                (got - s).abs() / s < 0.015,
                "EC25 {ec_ms} mS/cm: S = {got}, want {s}"
            );
        }
    }

    #[test]
    fn standard_seawater_is_35_and_warm_water_reads_higher_ec() {
        let s = practical_salinity(C_35_15_0 * 1_000.0, 15.0).expect("value");
        assert!((s - 35.0).abs() < 1e-3, "{s}");
        // At 30 °C, 1 ‰ is about 2.17 mS/cm in situ (domain.md §5.2).
        let s = practical_salinity(2_170.0, 30.0).expect("value");
        assert!((s - 1.0).abs() < 0.02, "{s}");
        assert_eq!(practical_salinity(-1.0, 25.0), None);
        assert_eq!(practical_salinity(0.0, 25.0), Some(0.0));
    }

    #[test]
    fn classes_at_their_edges() {
        let classes = default_classes();
        let code = |s| classify(&classes, s).map(|c| c.code.as_str());
        assert_eq!(code(0.2), Some("fresh"));
        assert!((DRINKING_LIMIT_PPT - 0.4516).abs() < 1e-4);
        assert_eq!(code(DRINKING_LIMIT_PPT), Some("above_drinking_limit"));
        assert_eq!(code(0.45), Some("fresh"));
        assert_eq!(code(0.99), Some("above_drinking_limit"));
        assert_eq!(code(1.0), Some("crop_caution"));
        assert_eq!(code(4.0), Some("intrusion"));
    }
}
