//! The alerting rules, their promtool tests and the scrape config, read from their YAML.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail, ensure};

use super::{RULE_TESTS, RULES, SCRAPE_CONFIG};

/// One alerting rule of `alerts.yml`.
#[derive(Debug, Default)]
pub(super) struct Rule {
    pub(super) alert: String,
    pub(super) expr: String,
    pub(super) for_: Option<String>,
    pub(super) labels: BTreeMap<String, String>,
    pub(super) annotations: BTreeMap<String, String>,
}

/// The rules of a Prometheus rules file.
///
/// Design: the workspace has no YAML crate and this test may not add one (the root manifest is
/// shared). promtool checks the whole file; this reads only the shapes `alerts.yml` uses (plain,
/// quoted and block scalars under `- alert:` items) and fails on any other line, so a rule can
/// never be silently skipped — the first test also compares the count with promtool's.
pub(super) fn parse_rules(text: &str) -> Result<Vec<Rule>> {
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
pub(super) fn parse_rule_test_cases(text: &str) -> Result<Vec<(String, bool)>> {
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
pub(super) fn parse_scrape_jobs(text: &str) -> Result<BTreeMap<String, Vec<String>>> {
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
pub(super) fn template_labels(text: &str) -> Vec<String> {
    text.split("$labels.")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}
