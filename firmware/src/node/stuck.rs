//! Stuck-value detection: a sensor whose raw output does not change by a single bit for longer than
//! is physically plausible is frozen (a jammed fan, a hung sensor firmware, a disconnected probe
//! reading a rail), even though every reading passes its checksum.

/// How long bit-identical raw readings are plausible. A PMS5003 frame carries six particle counts
/// and an SHT4x 16-bit ticks at about 0.003 °C each: real sensors do not repeat every bit of a
/// reading for half an hour. Not a datasheet figure; a judgement kept in one place.
pub const STUCK_AFTER_MS: u64 = 30 * 60_000;

/// Watches one sensor's raw readings.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StuckDetector {
    fingerprint: Option<u64>,
    since_ms: u64,
}

impl StuckDetector {
    /// Notes a reading (its raw bytes' fingerprint) taken at `now_ms`; true while the same reading
    /// has been seen for at least [`STUCK_AFTER_MS`].
    pub(crate) fn observe(&mut self, fingerprint: u64, now_ms: u64) -> bool {
        if self.fingerprint == Some(fingerprint) {
            return now_ms.saturating_sub(self.since_ms) >= STUCK_AFTER_MS;
        }
        self.fingerprint = Some(fingerprint);
        self.since_ms = now_ms;
        false
    }
}

/// FNV-1a over a reading's words: cheap, and any changed bit changes it.
pub(crate) fn fingerprint(words: impl IntoIterator<Item = u32>) -> u64 {
    words.into_iter().fold(0xcbf2_9ce4_8422_2325, |hash, word| {
        word.to_le_bytes().iter().fold(hash, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuck_only_after_the_whole_period_of_identical_readings() {
        let mut d = StuckDetector::default();
        let a = fingerprint([1, 2, 3]);
        assert!(!d.observe(a, 0));
        assert!(!d.observe(a, STUCK_AFTER_MS - 1));
        assert!(d.observe(a, STUCK_AFTER_MS));
        assert!(
            !d.observe(fingerprint([1, 2, 4]), STUCK_AFTER_MS + 1),
            "one bit changed"
        );
    }
}
