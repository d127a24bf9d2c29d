//! The Prometheus text expositions the services serve on `/metrics`: their metric families and
//! the labels on their samples.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, bail, ensure};

/// The families of some Prometheus text expositions, with their types and the labels seen on
/// their samples.
#[derive(Default)]
pub(super) struct Exposition {
    pub(super) families: BTreeMap<String, String>,
    pub(super) labels: BTreeMap<String, BTreeSet<String>>,
}

impl Exposition {
    pub(super) fn add(&mut self, text: &str) -> Result<()> {
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
    pub(super) fn family_of(&self, name: &str) -> Option<&str> {
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
