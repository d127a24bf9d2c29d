//! The metric and label names a PromQL expression reads.

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail, ensure};

/// What an expression reads: each metric selector with its matchers, and every label name it
/// matches on or groups by.
#[derive(Debug, Default)]
pub(super) struct PromQlUses {
    pub(super) metrics: Vec<(String, Vec<Matcher>)>,
    pub(super) labels: BTreeSet<String>,
}

/// A label matcher of a selector: `label op "value"`.
#[derive(Debug)]
pub(super) struct Matcher {
    pub(super) label: String,
    pub(super) op: String,
    pub(super) value: String,
}

/// Reads the metric names and label names out of a PromQL expression. Not a parser: it knows
/// enough of the lexical grammar (strings, durations, ranges, matchers, function calls, grouping
/// clauses, keywords) that every other identifier is a metric name.
pub(super) fn promql_uses(expr: &str) -> Result<PromQlUses> {
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
