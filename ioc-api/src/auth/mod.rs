//! Access control: bearer tokens with roles. Tokens are random, shown once, and stored as
//! SHA-256 hashes; a presented token is hashed and compared in constant time against every
//! stored hash (no early exit, so timing tells nothing about which or how many bytes matched).
//!
//! Design: SHA-256, not a password hash (argon2, bcrypt). The tokens are 256 random bits, not
//! human passwords, so there is nothing for a slow hash to protect against guessing; a fast
//! hash keeps the per-request cost at microseconds.

use std::fmt;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use crate::store::TokenRecord;

/// What a token may do. Each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read everything (when anonymous reading is off) and the audit-free views.
    Viewer,
    /// Also acknowledge and resolve alerts, enter lab results, send node commands.
    Operator,
    /// Also edit thresholds, manage tokens, read the audit log and webhook deliveries.
    Admin,
}

impl Role {
    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Parses a name.
    pub fn parse(name: &str) -> Option<Role> {
        [Role::Viewer, Role::Operator, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name (`anonymous` without one).
    pub name: String,
    /// Its role; `None` for an anonymous caller.
    pub role: Option<Role>,
}

/// A new token: `cs_` and 64 hex digits (256 random bits).
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("cs_{}", hex::encode(bytes))
}

/// The stored form of a token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The live tokens, as hashes.
#[derive(Debug, Default)]
pub struct TokenSet {
    entries: Vec<([u8; 32], String, Role)>,
}

impl TokenSet {
    /// The unrevoked tokens among `records`.
    pub fn from_records(records: &[TokenRecord]) -> TokenSet {
        let entries = records
            .iter()
            .filter(|r| r.revoked_at.is_none())
            .filter_map(|r| {
                let mut digest = [0u8; 32];
                hex::decode_to_slice(&r.hash, &mut digest).ok()?;
                Some((digest, r.name.clone(), Role::parse(&r.role)?))
            })
            .collect();
        TokenSet { entries }
    }

    /// The caller a presented token belongs to. Every stored hash is compared, in constant
    /// time, whatever matches.
    pub fn verify(&self, token: &str) -> Option<Caller> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (stored, name, role) in &self.entries {
            if bool::from(stored.ct_eq(&digest)) {
                found = Some(Caller {
                    name: name.clone(),
                    role: Some(*role),
                });
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, role: Role, token: &str, revoked: bool) -> TokenRecord {
        TokenRecord {
            name: name.into(),
            role: role.as_str().into(),
            hash: hash(token),
            created_at: String::new(),
            created_by: String::new(),
            revoked_at: revoked.then(String::new),
        }
    }

    #[test]
    fn tokens_verify_by_hash_and_revoked_ones_do_not() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert_eq!(a.len(), 67);
        let set = TokenSet::from_records(&[
            record("alice", Role::Admin, &a, false),
            record("bob", Role::Viewer, &b, true),
        ]);
        assert_eq!(set.verify(&a).map(|c| c.name), Some("alice".into()));
        assert_eq!(set.verify(&b), None, "revoked");
        assert_eq!(set.verify("cs_guess"), None);
        assert!(Role::Admin > Role::Operator && Role::Operator > Role::Viewer);
    }
}
