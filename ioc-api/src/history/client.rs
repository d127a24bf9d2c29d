//! A small InfluxQL client: GET `/query` with `epoch=ms`, answers parsed into rows.

use std::time::Duration;

use serde_json::Value;

use crate::config::InfluxConfig;

/// Why a query failed. Never shown verbatim to API clients.
#[derive(Debug, thiserror::Error)]
pub enum InfluxError {
    /// No answer.
    #[error("InfluxDB unreachable: {0}")]
    Unreachable(String),
    /// An answer that is not a result.
    #[error("InfluxDB answered {status}: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// InfluxDB's message.
        message: String,
    },
}

/// One row: time (ms) and the selected columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Time, ms since the epoch.
    pub time_ms: i64,
    /// Column values (null as `None`), in `columns` order.
    pub values: Vec<Option<f64>>,
}

/// One series of an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesRows {
    /// Tag values (`GROUP BY` tags).
    pub tags: std::collections::BTreeMap<String, String>,
    /// Column names after `time`.
    pub columns: Vec<String>,
    /// Rows.
    pub points: Vec<Point>,
}

/// The InfluxDB a deployment reads from.
#[derive(Debug, Clone)]
pub struct Influx {
    config: InfluxConfig,
    client: reqwest::Client,
}

impl Influx {
    /// A client for `config`.
    ///
    /// # Errors
    ///
    /// The HTTP client cannot be built.
    pub fn new(config: InfluxConfig) -> Result<Influx, InfluxError> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(config.timeout_s))
            .build()
            .map_err(|e| InfluxError::Unreachable(e.to_string()))?;
        Ok(Influx { config, client })
    }

    /// Runs one InfluxQL statement; returns its series.
    ///
    /// # Errors
    ///
    /// Unreachable, or InfluxDB refused the query.
    pub async fn query(&self, influxql: &str) -> Result<Vec<SeriesRows>, InfluxError> {
        let mut request = self
            .client
            .get(format!("{}/query", self.config.url.trim_end_matches('/')))
            .query(&[
                ("db", self.config.database.as_str()),
                ("q", influxql),
                ("epoch", "ms"),
            ]);
        match (&self.config.password, self.config.token_auth) {
            (Some(token), true) => {
                request = request.header("authorization", format!("Token {}", token.expose()))
            }
            (Some(password), false) => {
                request = request.basic_auth(
                    self.config.username.clone().unwrap_or_default(),
                    Some(password.expose()),
                );
            }
            (None, _) => {}
        }
        let response = request
            .send()
            .await
            .map_err(|e| InfluxError::Unreachable(e.to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| InfluxError::Unreachable(e.to_string()))?;
        let json: Value = serde_json::from_str(&text).map_err(|_| InfluxError::Refused {
            status: status.as_u16(),
            message: text.chars().take(200).collect(),
        })?;
        let error = json
            .get("error")
            .or_else(|| json["results"][0].get("error"))
            .and_then(Value::as_str);
        if let Some(message) = error {
            return Err(InfluxError::Refused {
                status: status.as_u16(),
                message: message.into(),
            });
        }
        if !status.is_success() {
            return Err(InfluxError::Refused {
                status: status.as_u16(),
                message: text.chars().take(200).collect(),
            });
        }
        let series = json["results"][0]["series"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(series.iter().map(parse_series).collect())
    }
}

fn parse_series(s: &Value) -> SeriesRows {
    let tags = s["tags"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let columns: Vec<String> = s["columns"]
        .as_array()
        .map(|c| {
            c.iter()
                .skip(1)
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    let points = s["values"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|row| {
                    let row = row.as_array()?;
                    Some(Point {
                        time_ms: row.first()?.as_i64()?,
                        values: row.iter().skip(1).map(Value::as_f64).collect(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    SeriesRows {
        tags,
        columns,
        points,
    }
}

/// Quotes a tag value for InfluxQL (`'...'` with `\'` and `\\` escaped).
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_parse_with_nulls_and_tags() {
        let json = serde_json::json!({
            "name": "air_quality", "tags": {"station": "HG-1"},
            "columns": ["time", "mean_pm2_5", "count_pm2_5"],
            "values": [[3600000, 12.5, 60], [7200000, null, 0]]
        });
        let s = parse_series(&json);
        assert_eq!(s.tags["station"], "HG-1");
        assert_eq!(s.columns, ["mean_pm2_5", "count_pm2_5"]);
        assert_eq!(s.points[1].values, [None, Some(0.0)]);
        assert_eq!(quote("a'b\\"), "'a\\'b\\\\'");
    }
}
