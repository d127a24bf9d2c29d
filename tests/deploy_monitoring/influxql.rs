//! The InfluxDB schema `docs/influxdb-schema.md` lists, and the check that an InfluxQL query
//! names only what is in it.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, ensure};

use super::SCHEMA;

/// The measurements, their fields, and the tags `docs/influxdb-schema.md` lists in its tables.
#[derive(Debug)]
pub(super) struct Schema {
    fields: BTreeMap<String, BTreeSet<String>>,
    tags: BTreeSet<String>,
}

impl Schema {
    /// Reads the doc: a `## Tags` section's table gives the tags; a `## `name`` section's table
    /// the fields of measurement `name` (every backticked name in a row's first cell).
    pub(super) fn parse(doc: &str) -> Result<Schema> {
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
    pub(super) fn check(&self, query: &str) -> Result<()> {
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
