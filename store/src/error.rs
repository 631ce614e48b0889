//! The store's error type: precise enough for a caller to act on (which field, which file, which
//! offset), and mapped one-to-one onto HTTP statuses and CLI exit codes by the layers above.

use std::path::PathBuf;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The caller sent something the contract does not allow. Nothing was written.
    #[error("{message}")]
    Invalid {
        /// The offending field, as a path (`runs[3].end`, `inputs[0].name`).
        field: String,
        /// What is wrong and what to do about it.
        message: String,
    },
    /// A run, output or component that does not exist (at the requested point in time).
    #[error("{message}")]
    NotFound {
        /// The field that named the missing thing.
        field: String,
        /// What is missing.
        message: String,
    },
    /// Writes are refused: an fsync failed, the disk is full, or the store is read-only.
    #[error("writes are unavailable: {0}")]
    Unavailable(String),
    /// A conditional append found that the shared log moved on (another node appended first).
    /// Nothing was written; catching up and trying again resolves it.
    #[error("write conflict: {0}")]
    Conflict(String),
    /// Another process holds the data directory for writing.
    #[error("the data directory {dir} is in use by another writer ({holder}); stop it or use it through its server")]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// What the holder wrote into the lock file (its pid and address), if anything.
        holder: String,
    },
    /// The log is damaged somewhere a crash cannot explain.
    #[error("data corruption in {path} at offset {offset}: {reason}")]
    Corrupt {
        /// The damaged segment file.
        path: PathBuf,
        /// Byte offset of the damaged record.
        offset: u64,
        /// What was found.
        reason: String,
    },
    /// An operating-system error, with what the store was doing.
    #[error("{context}: {source}")]
    Io {
        /// What the store was doing.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::Invalid { field: field.into(), message: message.into() }
    }

    pub(crate) fn not_found(field: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::NotFound { field: field.into(), message: message.into() }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::Io { context: context.into(), source }
    }

    /// Prefixes the field path, so that a batch can say `runs[3].end`.
    pub fn within(self, prefix: &str) -> Self {
        match self {
            StoreError::Invalid { field, message } => StoreError::Invalid {
                message: prefix_message(prefix, &field, message),
                field: join_path(prefix, &field),
            },
            StoreError::NotFound { field, message } => StoreError::NotFound {
                message: prefix_message(prefix, &field, message),
                field: join_path(prefix, &field),
            },
            other => other,
        }
    }
}

fn join_path(prefix: &str, field: &str) -> String {
    if field.is_empty() {
        prefix.to_string()
    } else if field.starts_with('[') {
        format!("{prefix}{field}")
    } else {
        format!("{prefix}.{field}")
    }
}

fn prefix_message(prefix: &str, field: &str, message: String) -> String {
    // Messages start with the field they are about; re-root them under the prefix.
    if !field.is_empty() && message.starts_with(field) {
        format!("{}{}", join_path(prefix, field), &message[field.len()..])
    } else {
        format!("{prefix}: {message}")
    }
}

/// Shorthand for the store's results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
