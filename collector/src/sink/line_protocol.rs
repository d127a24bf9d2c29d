//! Frames to InfluxDB line protocol, as `docs/influxdb-schema.md` specifies.
//!
//! A point's identity is (measurement, tags, timestamp) and the timestamp is the node's own clock,
//! so a frame delivered twice overwrites itself instead of counting twice.

use protocol::registry::NodeInfo;
use protocol::{AirSample, Body, Frame, NodeStatus, StatusKind, WaterSample};

/// Appends the point for `frame` (one line, ending in `\n`) to `out`. `received_ms` stamps frames
/// from nodes whose clock is not synced (`time_ms == 0`); those points carry `clock_synced=false`.
pub fn write_point(out: &mut String, frame: &Frame, node: &NodeInfo, received_ms: u64) {
    write_point_with_tags(out, frame, &tag_set(node), received_ms);
}

/// The escaped tag set of a node's points (`,node=..,station=..,district=..`). It depends only on
/// the registry, so the pipeline computes it once per node ([`TagCache`]).
pub fn tag_set(node: &NodeInfo) -> String {
    let mut out = String::with_capacity(16 + node.station.len() + node.district.len());
    let mut id = itoa_buf();
    tag(&mut out, "node", format_u64(&mut id, node.id.into()));
    tag(&mut out, "station", &node.station);
    tag(&mut out, "district", &node.district);
    out
}

/// Tag sets by node id, computed on first use.
#[derive(Debug, Default)]
pub struct TagCache {
    tags: std::collections::HashMap<u32, Box<str>>,
}

impl TagCache {
    /// Appends the point for `frame`, as [`write_point`] does.
    pub fn write_point(&mut self, out: &mut String, frame: &Frame, node: &NodeInfo, received_ms: u64) {
        let tags = self
            .tags
            .entry(node.id)
            .or_insert_with(|| tag_set(node).into_boxed_str());
        write_point_with_tags(out, frame, tags, received_ms);
    }
}

fn write_point_with_tags(out: &mut String, frame: &Frame, tags: &str, received_ms: u64) {
    let measurement = match frame.body {
        Body::Air(_) => "air_quality",
        Body::Water(_) => "water_quality",
        Body::Status(_) => "node_status",
    };
    out.push_str(measurement);
    out.push_str(tags);
    if let Body::Status(status) = &frame.body {
        // A tag, not a field: a node builds its death frame (its MQTT will) when it connects,
        // with the same timestamp as its birth frame, and the two must be two points.
        out.push_str(",kind=");
        out.push_str(status_kind(status.kind));
    }
    out.push(' ');

    let mut fields = Fields { out, first: true };
    match &frame.body {
        Body::Air(sample) => air_fields(&mut fields, sample),
        Body::Water(sample) => water_fields(&mut fields, sample),
        Body::Status(status) => status_fields(&mut fields, status),
    }
    fields.integer("boot", frame.boot.into());
    fields.integer("seq", frame.seq.into());
    let synced = frame.time_ms != 0;
    fields.boolean("clock_synced", synced);

    let time = if synced { frame.time_ms } else { received_ms };
    out.push(' ');
    let mut buf = itoa_buf();
    out.push_str(format_u64(&mut buf, time));
    out.push('\n');
}

fn itoa_buf() -> [u8; 20] {
    [0u8; 20]
}

/// Decimal digits of `v` (the `fmt` machinery costs more than the rest of a point).
fn format_u64(buf: &mut [u8; 20], mut v: u64) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&buf[i..]).unwrap_or_default()
}

fn air_fields(f: &mut Fields<'_>, s: &AirSample) {
    f.fixed("pm1_0", s.pm1_0.map(i64::from), 1);
    f.fixed("pm2_5", s.pm2_5.map(i64::from), 1);
    f.fixed("pm10", s.pm10.map(i64::from), 1);
    f.fixed("temperature", s.temperature.map(i64::from), 2);
    f.fixed("humidity", s.humidity.map(i64::from), 2);
    f.fixed("pressure", s.pressure.map(i64::from), 1);
    f.fixed("co", s.co.map(i64::from), 0);
    f.fixed("no2", s.no2.map(i64::from), 1);
    f.fixed("so2", s.so2.map(i64::from), 1);
    f.fixed("o3", s.o3.map(i64::from), 1);
    f.integer("quality", s.quality.bits().into());
    f.integer("samples", s.samples.into());
}

fn water_fields(f: &mut Fields<'_>, s: &WaterSample) {
    f.fixed("ph", s.ph.map(i64::from), 3);
    f.fixed("dissolved_oxygen", s.dissolved_oxygen.map(i64::from), 2);
    f.fixed("conductivity", s.conductivity.map(i64::from), 0);
    f.fixed("temperature", s.temperature.map(i64::from), 2);
    f.fixed("turbidity", s.turbidity.map(i64::from), 1);
    f.fixed("water_level", s.water_level.map(i64::from), 3);
    f.fixed("salinity", s.salinity.map(i64::from), 2);
    f.integer("quality", s.quality.bits().into());
    f.integer("samples", s.samples.into());
}

/// The `kind` tag of a status point.
fn status_kind(kind: StatusKind) -> &'static str {
    match kind {
        StatusKind::Birth => "birth",
        StatusKind::Periodic => "periodic",
        StatusKind::Death => "death",
    }
}

fn status_fields(f: &mut Fields<'_>, s: &NodeStatus) {
    f.integer("fw_major", s.firmware.major.into());
    f.integer("fw_minor", s.firmware.minor.into());
    f.integer("fw_patch", s.firmware.patch.into());
    f.integer("uptime_s", s.uptime_s.into());
    if let Some(mv) = s.battery_mv {
        f.fixed("battery", Some(mv.into()), 3);
    }
    if let Some(rssi) = s.rssi_dbm {
        f.integer("rssi_dbm", rssi.into());
    }
    f.integer("frames_dropped", s.frames_dropped.into());
    f.integer("frames_queued", s.frames_queued.into());
}

struct Fields<'a> {
    out: &'a mut String,
    first: bool,
}

impl Fields<'_> {
    fn key(&mut self, name: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push_str(name);
        self.out.push('=');
    }

    /// A fixed-point value with `decimals` decimal digits, written exactly as a float field
    /// (`2915` with 2 decimals is `29.15`), so no binary rounding creeps in on the way.
    fn fixed(&mut self, name: &str, value: Option<i64>, decimals: u32) {
        let Some(value) = value else { return };
        self.key(name);
        let scale = 10u64.pow(decimals);
        if value < 0 {
            self.out.push('-');
        }
        let (whole, frac) = (value.unsigned_abs() / scale, value.unsigned_abs() % scale);
        let mut buf = itoa_buf();
        self.out.push_str(format_u64(&mut buf, whole));
        if decimals > 0 {
            self.out.push('.');
            let digits = format_u64(&mut buf, frac);
            for _ in digits.len()..decimals as usize {
                self.out.push('0');
            }
            self.out.push_str(digits);
        }
    }

    fn integer(&mut self, name: &str, value: i64) {
        self.key(name);
        if value < 0 {
            self.out.push('-');
        }
        let mut buf = itoa_buf();
        self.out.push_str(format_u64(&mut buf, value.unsigned_abs()));
        self.out.push('i');
    }

    fn boolean(&mut self, name: &str, value: bool) {
        self.key(name);
        self.out.push_str(if value { "true" } else { "false" });
    }
}

/// Appends ` ,key=value` with line-protocol escaping; empty values are left out, because
/// InfluxDB rejects empty tag values.
fn tag(out: &mut String, key: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    out.push(',');
    out.push_str(key);
    out.push('=');
    for c in value.chars() {
        if matches!(c, ',' | '=' | ' ') {
            out.push('\\');
        }
        // Line protocol cannot carry newlines in tags; they would split the point.
        out.push(if c == '\n' || c == '\r' { ' ' } else { c });
    }
}

#[cfg(test)]
mod tests {
    use protocol::registry::StationKind;
    use protocol::{FirmwareVersion, QualityFlags, WaterSample};

    use super::*;

    fn node() -> NodeInfo {
        NodeInfo {
            id: 101,
            station: "HG-VT-A01".into(),
            name: "Vi Thanh".into(),
            kind: StationKind::Air,
            district: "Vi Thanh, Hau Giang".into(),
            location: None,
            key: None,
        }
    }

    #[test]
    fn air_point_has_exact_decimals_and_the_node_clock() {
        let frame = Frame {
            node_id: 101,
            boot: 3,
            seq: 9,
            time_ms: 1_764_201_600_000,
            body: Body::Air(AirSample {
                quality: QualityFlags::WARMING_UP,
                samples: 6,
                pm2_5: Some(353),
                pm10: Some(5),
                temperature: Some(-125),
                co: Some(850),
                ..AirSample::default()
            }),
        };
        let mut out = String::new();
        write_point(&mut out, &frame, &node(), 42);
        assert_eq!(
            out,
            "air_quality,node=101,station=HG-VT-A01,district=Vi\\ Thanh\\,\\ Hau\\ Giang \
             pm2_5=35.3,pm10=0.5,temperature=-1.25,co=850,quality=1i,samples=6i,boot=3i,seq=9i,\
             clock_synced=true 1764201600000\n"
        );
    }

    #[test]
    fn the_cache_writes_the_same_line_and_negative_integers_format() {
        let frame = Frame {
            node_id: 101,
            boot: 0,
            seq: 4_294_967_295,
            time_ms: 1_764_201_600_000,
            body: Body::Water(WaterSample {
                water_level: Some(-5),
                temperature: Some(-1),
                ..WaterSample::default()
            }),
        };
        let (mut direct, mut cached) = (String::new(), String::new());
        write_point(&mut direct, &frame, &node(), 0);
        let mut cache = TagCache::default();
        cache.write_point(&mut cached, &frame, &node(), 0);
        cache.write_point(&mut cached, &frame, &node(), 0);
        assert_eq!(cached, format!("{direct}{direct}"));
        assert!(
            direct.contains("temperature=-0.01,water_level=-0.005,"),
            "{direct}"
        );
        assert!(direct.contains("boot=0i,seq=4294967295i,"), "{direct}");
    }

    #[test]
    fn unsynced_clock_is_stamped_and_marked() {
        let frame = Frame {
            node_id: 101,
            boot: 1,
            seq: 0,
            time_ms: 0,
            body: Body::Status(NodeStatus {
                kind: StatusKind::Birth,
                firmware: FirmwareVersion {
                    major: 0,
                    minor: 1,
                    patch: 0,
                },
                uptime_s: 5,
                battery_mv: Some(3_912),
                rssi_dbm: None,
                frames_dropped: 0,
                frames_queued: 0,
            }),
        };
        let mut out = String::new();
        write_point(&mut out, &frame, &node(), 1_764_201_600_123);
        assert!(out.starts_with("node_status,node=101,"), "{out}");
        assert!(out.contains(",kind=birth fw_major=0i,"), "{out}");
        assert!(out.contains("battery=3.912,"), "{out}");
        assert!(out.ends_with("clock_synced=false 1764201600123\n"), "{out}");
    }
}
