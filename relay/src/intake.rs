//! From messages to files: each message is checked with the collector's acceptance rule, joins
//! its station's interval and goes into the journal; an interval that is over becomes a file in
//! the outbox, and the journal then keeps only the messages of the intervals still open.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use jiff::tz::TimeZone;
use protocol::inbound::accept;
use protocol::registry::Registry;
use tracing::{info, warn};

use crate::config::{Config, Stamp};
use crate::file::{Line, Naming, render};
use crate::interval::{Added, Closed, Intervals};
use crate::journal::{Entry, Journal};
use crate::outbox::Outbox;
use crate::params::ALL;
use crate::stats::Stats;

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// It joined an interval.
    Joined,
    /// Its interval already had it.
    Duplicate,
    /// Its interval's file was already written.
    Late,
    /// A status frame: nothing for the files.
    NoValues,
    /// Refused by the acceptance rule, with the reason.
    Rejected(&'static str),
}

/// How a parameter is written, after the config's overrides.
#[derive(Debug, Clone)]
struct Written {
    symbol: String,
    unit: String,
    decimals: u32,
}

/// The intake.
pub struct Intake {
    registry: Registry,
    prefix: String,
    intervals: Intervals,
    journal: Journal,
    /// The journalled messages of open intervals, with their interval.
    open_entries: Vec<((String, u64), Entry)>,
    outbox: Arc<Mutex<Outbox>>,
    naming: Naming,
    zone: TimeZone,
    stamp: Stamp,
    newline: &'static str,
    parameters: Vec<Option<Written>>,
    codes: std::collections::BTreeMap<String, String>,
    stats: Arc<Stats>,
}

impl Intake {
    /// Opens the journal and replays it: the messages of intervals not yet written join them
    /// again; those whose file a crash had already written are dropped.
    ///
    /// # Errors
    ///
    /// The journal cannot be read or written.
    pub fn open(
        config: &Config,
        registry: Registry,
        outbox: Arc<Mutex<Outbox>>,
        stats: Arc<Stats>,
    ) -> io::Result<Intake> {
        let (journal, entries) = Journal::open(&config.outbox.path.join("journal"))?;
        let f = &config.files;
        let parameters = ALL
            .iter()
            .map(|p| {
                let o = config.parameters.get(p.key).cloned().unwrap_or_default();
                let known = config.parameters.contains_key(p.key);
                (!known || o.send).then(|| Written {
                    symbol: o.symbol.unwrap_or_else(|| p.symbol.to_owned()),
                    unit: o.unit.unwrap_or_else(|| p.unit.to_owned()),
                    decimals: o.decimals.unwrap_or(p.decimals),
                })
            })
            .collect();
        let mut intake = Intake {
            registry,
            prefix: config.mqtt.prefix.clone(),
            intervals: Intervals::new(f.interval_s * 1_000, f.grace_s * 1_000),
            journal,
            open_entries: Vec::new(),
            outbox,
            naming: Naming {
                province: f.province.clone(),
                facility: f.facility.clone(),
                file: f.file_name.clone(),
                folder: f.folder.clone(),
            },
            zone: TimeZone::get(&f.time_zone).unwrap_or(TimeZone::UTC),
            stamp: f.stamp,
            newline: f.newline.as_str(),
            parameters,
            codes: f.station_codes.clone(),
            stats,
        };
        let replayed = entries.len();
        let mut kept = 0;
        for e in entries {
            if intake.join(e) == Taken::Joined {
                kept += 1;
            }
        }
        intake
            .journal
            .rewrite(intake.open_entries.iter().map(|(_, e)| e))?;
        if replayed > 0 {
            info!(
                messages = replayed,
                kept,
                intervals = intake.intervals.open_count(),
                "Took back the journal's messages of intervals not yet written."
            );
        }
        Ok(intake)
    }

    fn outbox(&self) -> MutexGuard<'_, Outbox> {
        self.outbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The folder and name of `station`'s file for the interval starting at `start_ms`.
    fn place(&self, station: &str, start_ms: u64) -> (String, String) {
        let code = self.codes.get(station).map_or(station, String::as_str);
        let at = match self.stamp {
            Stamp::End => start_ms + self.intervals.length_ms(),
            Stamp::Start => start_ms,
        };
        self.naming.place(code, at as i64, &self.zone)
    }

    /// Takes a message received at `received_ms` (journalled, not yet synced: call
    /// [`Intake::sync`] before acknowledging it).
    ///
    /// # Errors
    ///
    /// The journal could not be written.
    pub fn take(&mut self, topic: &str, payload: &[u8], received_ms: u64) -> io::Result<Taken> {
        self.stats.received();
        let entry = Entry {
            received_ms,
            topic: topic.to_owned(),
            payload: payload.to_vec(),
        };
        let taken = self.join(entry);
        if taken == Taken::Joined
            && let Some((_, e)) = self.open_entries.last()
        {
            self.journal.append(e)?;
        }
        match taken {
            Taken::Joined => self.stats.joined(),
            Taken::Duplicate => self.stats.duplicate(),
            Taken::Late => self.stats.late(),
            Taken::Rejected(reason) => self.stats.rejected(reason),
            Taken::NoValues => {}
        }
        Ok(taken)
    }

    fn join(&mut self, entry: Entry) -> Taken {
        let (frame, node) = match accept(&self.registry, &self.prefix, &entry.topic, &entry.payload) {
            Ok((frame, node)) => (frame, node.clone()),
            Err(r) => return Taken::Rejected(r.reason),
        };
        let start = self.intervals.start_of(&frame, entry.received_ms);
        if !self.intervals.is_open(&node.station, start) {
            let (folder, name) = self.place(&node.station, start);
            if self.outbox().contains(&folder, &name) {
                return Taken::Late;
            }
        }
        match self.intervals.add(&node.station, &frame, entry.received_ms) {
            Added::Joined => {
                self.open_entries.push(((node.station.clone(), start), entry));
                Taken::Joined
            }
            Added::Duplicate => Taken::Duplicate,
            Added::NoValues => Taken::NoValues,
        }
    }

    /// Makes the journalled messages durable.
    ///
    /// # Errors
    ///
    /// The sync failed: the messages must not be acknowledged.
    pub fn sync(&mut self) -> io::Result<()> {
        self.journal.sync()
    }

    /// Writes the file of every interval that is over at `now_ms`; returns how many.
    ///
    /// # Errors
    ///
    /// The outbox or the journal could not be written; the intervals not written stay in the
    /// journal and are written at the next start.
    pub fn close_due(&mut self, now_ms: u64) -> io::Result<usize> {
        let closed = self.intervals.take_due(now_ms);
        if closed.is_empty() {
            return Ok(0);
        }
        for c in &closed {
            let (folder, name) = self.place(&c.station, c.start_ms);
            let text = self.text_of(c, &name);
            self.outbox().write(c.start_ms, &folder, &name, text.as_bytes())?;
            self.stats.file_written();
        }
        let still_open = |key: &(String, u64)| self.intervals.is_open(&key.0, key.1);
        let remaining: Vec<_> = self.open_entries.drain(..).collect();
        self.open_entries = remaining.into_iter().filter(|(k, _)| still_open(k)).collect();
        self.journal.rewrite(self.open_entries.iter().map(|(_, e)| e))?;
        Ok(closed.len())
    }

    fn text_of(&self, c: &Closed, name: &str) -> String {
        let at = match self.stamp {
            Stamp::End => c.start_ms + self.intervals.length_ms(),
            Stamp::Start => c.start_ms,
        };
        let stamp = crate::file::stamp(at as i64, &self.zone);
        let lines: Vec<Line<'_>> = c
            .means
            .iter()
            .filter_map(|&(i, value, status)| {
                let w = self.parameters.get(i)?.as_ref()?;
                Some(Line {
                    symbol: &w.symbol,
                    value,
                    decimals: w.decimals,
                    unit: &w.unit,
                    status,
                })
            })
            .collect();
        if lines.is_empty() {
            warn!(
                file = name,
                "Every parameter of this interval is switched off (send = false); the file is empty."
            );
        }
        render(&lines, &stamp, self.newline)
    }

    /// How many intervals are open.
    pub fn open_count(&self) -> usize {
        self.intervals.open_count()
    }
}
