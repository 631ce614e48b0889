//! Signed tree heads and the key that signs them.
//!
//! A tree head says "the log's first `size` events hash to `root`, as of `time`", signed with the
//! server's Ed25519 key. The signed bytes are RFC 6962's `TreeHeadSignature` structure, so that any
//! verifier can rebuild them from the head's JSON:
//!
//! | offset | width | field                                              |
//! |-------:|------:|----------------------------------------------------|
//! |      0 |     1 | version: 0 (v1)                                    |
//! |      1 |     1 | signature type: 1 (tree_hash)                      |
//! |      2 |     8 | timestamp, epoch milliseconds, u64 big-endian      |
//! |     10 |     8 | tree size, u64 big-endian                          |
//! |     18 |    32 | root hash (SHA-256)                                |
//!
//! The key lives in `DATA_DIR/audit/signing-key` (the 32-byte Ed25519 seed, base64, one line, mode
//! 0600), created from the OS's random source on the first writable open, or is read from a file
//! the operator names. This module owns the key file and the signature format; nothing else signs.

use super::merkle::Hash;
use crate::error::{Result, StoreError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::fs;
use std::path::{Path, PathBuf};

/// Length of the signed message.
pub const MESSAGE_LEN: usize = 50;

/// A signed tree head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeHead {
    /// Number of events (leaves) the tree covers: events 1 ..= size.
    pub size: u64,
    /// The tree's root hash.
    pub root: Hash,
    /// When it was signed, epoch milliseconds.
    pub time: i64,
    /// The signer's Ed25519 public key.
    pub key: [u8; 32],
    /// Ed25519 signature over [`signed_message`].
    pub signature: [u8; 64],
}

/// The bytes a tree head's signature covers (RFC 6962's `TreeHeadSignature`).
pub fn signed_message(size: u64, time: i64, root: &Hash) -> [u8; MESSAGE_LEN] {
    let mut m = [0u8; MESSAGE_LEN];
    m[0] = 0;
    m[1] = 1;
    // Times before 1970 cannot be signed meaningfully; append times never are.
    m[2..10].copy_from_slice(&(time.max(0) as u64).to_be_bytes());
    m[10..18].copy_from_slice(&size.to_be_bytes());
    m[18..50].copy_from_slice(root);
    m
}

impl TreeHead {
    /// Whether the signature is `key`'s over this head.
    pub fn verify(&self, key: &[u8; 32]) -> bool {
        let Ok(vk) = VerifyingKey::from_bytes(key) else { return false };
        let sig = Signature::from_bytes(&self.signature);
        vk.verify_strict(&signed_message(self.size, self.time, &self.root), &sig).is_ok()
    }
}

/// The data directory's signing key.
pub struct AuditKey {
    key: SigningKey,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        write!(f, "AuditKey({})", B64.encode(self.public()))
    }
}

/// Where a data directory keeps its signing key.
pub fn key_path(dir: &Path) -> PathBuf {
    dir.join("audit").join("signing-key")
}

impl AuditKey {
    /// Reads a key file: the 32-byte seed, as base64 text (one line) or as 32 raw bytes.
    pub fn read(path: &Path) -> Result<AuditKey> {
        let bytes =
            fs::read(path).map_err(|e| StoreError::io(format!("reading the signing key {}", path.display()), e))?;
        let seed: Option<[u8; 32]> = if bytes.len() == 32 {
            bytes.as_slice().try_into().ok()
        } else {
            std::str::from_utf8(&bytes)
                .ok()
                .and_then(|t| B64.decode(t.trim()).ok())
                .and_then(|v| v.as_slice().try_into().ok())
        };
        let seed = seed.ok_or_else(|| {
            StoreError::invalid(
                "signing_key",
                format!("{} is not an Ed25519 key: expected its 32-byte seed, in base64 or raw", path.display()),
            )
        })?;
        Ok(AuditKey { key: SigningKey::from_bytes(&seed) })
    }

    /// The directory's key, created (from the OS's random source) when there is none yet and
    /// `create` allows it.
    pub fn load_or_create(dir: &Path, create: bool) -> Result<AuditKey> {
        let path = key_path(dir);
        if path.exists() || !create {
            return Self::read(&path);
        }
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| {
            StoreError::io("reading the OS's random source for a signing key", std::io::Error::other(e.to_string()))
        })?;
        write_secret(&path, format!("{}\n", B64.encode(seed)).as_bytes())?;
        Ok(AuditKey { key: SigningKey::from_bytes(&seed) })
    }

    /// The public key.
    pub fn public(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Signs the head of a tree of `size` leaves with root `root`, at `time`.
    pub fn sign(&self, size: u64, root: Hash, time: i64) -> TreeHead {
        let signature = self.key.sign(&signed_message(size, time, &root)).to_bytes();
        TreeHead { size, root, time, key: self.public(), signature }
    }
}

/// Writes a new secret file readable by its owner only, atomically (temporary file, fsync, rename).
fn write_secret(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| StoreError::io(format!("creating {}", dir.display()), e))?;
    let tmp = path.with_extension("tmp");
    let io = |e| StoreError::io(format!("writing {}", tmp.display()), e);
    let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(io)?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(io)?;
    fs::rename(&tmp, path).map_err(|e| StoreError::io(format!("renaming {}", tmp.display()), e))?;
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io(format!("fsync of {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_head_verifies_only_unchanged_and_under_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = AuditKey::load_or_create(dir.path(), true).unwrap();
        let again = AuditKey::load_or_create(dir.path(), true).unwrap();
        assert_eq!(key.public(), again.public(), "the key is kept, not re-created");
        let head = key.sign(42, [7u8; 32], 1_700_000_000_000);
        assert!(head.verify(&key.public()));
        let mut other = head.clone();
        other.size = 43;
        assert!(!other.verify(&key.public()));
        let mut other = head.clone();
        other.root[0] ^= 1;
        assert!(!other.verify(&key.public()));
        let stranger = AuditKey::load_or_create(tempfile::tempdir().unwrap().path(), true).unwrap();
        assert!(!head.verify(&stranger.public()));
        let mode = std::os::unix::fs::PermissionsExt::mode(&fs::metadata(key_path(dir.path())).unwrap().permissions());
        assert_eq!(mode & 0o077, 0, "the key file is private");
    }

    #[test]
    fn the_signed_message_is_rfc_6962s_tree_head_signature() {
        let m = signed_message(0x0102, 0x0a0b, &[9u8; 32]);
        assert_eq!(&m[..2], &[0, 1]);
        assert_eq!(&m[2..10], &[0, 0, 0, 0, 0, 0, 0x0a, 0x0b]);
        assert_eq!(&m[10..18], &[0, 0, 0, 0, 0, 0, 0x01, 0x02]);
        assert_eq!(&m[18..], &[9u8; 32]);
    }

    #[test]
    fn a_key_file_that_is_not_a_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        fs::write(&p, "not a key").unwrap();
        assert!(matches!(AuditKey::read(&p), Err(StoreError::Invalid { .. })));
    }
}
