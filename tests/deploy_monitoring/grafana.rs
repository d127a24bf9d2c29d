//! What the dashboard's panels have in common with Grafana: the datasource variable, and how it
//! fills a variable into a regex.

use serde_json::Value;

pub(super) fn uses_the_variable(datasource: &Value) -> bool {
    datasource["type"] == "influxdb" && datasource["uid"] == "${datasource}"
}

/// As Grafana escapes a variable's value in a regex.
pub(super) fn regex_escape(value: &str) -> String {
    value
        .chars()
        .flat_map(|c| {
            ("/\\^$*+?.()|[]{}".contains(c).then_some('\\'))
                .into_iter()
                .chain([c])
        })
        .collect()
}
