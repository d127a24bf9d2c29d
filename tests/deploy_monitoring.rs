//! The monitoring kit in `deploy/`: promtool accepts the alerting rules, their unit tests and the
//! example scrape config, which scrapes each service at the port its example config listens on;
//! every alert is annotated and unit-tested both firing and quiet; every metric and label the
//! rules name is one the running collector, IOC API and relay export; the Grafana dashboard's
//! InfluxQL names only what `docs/influxdb-schema.md` lists, and every query returns data from
//! InfluxDB 1.x holding points written by the collector's own line-protocol code.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail, ensure};
use collector::config::BatchConfig;
use protocol::registry::{NodeInfo, Registry, StationKind};
use protocol::{AirSample, Body, FirmwareVersion, Frame, NodeStatus, QualityFlags, StatusKind, WaterSample};
use serde_json::Value;
use service::mqtt::MqttConfig;
use support::{
    InProcess, Influx1, Mosquitto, MosquittoOptions, find_program, free_port, influx1_config, ioc_config,
    loopback_client, start_ioc,
};
use tokio_util::sync::CancellationToken;

const RULES: &str = "deploy/prometheus/alerts.yml";
const RULE_TESTS: &str = "deploy/prometheus/alerts_test.yml";
const SCRAPE_CONFIG: &str = "deploy/prometheus/prometheus.example.yml";
const DASHBOARD: &str = "deploy/grafana/citysense-influxdb.json";
const SCHEMA: &str = "docs/influxdb-schema.md";
/// The labels Prometheus itself puts on every scraped series.
const TARGET_LABELS: [&str; 2] = ["job", "instance"];
const SEVERITIES: [&str; 2] = ["warning", "critical"];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(repo(path)).with_context(|| format!("reading {path}"))
}

/// `promtool check rules`, `test rules` and `check config` pass; the rules this file reads are
/// the ones promtool counted; each scrape job targets its service's default port and has an alert
/// on its `up` series.
#[test]
fn promtool_accepts_the_rules_their_tests_and_the_scrape_config() -> Result<()> {
    let promtool = find_program("promtool", "prometheus")?;
    let mut outputs = Vec::new();
    for args in [
        ["check", "rules", RULES],
        ["test", "rules", RULE_TESTS],
        ["check", "config", SCRAPE_CONFIG],
    ] {
        let out = Command::new(&promtool)
            .args(args)
            .current_dir(repo(""))
            .output()
            .with_context(|| format!("running {}", promtool.display()))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(
            out.status.success(),
            "promtool {} failed ({}):\n{text}",
            args.join(" "),
            out.status
        );
        outputs.push(text);
    }

    let rules = parse_rules(&read(RULES)?)?;
    let counted = format!("SUCCESS: {} rules found", rules.len());
    ensure!(
        outputs[0].contains(&counted),
        "this test read {} rules, promtool counted otherwise:\n{}",
        rules.len(),
        outputs[0]
    );

    let jobs = parse_scrape_jobs(&read(SCRAPE_CONFIG)?)?;
    let defaults = [
        (
            "citysense-collector",
            example_port(collector::config::DEFAULT_CONFIG, |c: &collector::Config| {
                c.http.listen
            })?,
        ),
        (
            "citysense-ioc-api",
            example_port(ioc_api::config::DEFAULT_CONFIG, |c: &ioc_api::Config| {
                c.http.listen
            })?,
        ),
        (
            "citysense-relay",
            example_port(relay::config::DEFAULT_CONFIG, |c: &relay::Config| c.http.listen)?,
        ),
    ];
    ensure!(
        jobs.keys()
            .map(String::as_str)
            .eq(defaults.iter().map(|(job, _)| *job).collect::<BTreeSet<_>>()),
        "scrape jobs {:?}, expected one per service",
        jobs.keys()
    );
    for (job, port) in defaults {
        ensure!(
            jobs[job] == [format!("127.0.0.1:{port}")],
            "job {job} scrapes {:?}; its example config listens on port {port}",
            jobs[job]
        );
    }

    let mut watched = BTreeSet::new();
    for rule in &rules {
        for (metric, matchers) in promql_uses(&rule.expr)?.metrics {
            if metric == "up" {
                for m in matchers.iter().filter(|m| m.label == "job") {
                    ensure!(
                        m.op == "=" && jobs.contains_key(&m.value),
                        "{}: job{}{:?} names no scrape job",
                        rule.alert,
                        m.op,
                        m.value
                    );
                    watched.insert(m.value.clone());
                }
            }
        }
    }
    ensure!(
        watched.iter().eq(jobs.keys()),
        "alerts on `up` cover {watched:?}, the scrape jobs are {:?}",
        jobs.keys()
    );
    Ok(())
}

/// Every alert has a severity, a `for`, a summary and a description; `alerts_test.yml` expects
/// it to fire in one case and to stay quiet in another, and names no alert that does not exist
/// (promtool passes an `exp_alerts: []` test of a misspelt name).
#[test]
fn every_alert_is_annotated_and_tested_firing_and_quiet() -> Result<()> {
    let rules = parse_rules(&read(RULES)?)?;
    ensure!(!rules.is_empty(), "no rules read from {RULES}");
    for rule in &rules {
        let severity = rule.labels.get("severity").map(String::as_str);
        ensure!(
            severity.is_some_and(|s| SEVERITIES.contains(&s)),
            "{}: severity {severity:?}, expected one of {SEVERITIES:?}",
            rule.alert
        );
        ensure!(rule.for_.is_some(), "{}: no `for`", rule.alert);
        for key in ["summary", "description"] {
            ensure!(
                rule.annotations.get(key).is_some_and(|text| text.len() > 10),
                "{}: no {key} annotation",
                rule.alert
            );
        }
    }

    let cases = parse_rule_test_cases(&read(RULE_TESTS)?)?;
    let names: BTreeSet<&str> = rules.iter().map(|r| r.alert.as_str()).collect();
    for (alert, _) in &cases {
        ensure!(
            names.contains(alert.as_str()),
            "{RULE_TESTS} tests {alert}, which {RULES} lacks"
        );
    }
    for alert in names {
        for (fires, what) in [(true, "fires"), (false, "stays quiet")] {
            ensure!(
                cases.iter().any(|(a, f)| a == alert && *f == fires),
                "{RULE_TESTS} has no case where {alert} {what}"
            );
        }
    }
    Ok(())
}

/// The collector, the IOC API and the relay run in-process against a real broker; each
/// `/metrics` is scraped; every metric family the rules name appears in a `# TYPE` line of one
/// of them, and every label the rules match, group or template on appears on their samples.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_and_label_the_rules_use_is_exported() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mosquitto = Mosquitto::start(MosquittoOptions::default()).await?;
    let influx = Influx1::start().await?;
    influx.create_database("citysense").await?;
    let registry = simulators::stations::hau_giang(1, 1);
    let registry_path = dir.path().join("nodes.toml");
    std::fs::write(&registry_path, registry.to_toml())?;

    let collector_dir = dir.path().join("collector");
    std::fs::create_dir_all(&collector_dir)?;
    let collector = InProcess::start(
        influx1_config(
            &mosquitto,
            (&influx, "citysense"),
            "monitoring-collector",
            &registry_path,
            BatchConfig::default(),
            &collector_dir,
        ),
        registry.clone(),
    )
    .await?;
    let ioc = start_ioc(
        ioc_config(&mosquitto, "monitoring-ioc", &registry_path, dir.path()),
        &registry,
    )
    .await?;
    let (relay_addr, relay_stop, relay_task) =
        start_relay(&mosquitto, &registry, &registry_path, dir.path()).await?;

    let client = loopback_client(Duration::from_secs(10))?;
    let mut exported = Exposition::default();
    for url in [
        format!("http://{}/metrics", collector.http),
        format!("{}/metrics", ioc.url),
        format!("http://{relay_addr}/metrics"),
    ] {
        let response = client
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        ensure!(response.status().is_success(), "GET {url}: {}", response.status());
        let text = response.text().await?;
        let before = exported.families.len();
        exported.add(&text)?;
        ensure!(
            exported.families.len() >= before + 5,
            "{url} exports few metric families:\n{text}"
        );
    }

    for rule in parse_rules(&read(RULES)?)? {
        let uses = promql_uses(&rule.expr)?;
        let mut labels: BTreeSet<String> = TARGET_LABELS.iter().map(|l| (*l).to_owned()).collect();
        for (metric, _) in &uses.metrics {
            if metric == "up" {
                continue; // Prometheus records it per target; no service exports it.
            }
            let family = exported
                .family_of(metric)
                .ok_or_else(|| anyhow!("{}: no service exports {metric}", rule.alert))?;
            labels.extend(exported.labels.get(family).into_iter().flatten().cloned());
        }
        let templated = rule.annotations.values().flat_map(|text| template_labels(text));
        for label in uses.labels.iter().cloned().chain(templated) {
            ensure!(
                labels.contains(&label),
                "{}: label {label} is on none of its series ({labels:?})",
                rule.alert
            );
        }
    }

    relay_stop.cancel();
    relay_task.await??;
    ioc.stop.cancel();
    ioc.task.await??;
    collector.stop().await
}

/// Every panel has a title and the dashboard's datasource variable; every measurement, field and
/// tag its InfluxQL names is in `docs/influxdb-schema.md`; with points the collector's line
/// protocol wrote in InfluxDB 1.x, every query, the station variable's included, returns data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_queries_only_the_schema_and_each_query_returns_data() -> Result<()> {
    let schema = Schema::parse(&read(SCHEMA)?)?;
    let dashboard: Value = serde_json::from_str(&read(DASHBOARD)?).context(DASHBOARD)?;
    ensure!(
        dashboard["timezone"] == "Asia/Ho_Chi_Minh",
        "timezone {}",
        dashboard["timezone"]
    );
    let variables = dashboard["templating"]["list"]
        .as_array()
        .context("templating.list")?;
    let variable = |name: &str| variables.iter().find(|v| v["name"] == name);
    ensure!(
        variable("datasource").is_some_and(|v| v["type"] == "datasource" && v["query"] == "influxdb"),
        "no datasource variable of InfluxDB data sources"
    );
    let station_query = variable("station")
        .and_then(|v| v["query"].as_str())
        .context("no station variable with a query")?;

    let mut queries = vec![station_query.to_owned()];
    let mut panels: Vec<&Value> = dashboard["panels"].as_array().context("panels")?.iter().collect();
    let mut seen = 0;
    while let Some(panel) = panels.pop() {
        seen += 1;
        let title = panel["title"].as_str().unwrap_or_default();
        ensure!(
            title
                .split_once(" / ")
                .is_some_and(|(vi, en)| !vi.is_empty() && !en.is_empty()),
            "panel {} has no title \"Vietnamese / English\": {title:?}",
            panel["id"]
        );
        ensure!(
            uses_the_variable(&panel["datasource"]),
            "panel {title:?}: datasource {}",
            panel["datasource"]
        );
        // A collapsed row holds its panels inside it.
        panels.extend(panel["panels"].as_array().into_iter().flatten());
        if panel["type"] == "row" {
            continue;
        }
        let targets = panel["targets"].as_array().filter(|t| !t.is_empty());
        for target in targets.with_context(|| format!("panel {title:?} has no query"))? {
            ensure!(
                uses_the_variable(&target["datasource"]),
                "panel {title:?}: a query's datasource"
            );
            ensure!(
                target["rawQuery"] == true,
                "panel {title:?}: a query built in the editor"
            );
            queries.push(
                target["query"]
                    .as_str()
                    .context("a target without a query")?
                    .to_owned(),
            );
        }
    }
    ensure!(seen > 10, "only {seen} panels");
    for query in &queries {
        schema.check(query).with_context(|| format!("query {query}"))?;
    }

    let influx = Influx1::start().await?;
    influx.create_database("citysense").await?;
    let (lines, stations) = sample_points()?;
    influx.write("citysense", &lines).await?;
    let now = now_ms();
    let time_filter = format!("time >= {}ms AND time <= {}ms", now - 3_600_000, now + 60_000);
    // Grafana writes a multi-value variable in a regex as an escaped alternation.
    let station = format!(
        "({})",
        stations
            .iter()
            .map(|s| regex_escape(s))
            .collect::<Vec<_>>()
            .join("|")
    );
    for query in &queries {
        let sql = query
            .replace("$timeFilter", &time_filter)
            .replace("$__interval", "1m")
            .replace("$station", &station);
        // A `$` left before a name is a variable; before `/` it is the regex's end anchor.
        let unfilled = sql
            .split('$')
            .skip(1)
            .any(|rest| rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '{'));
        ensure!(!unfilled, "a variable this test does not fill: {sql}");
        let answer = influx.query("citysense", &sql).await?;
        ensure!(has_data(&answer), "no data for {sql}:\n{answer}");
        if query == station_query {
            for s in &stations {
                ensure!(
                    answer.to_string().contains(s.as_str()),
                    "the station variable lacks {s}: {answer}"
                );
            }
        }
    }
    Ok(())
}

/// The PromQL reader finds every selector and label of an expression with each construct the
/// rules use, so no metric can pass the export check by being overlooked.
#[test]
fn the_promql_reader_finds_every_metric_and_label() -> Result<()> {
    let uses = promql_uses(
        r#"sum by (receiver) (increase(a_total{job="x", le=~"0\\.5|\"1\""}[10m] offset 5m)) > 0
           unless on (job, instance) max_over_time(b:ratio[1d]) > 0.5e1 and c == bool 1"#,
    )?;
    let metrics: Vec<&str> = uses.metrics.iter().map(|(m, _)| m.as_str()).collect();
    ensure!(metrics == ["a_total", "b:ratio", "c"], "metrics {metrics:?}");
    let labels: Vec<&str> = uses.labels.iter().map(String::as_str).collect();
    ensure!(
        labels == ["instance", "job", "le", "receiver"],
        "labels {labels:?}"
    );
    let matchers: Vec<(&str, &str, &str)> = uses.metrics[0]
        .1
        .iter()
        .map(|m| (m.label.as_str(), m.op.as_str(), m.value.as_str()))
        .collect();
    ensure!(
        matchers == [("job", "=", "x"), ("le", "=~", r#"0\\.5|\"1\""#)],
        "matchers {matchers:?}"
    );
    Ok(())
}

// ---- the services, in-process ----

/// The port of `http.listen` in a service's example config (parsed and validated as the service
/// does).
fn example_port<T>(text: &str, listen: fn(&T) -> std::net::SocketAddr) -> Result<u16>
where
    T: serde::de::DeserializeOwned + service::config::Validate,
{
    Ok(listen(&service::config::from_toml::<T>(text)?).port())
}

/// Starts the relay from its example config with one receiver (nothing listens there; no file is
/// made, so it is never tried), once subscribed.
async fn start_relay(
    mosquitto: &Mosquitto,
    registry: &Registry,
    registry_path: &Path,
    dir: &Path,
) -> Result<(
    std::net::SocketAddr,
    CancellationToken,
    tokio::task::JoinHandle<Result<()>>,
)> {
    // Design: the example config plus one [[receiver]] table rather than a struct literal, so
    // the relay runs the documented defaults; a receiver is needed for the per-receiver series.
    let text = format!(
        "{}\n[[receiver]]\nname = \"authority\"\nprotocol = \"ftp\"\nhost = \"127.0.0.1\"\n\
         port = {}\nusername = \"citysense\"\npassword = \"unused\"\n",
        relay::config::DEFAULT_CONFIG,
        free_port()?
    );
    let mut config: relay::Config = service::config::from_toml(&text)?;
    config.mqtt = MqttConfig::new(mosquitto.host(), mosquitto.port(), "monitoring-relay");
    config.registry.path = registry_path.to_owned();
    config.outbox.path = dir.join("relay-outbox");
    config.http.listen = ([127, 0, 0, 1], 0).into();
    let relay = relay::Relay::new(config, registry.clone())?;
    let addr = relay.http_addr()?;
    let mut subscribed = relay.subscribed();
    let stop = CancellationToken::new();
    let task = tokio::spawn(relay.run(stop.clone()));
    tokio::time::timeout(Duration::from_secs(30), subscribed.wait_for(|s| *s))
        .await
        .context("the relay did not subscribe within 30 s")??;
    Ok((addr, stop, task))
}

/// The families of some Prometheus text expositions, with their types and the labels seen on
/// their samples.
#[derive(Default)]
struct Exposition {
    families: BTreeMap<String, String>,
    labels: BTreeMap<String, BTreeSet<String>>,
}

impl Exposition {
    fn add(&mut self, text: &str) -> Result<()> {
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest
                    .split_once(' ')
                    .with_context(|| format!("bad TYPE line {line:?}"))?;
                self.families.insert(name.to_owned(), kind.to_owned());
            } else if !line.starts_with('#') && !line.is_empty() {
                let (name, labels) = sample_labels(line)?;
                let family = self
                    .family_of(&name)
                    .with_context(|| format!("sample {line:?} before its TYPE line"))?
                    .to_owned();
                self.labels.entry(family).or_default().extend(labels);
            }
        }
        Ok(())
    }

    /// The family a series name belongs to: itself, or a histogram's `_bucket`, `_sum`, `_count`.
    fn family_of(&self, name: &str) -> Option<&str> {
        if let Some((family, _)) = self.families.get_key_value(name) {
            return Some(family);
        }
        ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
            let base = name.strip_suffix(suffix)?;
            let (family, kind) = self.families.get_key_value(base)?;
            (kind == "histogram").then_some(family.as_str())
        })
    }
}

/// A sample line's series name and label names: `name{a="x",b="y"} value`.
fn sample_labels(line: &str) -> Result<(String, Vec<String>)> {
    let Some((name, rest)) = line.split_once('{') else {
        let name = line.split_whitespace().next().unwrap_or_default();
        return Ok((name.to_owned(), Vec::new()));
    };
    let mut labels = Vec::new();
    let mut chars = rest.chars();
    loop {
        let label: String = chars.by_ref().take_while(|c| *c != '=').collect();
        ensure!(chars.next() == Some('"'), "bad labels in {line:?}");
        let mut escaped = false;
        for c in chars.by_ref() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => break,
                _ => escaped = false,
            }
        }
        labels.push(label.trim_start_matches(',').trim().to_owned());
        match chars.clone().next() {
            Some('}') => break,
            Some(',') => {}
            _ => bail!("bad labels in {line:?}"),
        }
    }
    Ok((name.to_owned(), labels))
}

// ---- the rules and their tests (YAML) ----

/// One alerting rule of `alerts.yml`.
#[derive(Debug, Default)]
struct Rule {
    alert: String,
    expr: String,
    for_: Option<String>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

/// The rules of a Prometheus rules file.
///
/// Design: the workspace has no YAML crate and this test may not add one (the root manifest is
/// shared). promtool checks the whole file; this reads only the shapes `alerts.yml` uses (plain,
/// quoted and block scalars under `- alert:` items) and fails on any other line, so a rule can
/// never be silently skipped — the first test also compares the count with promtool's.
fn parse_rules(text: &str) -> Result<Vec<Rule>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut rules: Vec<Rule> = Vec::new();
    // The indent of the open rule's keys, and of the open labels/annotations map's.
    let (mut rule_indent, mut map): (Option<usize>, Option<(String, usize)>) = (None, None);
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        let content = line.trim_start();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let indent = line.len() - content.len();
        if let Some(name) = content.strip_prefix("- alert:") {
            rules.push(Rule {
                alert: name.trim().to_owned(),
                ..Rule::default()
            });
            (rule_indent, map) = (Some(indent + 2), None);
            continue;
        }
        let (Some(keys), Some(rule)) = (rule_indent, rules.last_mut()) else {
            continue; // Outside a rule: `groups:`, a group's `- name:` and its `rules:`.
        };
        if indent < keys {
            (rule_indent, map) = (None, None);
            continue;
        }
        let (key, raw) = content
            .split_once(':')
            .with_context(|| format!("{RULES}:{i}: not `key: value`: {line:?}"))?;
        let value = if matches!(raw.trim(), "|" | "|-" | ">" | ">-") {
            let mut block = Vec::new();
            while i < lines.len() && (lines[i].trim().is_empty() || indent_of(lines[i]) > indent) {
                block.push(lines[i].trim());
                i += 1;
            }
            block.join(if raw.trim().starts_with('|') { "\n" } else { " " })
        } else {
            scalar(raw.trim()).with_context(|| format!("{RULES}:{i}"))?
        };
        match (indent == keys, key) {
            (true, "labels" | "annotations") if value.is_empty() => map = Some((key.to_owned(), indent)),
            (true, "expr") => (rule.expr, map) = (value, None),
            (true, "for") => (rule.for_, map) = (Some(value), None),
            (false, _) => match &map {
                Some((section, at)) if indent > *at => {
                    let target = if section == "labels" {
                        &mut rule.labels
                    } else {
                        &mut rule.annotations
                    };
                    target.insert(key.to_owned(), value);
                }
                _ => bail!("{RULES}:{i}: unexpected indentation: {line:?}"),
            },
            (true, _) => bail!("{RULES}:{i}: unexpected key in {}: {line:?}", rule.alert),
        }
    }
    Ok(rules)
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// A one-line YAML scalar: `"double"` (JSON's escapes, which YAML's include), `'single'` or plain.
fn scalar(raw: &str) -> Result<String> {
    if raw.starts_with('"') {
        serde_json::from_str(raw)
            .with_context(|| format!("a double-quoted scalar YAML has but JSON lacks: {raw}"))
    } else if let Some(inner) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        Ok(inner.replace("''", "'"))
    } else {
        // A plain scalar ends at a comment.
        Ok(raw.split(" #").next().unwrap_or_default().trim().to_owned())
    }
}

/// Each `alertname:` case of a promtool test file, and whether it expects alerts.
fn parse_rule_test_cases(text: &str) -> Result<Vec<(String, bool)>> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let mut cases = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = line
            .strip_prefix("- alertname:")
            .or_else(|| line.strip_prefix("alertname:"))
        else {
            continue;
        };
        let name = name.trim();
        // exp_alerts follows alertname (promtool's own layout, which the file keeps).
        let expected = lines
            .get(i + 1)
            .and_then(|l| l.strip_prefix("exp_alerts:"))
            .with_context(|| format!("{RULE_TESTS}: alertname {name} not followed by exp_alerts"))?;
        let fires = match expected.trim() {
            "[]" => false,
            "" => {
                let listed = lines.get(i + 2).is_some_and(|l| l.starts_with("- exp_labels:"));
                ensure!(
                    listed,
                    "{RULE_TESTS}: exp_alerts of {name} is no list of exp_labels"
                );
                true
            }
            other => bail!("{RULE_TESTS}: exp_alerts {other:?} for {name}: write a block list"),
        };
        cases.push((name.to_owned(), fires));
    }
    Ok(cases)
}

/// The scrape config's jobs and their static targets.
fn parse_scrape_jobs(text: &str) -> Result<BTreeMap<String, Vec<String>>> {
    let mut jobs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut job = None;
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("- job_name:") {
            let name = scalar(name.trim())?;
            jobs.insert(name.clone(), Vec::new());
            job = Some(name);
        } else if let (Some(list), Some(name)) = (line.strip_prefix("- targets:"), &job) {
            // A flow sequence of double-quoted strings is JSON.
            let targets: Vec<String> = serde_json::from_str(list.trim())
                .with_context(|| format!("{SCRAPE_CONFIG}: write targets as [\"host:port\"]: {line}"))?;
            jobs.entry(name.clone()).or_default().extend(targets);
        }
    }
    Ok(jobs)
}

/// The label names an annotation's template reads (`$labels.x`).
fn template_labels(text: &str) -> Vec<String> {
    text.split("$labels.")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

// ---- PromQL ----

/// What an expression reads: each metric selector with its matchers, and every label name it
/// matches on or groups by.
#[derive(Debug, Default)]
struct PromQlUses {
    metrics: Vec<(String, Vec<Matcher>)>,
    labels: BTreeSet<String>,
}

/// A label matcher of a selector: `label op "value"`.
#[derive(Debug)]
struct Matcher {
    label: String,
    op: String,
    value: String,
}

/// Reads the metric names and label names out of a PromQL expression. Not a parser: it knows
/// enough of the lexical grammar (strings, durations, ranges, matchers, function calls, grouping
/// clauses, keywords) that every other identifier is a metric name.
fn promql_uses(expr: &str) -> Result<PromQlUses> {
    const GROUPING: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];
    const KEYWORDS: [&str; 6] = ["and", "or", "unless", "bool", "offset", "atan2"];
    const AGGREGATIONS: [&str; 12] = [
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut uses = PromQlUses::default();
    let mut i = 0;
    let skip_space = |mut i: usize| {
        while chars.get(i).is_some_and(|c| c.is_whitespace()) {
            i += 1;
        }
        i
    };
    let ident_end = |mut i: usize| {
        while chars
            .get(i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
        {
            i += 1;
        }
        i
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = string_end(&chars, i)?;
        } else if c == '[' {
            i = chars[i..]
                .iter()
                .position(|c| *c == ']')
                .map(|p| i + p + 1)
                .context("unclosed [")?;
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '.')
            {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let end = ident_end(i);
            let word: String = chars[i..end].iter().collect();
            let next = skip_space(end);
            if GROUPING.contains(&word.as_str()) {
                i = next;
                if chars.get(i) == Some(&'(') {
                    let close = chars[i..]
                        .iter()
                        .position(|c| *c == ')')
                        .map(|p| i + p)
                        .context("unclosed (")?;
                    let list: String = chars[i + 1..close].iter().collect();
                    uses.labels.extend(
                        list.split(',')
                            .map(str::trim)
                            .filter(|l| !l.is_empty())
                            .map(str::to_owned),
                    );
                    i = close + 1;
                }
            } else if chars.get(next) == Some(&'(')
                || KEYWORDS.contains(&word.as_str())
                || (AGGREGATIONS.contains(&word.as_str())
                    && ["by", "without"]
                        .contains(&chars[next..ident_end(next)].iter().collect::<String>().as_str()))
            {
                i = end; // A function, an aggregation (`sum by (x) (...)`) or an operator.
            } else {
                let mut matchers = Vec::new();
                i = next;
                if chars.get(i) == Some(&'{') {
                    i = skip_space(i + 1);
                    while chars.get(i) != Some(&'}') {
                        let label_end = ident_end(i);
                        let label: String = chars[i..label_end].iter().collect();
                        let op_start = skip_space(label_end);
                        let op_end = op_start
                            + chars[op_start..]
                                .iter()
                                .take_while(|c| "=!~".contains(**c))
                                .count();
                        let value_start = skip_space(op_end);
                        let value_end = string_end(&chars, value_start)?;
                        let value = chars[value_start + 1..value_end - 1].iter().collect();
                        ensure!(!label.is_empty(), "a matcher without a label in {expr}");
                        uses.labels.insert(label.clone());
                        matchers.push(Matcher {
                            label,
                            op: chars[op_start..op_end].iter().collect(),
                            value,
                        });
                        i = skip_space(value_end);
                        if chars.get(i) == Some(&',') {
                            i = skip_space(i + 1);
                        }
                        ensure!(i < chars.len(), "unclosed {{ in {expr}");
                    }
                    i += 1;
                }
                uses.metrics.push((word, matchers));
            }
        } else {
            i += 1;
        }
    }
    Ok(uses)
}

/// The index just past the string literal starting at `start`.
fn string_end(chars: &[char], start: usize) -> Result<usize> {
    let quote = *chars.get(start).context("a string expected at the end")?;
    ensure!("\"'`".contains(quote), "a string expected, found {quote:?}");
    let mut i = start + 1;
    while let Some(&c) = chars.get(i) {
        match c {
            '\\' if quote != '`' => i += 2,
            c if c == quote => return Ok(i + 1),
            _ => i += 1,
        }
    }
    bail!("an unclosed string")
}

// ---- the InfluxDB schema and InfluxQL ----

/// The measurements, their fields, and the tags `docs/influxdb-schema.md` lists in its tables.
#[derive(Debug)]
struct Schema {
    fields: BTreeMap<String, BTreeSet<String>>,
    tags: BTreeSet<String>,
}

impl Schema {
    /// Reads the doc: a `## Tags` section's table gives the tags; a `## `name`` section's table
    /// the fields of measurement `name` (every backticked name in a row's first cell).
    fn parse(doc: &str) -> Result<Schema> {
        enum Section {
            Tags,
            Measurement(String),
            Other,
        }
        let mut schema = Schema {
            fields: BTreeMap::new(),
            tags: BTreeSet::new(),
        };
        let mut section = Section::Other;
        for line in doc.lines() {
            if let Some(heading) = line.strip_prefix("## ") {
                section = if heading.starts_with("Tags") {
                    Section::Tags
                } else if let Some(name) = heading.strip_prefix('`').and_then(|h| h.split('`').next()) {
                    Section::Measurement(name.to_owned())
                } else {
                    Section::Other
                };
            } else if let Some(row) = line.strip_prefix('|') {
                let cell = row.split('|').next().unwrap_or_default();
                let names = cell.split('`').skip(1).step_by(2).map(str::to_owned);
                match &section {
                    Section::Tags => schema.tags.extend(names),
                    Section::Measurement(m) => schema.fields.entry(m.clone()).or_default().extend(names),
                    Section::Other => {}
                }
            }
        }
        // Guards against a change of the doc's layout that would leave this reading nothing.
        ensure!(
            schema.tags.contains("station"),
            "no station tag read from {SCHEMA}: {schema:?}"
        );
        for (m, f) in [
            ("air_quality", "pm2_5"),
            ("water_quality", "ph"),
            ("node_status", "battery"),
        ] {
            ensure!(
                schema.fields.get(m).is_some_and(|fields| fields.contains(f)),
                "{m}.{f} not read from {SCHEMA}: {schema:?}"
            );
        }
        Ok(schema)
    }

    /// Checks that `query` names only measurements, fields and tags of the schema, with every
    /// identifier quoted (an unquoted word that is no keyword or function is refused, so none
    /// slips past the check).
    fn check(&self, query: &str) -> Result<()> {
        const KEYWORDS: [&str; 20] = [
            "SELECT", "FROM", "WHERE", "AND", "OR", "GROUP", "BY", "AS", "FILL", "NULL", "NONE", "TRUE",
            "FALSE", "SHOW", "TAG", "VALUES", "WITH", "KEY", "LIMIT", "ORDER",
        ];
        const FUNCTIONS: [&str; 10] = [
            "mean", "median", "last", "first", "count", "min", "max", "sum", "time", "fill",
        ];
        let tokens = influxql_tokens(query)?;
        let (mut measurements, mut names) = (Vec::new(), Vec::new());
        let mut in_from = false;
        for (k, token) in tokens.iter().enumerate() {
            let next = tokens.get(k + 1);
            match token {
                Token::Word(w) if KEYWORDS.contains(&w.to_ascii_uppercase().as_str()) => {
                    in_from = w.eq_ignore_ascii_case("FROM");
                }
                Token::Word(w) => {
                    ensure!(
                        next == Some(&Token::Punct('(')),
                        "unquoted identifier {w}: quote it (\"{w}\")"
                    );
                    ensure!(
                        FUNCTIONS.contains(&w.as_str()),
                        "function {w} unknown to this test"
                    );
                }
                Token::Ident(name) if in_from => measurements.push(name.clone()),
                Token::Ident(_)
                    if k > 0 && matches!(&tokens[k - 1], Token::Word(w) if w.eq_ignore_ascii_case("AS")) => {}
                Token::Ident(name) => names.push(name.clone()),
                Token::Punct(',') => {}
                _ => in_from = false,
            }
        }
        for m in &measurements {
            ensure!(self.fields.contains_key(m), "measurement {m} is not in {SCHEMA}");
        }
        for name in names {
            if self.tags.contains(&name) {
                continue;
            }
            ensure!(
                !measurements.is_empty(),
                "{name} is no tag, and there is no measurement"
            );
            for m in &measurements {
                ensure!(
                    self.fields[m].contains(&name),
                    "{m} has no field or tag {name} in {SCHEMA}"
                );
            }
        }
        Ok(())
    }
}

#[derive(Debug, PartialEq)]
enum Token {
    /// A bare word: keyword, function or (refused) unquoted identifier.
    Word(String),
    /// A double-quoted identifier.
    Ident(String),
    /// A string, regex, number or Grafana variable: nothing the schema check reads.
    Literal,
    Punct(char),
}

fn influxql_tokens(query: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = query.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let take_while = |mut i: usize, f: &dyn Fn(char) -> bool| {
        while chars.get(i).is_some_and(|c| f(*c)) {
            i += 1;
        }
        i
    };
    while i < chars.len() {
        let c = chars[i];
        let regex_may_follow = matches!(tokens.last(), Some(Token::Punct('~')));
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '\'' || (c == '/' && regex_may_follow) {
            let mut end = i + 1;
            while chars.get(end).is_some_and(|e| *e != c) {
                end += if chars[end] == '\\' { 2 } else { 1 };
            }
            ensure!(end < chars.len(), "unclosed {c} in {query}");
            let text: String = chars[i + 1..end].iter().collect();
            tokens.push(if c == '"' {
                Token::Ident(text)
            } else {
                Token::Literal
            });
            i = end + 1;
        } else if c == '$' {
            i = take_while(i + 1, &|c| c.is_ascii_alphanumeric() || c == '_');
            tokens.push(Token::Literal);
        } else if c.is_ascii_digit() {
            i = take_while(i, &|c| c.is_ascii_alphanumeric() || c == '.');
            tokens.push(Token::Literal);
        } else if c.is_ascii_alphabetic() || c == '_' {
            let end = take_while(i, &|c| c.is_ascii_alphanumeric() || c == '_');
            tokens.push(Token::Word(chars[i..end].iter().collect()));
            i = end;
        } else {
            tokens.push(Token::Punct(c));
            i += 1;
        }
    }
    Ok(tokens)
}

fn uses_the_variable(datasource: &Value) -> bool {
    datasource["type"] == "influxdb" && datasource["uid"] == "${datasource}"
}

/// Whether an InfluxDB answer holds a value other than 0 (a series that `fill(0)` made up from
/// nothing would not).
fn has_data(answer: &Value) -> bool {
    let series = answer["results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["series"].as_array().into_iter().flatten());
    series
        .flat_map(|s| s["values"].as_array().into_iter().flatten())
        .any(|row| {
            row.as_array()
                .into_iter()
                .flatten()
                .skip(1)
                .any(|v| v.is_string() || v.as_f64().is_some_and(|x| x != 0.0))
        })
}

/// As Grafana escapes a variable's value in a regex.
fn regex_escape(value: &str) -> String {
    value
        .chars()
        .flat_map(|c| {
            ("/\\^$*+?.()|[]{}".contains(c).then_some('\\'))
                .into_iter()
                .chain([c])
        })
        .collect()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Points as the collector writes them (its own line-protocol code): an air and a water sample
/// with every field and every quality flag, and a status report. Returns the lines and the
/// stations.
fn sample_points() -> Result<(String, Vec<String>)> {
    let node = |id, station: &str, kind| NodeInfo {
        id,
        station: station.into(),
        name: station.into(),
        kind,
        district: "Vị Thanh".into(),
        location: None,
        key: None,
    };
    let air = node(101, "HG-VT-A01", StationKind::Air);
    let water = node(201, "HG-VT-W01", StationKind::Water);
    let every_flag = QualityFlags::from_bits(0b11_1111).context("the six flags")?;
    let at = now_ms() - 600_000;
    // The water node's clock is not synced (time 0): the collector stamps it when it arrives.
    let points = [
        (
            &air,
            at,
            Body::Air(AirSample {
                quality: every_flag,
                samples: 12,
                pm1_0: Some(81),
                pm2_5: Some(125),
                pm10: Some(202),
                temperature: Some(2_915),
                humidity: Some(7_850),
                pressure: Some(10_082),
                co: Some(410),
                no2: Some(213),
                so2: Some(52),
                o3: Some(401),
            }),
        ),
        (
            &water,
            0,
            Body::Water(WaterSample {
                quality: every_flag,
                samples: 12,
                ph: Some(7_120),
                dissolved_oxygen: Some(540),
                conductivity: Some(1_250),
                temperature: Some(2_840),
                turbidity: Some(352),
                water_level: Some(1_250),
                salinity: Some(60),
            }),
        ),
        (
            &air,
            at,
            Body::Status(NodeStatus {
                kind: StatusKind::Periodic,
                firmware: FirmwareVersion {
                    major: 1,
                    minor: 2,
                    patch: 0,
                },
                uptime_s: 3_600,
                battery_mv: Some(3_912),
                rssi_dbm: Some(-71),
                frames_dropped: 2,
                frames_queued: 0,
            }),
        ),
    ];
    let mut lines = String::new();
    for (seq, (node, time_ms, body)) in (0..).zip(points) {
        let frame = Frame {
            node_id: node.id,
            boot: 1,
            seq,
            time_ms,
            body,
        };
        collector::sink::line_protocol::write_point(&mut lines, &frame, node, at);
    }
    Ok((lines, vec![air.station, water.station]))
}
