//! Sensirion CRC-8, the checksum after every 16-bit word an SHT4x sends.
//!
//! Width 8, polynomial 0x31 (x⁸+x⁵+x⁴+1), init 0xFF, no reflection, final XOR 0x00, computed over
//! each 2-byte word (`shared/reference/domain.md` §7.3, "Sensirion CRC-8"). That is the catalogued
//! CRC-8/NRSC-5, so the `crc` crate's table is reused rather than hand-rolled.

use crc::{CRC_8_NRSC_5, Crc};

const SENSIRION: Crc<u8> = Crc::<u8>::new(&CRC_8_NRSC_5);

/// The CRC-8 of one 16-bit word as sent on the wire (most significant byte first).
pub fn crc8(word: [u8; 2]) -> u8 {
    SENSIRION.checksum(&word)
}

/// Checks a `word, crc` triple as read from the bus and returns the word.
pub(crate) fn checked_word(bytes: [u8; 3]) -> Option<u16> {
    let word = [bytes[0], bytes[1]];
    (crc8(word) == bytes[2]).then_some(u16::from_be_bytes(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_sensirion_check_value() {
        // domain.md §7.3: CRC(0xBE, 0xEF) = 0x92, the example in Sensirion's datasheets.
        assert_eq!(crc8([0xBE, 0xEF]), 0x92);
    }

    #[test]
    fn checked_word_rejects_a_flipped_bit() {
        assert_eq!(checked_word([0xBE, 0xEF, 0x92]), Some(0xBEEF));
        assert_eq!(checked_word([0xBE, 0xEE, 0x92]), None);
        assert_eq!(checked_word([0xBE, 0xEF, 0x93]), None);
    }
}
