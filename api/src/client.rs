//! The typed HTTP client (being written).
