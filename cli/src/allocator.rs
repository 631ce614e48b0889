//! The allocator of the `mltrace` and `loadgen` binaries, shared as a file (loadgen includes it with
//! `#[path]`) so that both run on the same allocator and treat an open's freed pages alike; the
//! libraries choose none (see `mltrace_store::memory`).
//!
//! jemalloc rather than glibc malloc: the store allocates and frees many small strings per run on
//! several threads, and glibc's free lists were a third of the ingest's CPU (BENCHMARKS.md,
//! "What changed in this round").

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Has every open of a store in this process end by returning the pages its replay freed.
pub fn install() {
    mltrace_store::memory::release_after_open(return_freed_pages);
}

/// Hands the pages every jemalloc arena holds freed back to the system, keeping its decay times:
/// set to 0, a decay time returns the arena's freed pages at once, and put back, it lets ingest go
/// on reusing the pages it frees. Only jemalloc's safe control interface (the workspace denies
/// `unsafe`).
fn return_freed_pages() {
    use tikv_jemalloc_ctl::{Access, AsName, arenas};
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

/// The decay times [`return_freed_pages`] sets to 0 and back, dirty (freed) pages first: with a
/// muzzy time those only become muzzy pages, which the second returns.
const DECAY_TIMES: [&[u8]; 2] = [b"arena.0.dirty_decay_ms\0", b"arena.0.muzzy_decay_ms\0"];

#[cfg(test)]
mod tests {
    use super::*;
    use tikv_jemalloc_ctl::{Access, AsName, arenas};

    fn decay_times() -> Vec<isize> {
        let arenas = arenas::narenas::read().expect("narenas");
        let mut out = Vec::new();
        for key in DECAY_TIMES {
            let mut mib = key.name().mib::<[usize; 3]>().expect("mib");
            for a in 0..arenas as usize {
                mib[1] = a;
                out.extend(Access::<isize>::read(&mib).ok());
            }
        }
        out
    }

    #[test]
    fn returning_freed_pages_keeps_every_arenas_decay_times() {
        let before = decay_times();
        assert!(before.iter().any(|&t| t > 0), "jemalloc decays freed pages over time by default: {before:?}");
        return_freed_pages();
        assert_eq!(decay_times(), before);
    }
}
