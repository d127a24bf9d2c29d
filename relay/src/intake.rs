//! From messages to files: each message is checked with the collector's acceptance rule, joins
//! its station's interval and goes into the journal; an interval that is over becomes a file in
//! the outbox, and the journal then keeps only the messages of the intervals still open.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use protocol::inbound::accept;
use protocol::registry::Registry;
use service::registry::LiveRegistry;
use tracing::info;

use crate::config::Config;
use crate::interval::{Added, Intervals};
use crate::journal::{Entry, Journal};
use crate::layout::Layout;
use crate::outbox::Outbox;
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

/// The intake.
pub struct Intake {
    /// Reread when its file changes (a key rotated, a node revoked).
    registry: LiveRegistry,
    prefix: String,
    intervals: Intervals,
    journal: Journal,
    /// The journalled messages of open intervals, with their interval.
    open_entries: Vec<((String, u64), Entry)>,
    outbox: Arc<Mutex<Outbox>>,
    layout: Layout,
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
        let mut intake = Intake {
            registry: LiveRegistry::new(config.registry.path.clone(), registry),
            prefix: config.mqtt.prefix.clone(),
            intervals: Intervals::new(f.interval_s * 1_000, f.grace_s * 1_000),
            journal,
            open_entries: Vec::new(),
            outbox,
            layout: Layout::new(config),
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
        self.registry.refresh();
        let (frame, node) = match accept(self.registry.get(), &self.prefix, &entry.topic, &entry.payload) {
            Ok((frame, node)) => (frame, node.clone()),
            Err(r) => return Taken::Rejected(r.reason),
        };
        let start = self.intervals.start_of(&frame, entry.received_ms);
        if !self.intervals.is_open(&node.station, start) {
            let (folder, name) = self.layout.place(&node.station, start);
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
            let (folder, name) = self.layout.place(&c.station, c.start_ms);
            let text = self.layout.text(c, &name);
            self.outbox()
                .write(c.start_ms, &c.station, (&folder, &name), text.as_bytes())?;
            self.stats.file_written();
        }
        let still_open = |key: &(String, u64)| self.intervals.is_open(&key.0, key.1);
        let remaining: Vec<_> = self.open_entries.drain(..).collect();
        self.open_entries = remaining.into_iter().filter(|(k, _)| still_open(k)).collect();
        self.journal.rewrite(self.open_entries.iter().map(|(_, e)| e))?;
        Ok(closed.len())
    }

    /// How many intervals are open.
    pub fn open_count(&self) -> usize {
        self.intervals.open_count()
    }
}
