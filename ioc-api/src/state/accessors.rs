//! The lock guards and counters the handlers read.

use std::sync::MutexGuard;
use std::sync::RwLockReadGuard;
use std::sync::atomic::Ordering;

use tokio::sync::watch;

use super::{AppState, lock, read};
use crate::alerts::Engine;
use crate::live::Stations;
use crate::store::Store;

impl AppState {
    pub(crate) fn stations(&self) -> RwLockReadGuard<'_, Stations> {
        read(&self.stations)
    }

    pub(crate) fn engine(&self) -> MutexGuard<'_, Engine> {
        lock(&self.engine)
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Turns true once the broker has granted the API's subscriptions.
    pub fn subscribed(&self) -> watch::Receiver<bool> {
        self.subscribed.subscribe()
    }

    /// Frames refused by the acceptance rule so far.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Frames taken into the live state so far.
    pub fn accepted(&self) -> u64 {
        self.metrics.frames_accepted.load(Ordering::Relaxed)
    }

    pub(crate) fn count_rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }
}
