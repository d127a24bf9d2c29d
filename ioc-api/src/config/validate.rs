//! Validation: secrets read from their files first, then every value that parses but cannot work
//! refused with the field it names.

use service::config::{ConfigError, Validate};

use super::{Config, OpenDataConfig};

/// An absolute `http(s)` URL without query or fragment, as the catalogue's links need.
fn web_url(text: &str) -> bool {
    text.parse::<axum::http::Uri>().is_ok_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https"))
            && uri.authority().is_some_and(|a| !a.host().is_empty())
            && uri.query().is_none()
    }) && !text.contains('#')
}

/// A plain address (`name@host.tld`) that needs no escaping in a `mailto:` IRI.
fn email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let plain = |part: &str, extra: &str| {
        part.chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
    };
    !local.is_empty()
        && plain(local, "._+-")
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && plain(domain, ".-")
}

impl OpenDataConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, problem: &str| Err(ConfigError::invalid(field, problem));
        if let Some(base) = &self.base_url
            && !web_url(base)
        {
            return invalid(
                "open_data.base_url",
                "must be an absolute http:// or https:// URL without query, such as https://quantrac.example.vn",
            );
        }
        if self.publisher.trim().is_empty() || self.publisher.chars().count() > 200 {
            return invalid("open_data.publisher", "must be a name of 1 to 200 characters");
        }
        if let Some(address) = &self.contact_email
            && !email(address)
        {
            return invalid(
                "open_data.contact_email",
                "must be an e-mail address such as opendata@example.vn",
            );
        }
        if !web_url(&self.licence) {
            return invalid(
                "open_data.licence",
                "must be an http:// or https:// URI such as https://creativecommons.org/licenses/by/4.0/",
            );
        }
        if let Some(page) = &self.homepage
            && !web_url(page)
        {
            return invalid(
                "open_data.homepage",
                "must be an absolute http:// or https:// URL without query",
            );
        }
        if self
            .daily_dir
            .as_ref()
            .is_some_and(|dir| dir.as_os_str().is_empty())
        {
            return invalid(
                "open_data.daily_dir",
                "must not be empty (leave it out for no files)",
            );
        }
        if !(1..=366).contains(&self.daily_backfill_days) {
            return invalid("open_data.daily_backfill_days", "must be between 1 and 366");
        }
        Ok(())
    }
}

impl Validate for Config {
    fn read_secret_files(&mut self) -> Result<(), ConfigError> {
        if let Some(influx) = &mut self.influx {
            service::secret::take_optional(
                &mut influx.password,
                influx.password_file.as_ref(),
                ("influx.password", "influx.password_file"),
            )?;
        }
        for hook in &mut self.webhooks {
            service::secret::take_required(
                &mut hook.secret,
                hook.secret_file.as_ref(),
                ("webhooks.secret", "webhooks.secret_file"),
            )?;
        }
        Ok(())
    }

    /// Checks values that parse but cannot work.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the field.
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, problem: &str| Err(ConfigError::invalid(field, problem));
        self.mqtt.validate()?;
        if self.http.max_body_bytes < 1_024 {
            return invalid("http.max_body_bytes", "must be at least 1024");
        }
        for origin in &self.http.cors_origins {
            if origin.parse::<axum::http::HeaderValue>().is_err() || !origin.starts_with("http") {
                return invalid(
                    "http.cors_origins",
                    "each must be an origin such as https://example.org",
                );
            }
        }
        let zone = &self.stations.time_zone;
        if zone.is_empty()
            || zone.len() > 64
            || !zone
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c))
            || jiff::tz::TimeZone::get(zone).is_err()
        {
            return invalid(
                "stations.time_zone",
                "must be an IANA time zone name such as Asia/Ho_Chi_Minh",
            );
        }
        if let Some(tiles) = &self.stations.map_tiles
            && !(tiles.starts_with("https://") || tiles.starts_with("http://") || tiles.starts_with('/'))
        {
            return invalid(
                "stations.map_tiles",
                "must be a tile URL template such as https://tiles.example.vn/{z}/{x}/{y}.png",
            );
        }
        if self.stations.offline_after_s == 0 {
            return invalid("stations.offline_after_s", "must be at least 1");
        }
        if !(-12..=14).contains(&self.stations.utc_offset_hours) {
            return invalid("stations.utc_offset_hours", "must be between -12 and 14");
        }
        if let Some(influx) = &self.influx {
            if !(influx.url.starts_with("http://") || influx.url.starts_with("https://")) {
                return invalid("influx.url", "must start with http:// or https://");
            }
            if influx.database.trim().is_empty() {
                return invalid("influx.database", "must not be empty");
            }
            if influx.timeout_s == 0 {
                return invalid("influx.timeout_s", "must be at least 1");
            }
        }
        let ix = &self.indices;
        if !(0.0..=1.0).contains(&ix.min_coverage) {
            return invalid("indices.min_coverage", "must be between 0 and 1");
        }
        if !(1..=24).contains(&ix.daily_min_hours) {
            return invalid("indices.daily_min_hours", "must be between 1 and 24");
        }
        if !(1..=8).contains(&ix.min_hours_8h) {
            return invalid("indices.min_hours_8h", "must be between 1 and 8");
        }
        if ix.salinity_classes.first().is_none_or(|c| c.from_ppt != 0.0)
            || ix
                .salinity_classes
                .windows(2)
                .any(|w| w[0].from_ppt.partial_cmp(&w[1].from_ppt) != Some(std::cmp::Ordering::Less))
        {
            return invalid(
                "indices.salinity_classes",
                "must start at from_ppt = 0 and increase strictly",
            );
        }
        if self.alerts.replay_events == 0 || self.alerts.replay_events > 1_000_000 {
            return invalid("alerts.replay_events", "must be between 1 and 1000000");
        }
        if self.alerts.tick_s == 0 {
            return invalid("alerts.tick_s", "must be at least 1");
        }
        if !self.alerts.evaluate && !self.webhooks.is_empty() {
            return invalid(
                "alerts.evaluate",
                "is false (a replica) while [[webhooks]] are set: only the instance that evaluates alerts delivers them",
            );
        }
        let mut names = std::collections::HashSet::new();
        for hook in &self.webhooks {
            if hook.name.trim().is_empty() || !names.insert(hook.name.as_str()) {
                return invalid("webhooks.name", "each webhook needs a unique, non-empty name");
            }
            if !(hook.url.starts_with("http://") || hook.url.starts_with("https://")) {
                return invalid("webhooks.url", "must start with http:// or https://");
            }
            if hook.secret.expose().len() < 16 {
                return invalid("webhooks.secret", "must be at least 16 characters");
            }
            if hook.max_attempts == 0
                || hook.initial_backoff_ms == 0
                || hook.max_backoff_ms < hook.initial_backoff_ms
            {
                return invalid(
                    "webhooks.max_attempts",
                    "max_attempts and initial_backoff_ms must be at least 1, max_backoff_ms at least initial_backoff_ms",
                );
            }
        }
        self.quality.validate()?;
        self.open_data.validate()
    }
}
