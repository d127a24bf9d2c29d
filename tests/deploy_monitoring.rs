//! The monitoring kit in `deploy/`: promtool accepts the alerting rules, their unit tests and the
//! example scrape config, which scrapes each service at the port its example config listens on;
//! every alert is annotated and unit-tested both firing and quiet; every metric and label the
//! rules name is one the running collector, IOC API and relay export; the Grafana dashboard's
//! InfluxQL names only what `docs/influxdb-schema.md` lists, and every query returns data from
//! InfluxDB 1.x holding points written by the collector's own line-protocol code.

mod support;

#[path = "deploy_monitoring/exposition.rs"]
mod exposition;
#[path = "deploy_monitoring/grafana.rs"]
mod grafana;
#[path = "deploy_monitoring/influxql.rs"]
mod influxql;
#[path = "deploy_monitoring/points.rs"]
mod points;
#[path = "deploy_monitoring/promql.rs"]
mod promql;
#[path = "deploy_monitoring/rules.rs"]
mod rules;
#[path = "deploy_monitoring/services.rs"]
mod services;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, ensure};
use collector::config::BatchConfig;
use exposition::Exposition;
use grafana::{regex_escape, uses_the_variable};
use influxql::Schema;
use points::{has_data, now_ms, sample_points};
use promql::promql_uses;
use rules::{parse_rule_test_cases, parse_rules, parse_scrape_jobs, template_labels};
use serde_json::Value;
use services::{example_port, start_relay};
use support::{
    InProcess, Influx1, Mosquitto, MosquittoOptions, find_program, influx1_config, ioc_config,
    loopback_client, start_ioc,
};

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
