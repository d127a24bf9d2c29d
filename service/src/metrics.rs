//! Prometheus text exposition (format 0.0.4), written the same way by every service.

use std::fmt::{Display, Write as _};

/// Appends one sample with its `HELP` and `TYPE` lines. The type follows Prometheus' naming
/// rule: a name ending in `_total` is a counter, any other a gauge.
pub fn sample(out: &mut String, name: &str, help: &str, value: impl Display) {
    let kind = if name.ends_with("_total") {
        "counter"
    } else {
        "gauge"
    };
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_follows_the_name() {
        let mut out = String::new();
        sample(&mut out, "x_sent_total", "Sent.", 3);
        sample(&mut out, "x_open", "Open.", 1.5);
        assert_eq!(
            out,
            "# HELP x_sent_total Sent.\n# TYPE x_sent_total counter\nx_sent_total 3\n\
             # HELP x_open Open.\n# TYPE x_open gauge\nx_open 1.5\n"
        );
    }
}
