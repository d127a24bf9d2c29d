//! The settings blob a node's flash is programmed with at the factory (the board reads it at
//! 0x003F_0000, `firmware/src/bin/board.rs`): its id, its frame key, its broker password and the
//! broker address for the modem. Layout, little-endian:
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 4 | magic `CSN2` |
//! | 4 | 4 | node id |
//! | 8 | 32 | HMAC key of its frames |
//! | 40 | 32 | MQTT password, ASCII (user name `node-{id}`) |
//! | 72 | 1 | length n of the broker address |
//! | 73 | n | broker address `host:port`, ASCII, for the modem's connection |

use crate::ProvisionError;

/// `CSN2` read as a little-endian u32.
pub const MAGIC: u32 = u32::from_le_bytes(*b"CSN2");
/// Length of the MQTT password: 16 random bytes in hex.
pub const PASSWORD_LEN: usize = 32;
const HEADER_LEN: usize = 73;

/// What a node is provisioned with.
#[derive(Clone, PartialEq, Eq)]
pub struct SettingsBlob {
    /// The registry id.
    pub node_id: u32,
    /// The frame key.
    pub key: [u8; 32],
    /// The broker password, hex ASCII.
    pub mqtt_password: [u8; PASSWORD_LEN],
    /// `host:port` of the broker.
    pub broker: String,
}

impl std::fmt::Debug for SettingsBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingsBlob")
            .field("node_id", &self.node_id)
            .field("broker", &self.broker)
            .finish_non_exhaustive()
    }
}

impl SettingsBlob {
    /// The bytes to program.
    ///
    /// # Errors
    /// [`ProvisionError::Invalid`] when the broker address is not printable ASCII or over 255
    /// bytes.
    pub fn encode(&self) -> Result<Vec<u8>, ProvisionError> {
        let broker = self.broker.as_bytes();
        let len = u8::try_from(broker.len())
            .ok()
            .filter(|_| self.broker.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| ProvisionError::Invalid {
                field: "--broker",
                detail: "must be host:port in printable ASCII, at most 255 bytes".into(),
            })?;
        let mut out = Vec::with_capacity(HEADER_LEN + broker.len());
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&self.node_id.to_le_bytes());
        out.extend_from_slice(&self.key);
        out.extend_from_slice(&self.mqtt_password);
        out.push(len);
        out.extend_from_slice(broker);
        Ok(out)
    }

    /// Reads a blob back (for checks and tests); `None` if it is not one.
    pub fn decode(bytes: &[u8]) -> Option<SettingsBlob> {
        let header = bytes.get(..HEADER_LEN)?;
        if u32::from_le_bytes(header[0..4].try_into().ok()?) != MAGIC {
            return None;
        }
        let broker = bytes.get(HEADER_LEN..HEADER_LEN + usize::from(header[72]))?;
        Some(SettingsBlob {
            node_id: u32::from_le_bytes(header[4..8].try_into().ok()?),
            key: header[8..40].try_into().ok()?,
            mqtt_password: header[40..72].try_into().ok()?,
            broker: String::from_utf8(broker.to_vec()).ok()?,
        })
    }

    /// The broker password as text.
    pub fn password(&self) -> &str {
        std::str::from_utf8(&self.mqtt_password).unwrap_or_default()
    }
}

/// A new broker password: 16 random bytes in hex, so it fits the blob and any config file.
pub fn new_password() -> [u8; PASSWORD_LEN] {
    let mut out = [0u8; PASSWORD_LEN];
    let text = hex::encode(rand::random::<[u8; PASSWORD_LEN / 2]>());
    out.copy_from_slice(text.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_reads_back_and_its_debug_output_holds_no_secret() {
        let blob = SettingsBlob {
            node_id: 205,
            key: [0xab; 32],
            mqtt_password: new_password(),
            broker: "mqtt.haugiang.gov.vn:8883".into(),
        };
        let bytes = blob.encode().expect("encodes");
        assert_eq!(&bytes[..4], b"CSN2");
        assert_eq!(SettingsBlob::decode(&bytes), Some(blob.clone()));
        let shown = format!("{blob:?}");
        assert!(
            !shown.contains(blob.password()) && !shown.contains("ab, ab"),
            "{shown}"
        );
        assert_eq!(SettingsBlob::decode(&bytes[..40]), None, "truncated");
    }

    #[test]
    fn a_broker_address_with_spaces_is_refused_naming_the_flag() {
        let blob = SettingsBlob {
            node_id: 1,
            key: [0; 32],
            mqtt_password: new_password(),
            broker: "mqtt host:8883".into(),
        };
        let err = blob.encode().expect_err("refused");
        assert!(err.to_string().contains("--broker"), "{err}");
    }
}
