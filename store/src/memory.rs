//! What becomes of the memory an open's replay freed.
//!
//! An open allocates and frees a great deal: every event is decoded into owned values and dropped,
//! and the indices grow by doubling before `State::end_bulk` trims them. jemalloc, the allocator of
//! our binaries, keeps freed pages resident for its decay time (10 s) and, in a process that then
//! sits idle, for as long as nothing allocates: 13 bytes a run of resident memory the state no
//! longer uses, right after opening 1M runs (loadgen, `open.replay.resident_bytes_per_run` 211
//! against 198 with the pages returned; docs/memory.md).
//!
//! The store does not know the process's allocator, and must not link one: the Python extension
//! embeds the store, and jemalloc's initial-exec thread-local storage cannot be loaded into a
//! running interpreter ("cannot allocate memory in static TLS block"). So a binary that chose the
//! allocator says how to return freed pages ([`release_after_open`]), and every open then does it
//! as its last step.

use std::sync::OnceLock;

static RELEASE: OnceLock<fn()> = OnceLock::new();

/// Has every later open of a store in this process call `release` at its end, to hand the pages
/// the replay freed back to the system. Set once, by the binary that chose the global allocator;
/// false if a function was already set (which stays).
pub fn release_after_open(release: fn()) -> bool {
    RELEASE.set(release).is_ok()
}

/// The end of an open: returns the replay's freed pages, if the binary said how.
pub(crate) fn opened() {
    if let Some(release) = RELEASE.get() {
        release();
    }
}
