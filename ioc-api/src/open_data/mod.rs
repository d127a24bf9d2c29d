//! Open data for the province's portal beyond the exports: a DCAT catalogue of the exports
//! (JSON-LD, for CKAN's ckanext-dcat and other DCAT harvesters) and daily CSV files for portals
//! that pull files.
//!
//! # Layout
//!
//! - `catalog`: the catalogue document, built from the registry and the spans of the data.
//! - `span`: when each station's hourly means start and end, from InfluxDB or the local history.
//! - `daily`: the daily files and the task that writes them after each local midnight.

mod catalog;
mod daily;
mod span;

pub(crate) use catalog::{CATALOG_PATH, catalog};
pub(crate) use daily::run_daily;
pub use daily::{DailyPass, write_missing_days};
pub(crate) use span::data_spans;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::Config;

/// Who publishes the data, under which licence, and where it is reachable: the catalogue's
/// fixed parts, resolved from `open_data` at start.
#[derive(Debug, Clone)]
pub(crate) struct Publication {
    /// The public base URL, without a trailing slash.
    pub(crate) base_url: String,
    pub(crate) publisher: String,
    pub(crate) contact_email: Option<String>,
    pub(crate) licence: String,
    pub(crate) homepage: String,
}

impl Publication {
    /// The publication of `config`; without `open_data.base_url`, the address the API listens
    /// on (a wildcard address as loopback, the only one that address surely reaches).
    pub(crate) fn new(config: &Config) -> Publication {
        let open = &config.open_data;
        let base_url = match &open.base_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let mut listen = config.http.listen;
                if listen.ip().is_unspecified() {
                    listen.set_ip(match listen.ip() {
                        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
                    });
                }
                format!("http://{listen}")
            }
        };
        Publication {
            homepage: open.homepage.clone().unwrap_or_else(|| format!("{base_url}/")),
            base_url,
            publisher: open.publisher.clone(),
            contact_email: open.contact_email.clone(),
            licence: open.licence.clone(),
        }
    }
}
