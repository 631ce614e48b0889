//! Handing the pages a replay freed back to the system at the end of an open.
//!
//! An open allocates and frees a great deal: every event is decoded into owned values and dropped,
//! and the indices grow by doubling before `State::end_bulk` trims them. jemalloc, the allocator of
//! our binaries, keeps freed pages resident for its decay time (10 s) and, in a process that then
//! sits idle, for as long as nothing allocates: 13 bytes a run of resident memory the state no
//! longer uses, right after opening 1M runs (loadgen, `open.replay.resident_bytes_per_run` 211
//! against 198 with the pages returned; docs/memory.md). Setting an arena's decay times to 0 returns its freed
//! pages at once; the times are then put back, so that ingest keeps reusing the pages it frees.
//!
//! Only jemalloc's safe control interface is used (the workspace denies `unsafe`). In a process
//! whose global allocator is another one, jemalloc's arenas hold nothing and this does nothing.

use tikv_jemalloc_ctl::{Access, AsName, arenas};

/// The decay times that [`return_freed_pages`] sets to 0 and back, dirty (freed) pages first: with a
/// muzzy time, those only become muzzy pages, which the second one returns.
const DECAY_TIMES: [&[u8]; 2] = [b"arena.0.dirty_decay_ms\0", b"arena.0.muzzy_decay_ms\0"];

/// Returns the pages every jemalloc arena holds freed to the system, keeping its decay times.
pub(crate) fn return_freed_pages() {
    let Ok(arenas) = arenas::narenas::read() else { return };
    for key in DECAY_TIMES {
        let Ok(mut mib) = key.name().mib::<[usize; 3]>() else { continue };
        for arena in 0..arenas as usize {
            mib[1] = arena;
            // An arena that was never used has no settings: nothing to return.
            let Ok(was) = Access::<isize>::read(&mib) else { continue };
            if mib.write(0isize).is_ok() && mib.write(was).is_err() {
                tracing::warn!("could not put back an allocator decay time of {was} ms");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returning_freed_pages_keeps_every_arenas_decay_times() {
        let times = || -> Vec<isize> {
            let arenas = arenas::narenas::read().expect("narenas");
            DECAY_TIMES
                .iter()
                .flat_map(|key| {
                    let mut mib = key.name().mib::<[usize; 3]>().expect("mib");
                    (0..arenas as usize).filter_map(move |a| {
                        mib[1] = a;
                        Access::<isize>::read(&mib).ok()
                    })
                })
                .collect()
        };
        let before = times();
        assert!(!before.is_empty(), "arena 0 always exists");
        assert!(before.iter().any(|&t| t > 0), "jemalloc decays freed pages over time by default: {before:?}");
        return_freed_pages();
        assert_eq!(times(), before);
    }
}
