//! mosquitto's password file: one `user:hash` line per account, the hash in mosquitto 2.0's `$7$`
//! form (PBKDF2-HMAC-SHA512, 101 iterations, a 12-byte salt, both in base64), as
//! `mosquitto_passwd` writes it; mosquitto reads it at start and on SIGHUP.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::Sha512;

use crate::ProvisionError;

/// mosquitto_passwd's iteration count (mosquitto 2.0 `PW_DEFAULT_ITERATIONS`). Low for PBKDF2,
/// and enough here: every password this tool makes is 128 random bits, which no offline guessing
/// reaches whatever the cost per guess.
const ITERATIONS: u32 = 101;
const SALT_LEN: usize = 12;
const HASH_LEN: usize = 64;

/// The accounts the broker knows, by user name, with their hashes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PasswordFile {
    entries: BTreeMap<String, String>,
}

impl PasswordFile {
    /// Reads a password file; blank lines and `#` comments are skipped.
    ///
    /// # Errors
    /// [`ProvisionError::Malformed`] naming the line that is not `user:hash`.
    pub fn parse(text: &str) -> Result<Self, ProvisionError> {
        let mut entries = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, hash) = line.split_once(':').ok_or_else(|| ProvisionError::Malformed {
                what: "password file",
                detail: format!("line {} is not `user:hash`", n + 1),
            })?;
            entries.insert(user.to_owned(), hash.to_owned());
        }
        Ok(PasswordFile { entries })
    }

    /// Sets `user`'s password (a new salt each time).
    pub fn set(&mut self, user: &str, password: &str) {
        let salt: [u8; SALT_LEN] = rand::random();
        self.entries.insert(user.to_owned(), hash(password, &salt));
    }

    /// Removes `user`; false if it had no entry.
    pub fn remove(&mut self, user: &str) -> bool {
        self.entries.remove(user).is_some()
    }

    /// Whether `user` has an entry.
    pub fn contains(&self, user: &str) -> bool {
        self.entries.contains_key(user)
    }

    /// The user names, sorted.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// True when `password` is `user`'s (a `$7$` entry only).
    pub fn verify(&self, user: &str, password: &str) -> bool {
        let Some(entry) = self.entries.get(user) else {
            return false;
        };
        let parts: Vec<&str> = entry.split('$').collect();
        let ["", "7", iterations, salt, _] = parts[..] else {
            return false;
        };
        let (Ok(iterations), Ok(salt)) = (iterations.parse::<u32>(), STANDARD.decode(salt)) else {
            return false;
        };
        hash_with(password, &salt, iterations) == *entry
    }

    /// The file's text.
    pub fn render(&self) -> String {
        self.entries.iter().map(|(u, h)| format!("{u}:{h}\n")).collect()
    }
}

fn hash(password: &str, salt: &[u8; SALT_LEN]) -> String {
    hash_with(password, salt, ITERATIONS)
}

fn hash_with(password: &str, salt: &[u8], iterations: u32) -> String {
    let mut out = [0u8; HASH_LEN];
    pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), salt, iterations, &mut out);
    format!(
        "$7${iterations}${}${}",
        STANDARD.encode(salt),
        STANDARD.encode(out)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by mosquitto 2.0.11's `mosquitto_passwd -b file node-7 0123456789abcdef`.
    const FROM_MOSQUITTO_PASSWD: &str = "node-7:$7$101$Pzby7cHtOUGhagBA$oV2+iiqNBLyJPik/9IWzdc5fpq/e06XmvD3vF6CHDmQtfpCrXzU/9iTvqiJZIwcS3s7xISmsnMJtOxFiezCjVA==\n";

    #[test]
    fn a_hash_made_by_mosquitto_passwd_verifies_and_a_wrong_password_does_not() {
        let file = PasswordFile::parse(FROM_MOSQUITTO_PASSWD).expect("parses");
        assert!(file.verify("node-7", "0123456789abcdef"));
        assert!(!file.verify("node-7", "0123456789abcdeF"));
        assert!(!file.verify("node-8", "0123456789abcdef"));
    }

    #[test]
    fn set_remove_and_render_round_trip() {
        let mut file = PasswordFile::default();
        file.set("citysense-ioc", "secret-one");
        file.set("node-201", "secret-two");
        let again = PasswordFile::parse(&file.render()).expect("parses");
        assert_eq!(again, file);
        assert!(again.verify("citysense-ioc", "secret-one"));
        let mut fewer = again.clone();
        assert!(fewer.remove("node-201"));
        assert!(!fewer.remove("node-201"));
        assert_eq!(fewer.users().collect::<Vec<_>>(), ["citysense-ioc"]);
    }

    #[test]
    fn a_line_without_a_colon_is_named() {
        let err = PasswordFile::parse("# comment\n\nuser-without-hash\n").expect_err("malformed");
        assert!(err.to_string().contains("line 3"), "{err}");
    }
}
