//! Hostile bytes for every decoder of the store: the record frame and payload, the segment header,
//! `log/newest`, the checkpoint, and segment recovery as a whole. Whatever the bytes, decoding
//! answers an error (never a panic, never a huge allocation), and an open of a damaged log either
//! stops or holds a prefix of the events that were written.
//!
//! Cases: 256 by default; `MLTRACE_LONG_TESTS=1` runs 20,000.

use mltrace_store::codec;
use mltrace_store::storage::sim::SimStorage;
use mltrace_store::{EventKind, FsyncPolicy, LogOptions, NewRun, Seq, Store, Timestamp};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

const DIR: &str = "/data";

fn cases() -> u32 {
    if std::env::var("MLTRACE_LONG_TESTS").is_ok_and(|v| v == "1") { 20_000 } else { 256 }
}

fn opts() -> LogOptions {
    LogOptions { segment_bytes: 2048, fsync: FsyncPolicy::Never, ..LogOptions::default() }
}

/// A log of a few segments with a checkpoint, on a simulated disk, and the events it holds.
struct Sample {
    files: Vec<(PathBuf, Vec<u8>)>,
    events: Vec<(Seq, EventKind)>,
}

fn sample() -> &'static Sample {
    static SAMPLE: OnceLock<Sample> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        let disk = SimStorage::new();
        let (store, _) = Store::open_on(Arc::new(disk.clone()), Path::new(DIR), opts()).expect("open");
        let t = Timestamp(1_700_000_000_000);
        for i in 0..40 {
            let run = NewRun::new(&format!("c{}", i % 3), t, t)
                .inputs([format!("in-{i}").as_str()])
                .outputs([format!("out-{i}").as_str()]);
            store.log_run(&run).expect("log");
            if i == 25 {
                store.checkpoint().expect("checkpoint");
            }
        }
        store.set_notes(3, "hello").expect("notes");
        let events = store.events_after(0, usize::MAX).expect("events").into_iter().map(|e| (e.seq, e.kind)).collect();
        drop(store);
        let log = Path::new(DIR).join("log");
        let mut files: Vec<(PathBuf, Vec<u8>)> = disk
            .list(&log)
            .expect("list")
            .into_iter()
            .map(|n| log.join(n))
            .chain([Path::new(DIR).join("checkpoint")])
            .filter_map(|p| disk.file(&p).map(|b| (p, b)))
            .collect();
        files.sort();
        Sample { files, events }
    })
}

use mltrace_store::storage::Storage;

/// One damage to one file of the sample.
#[derive(Debug, Clone)]
enum Damage {
    Flip { file: usize, at: usize, mask: u8 },
    Cut { file: usize, at: usize },
    Overwrite { file: usize, at: usize, bytes: Vec<u8> },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), any::<usize>(), 1u8..=255).prop_map(|(file, at, mask)| Damage::Flip { file, at, mask }),
        (any::<usize>(), any::<usize>()).prop_map(|(file, at)| Damage::Cut { file, at }),
        (any::<usize>(), any::<usize>(), proptest::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(file, at, bytes)| Damage::Overwrite { file, at, bytes }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_a_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512), at in 0usize..64) {
        let _ = codec::read_frame(&bytes, at);
        let _ = codec::decode_event(&bytes);
        let _ = codec::decode_event_ref(&bytes);
        let _ = codec::decode_header(&bytes);
        let _ = codec::decode_newest(&bytes);
        // A frame with a valid checksum around arbitrary bytes reaches the payload decoder.
        let mut framed = vec![0u8; codec::FRAME_LEN];
        framed.extend_from_slice(&bytes);
        let len = bytes.len() as u32;
        framed[4..8].copy_from_slice(&len.to_le_bytes());
        framed[8] = codec::FLAG_BATCH_END;
        let crc = crc32fast::hash(&framed[4..]);
        framed[0..4].copy_from_slice(&crc.to_le_bytes());
        if let Ok(f) = codec::read_frame(&framed, 0) {
            let _ = codec::decode_event(f.payload);
            let _ = codec::decode_event_ref(f.payload);
        }
    }

    #[test]
    fn a_damaged_log_or_checkpoint_opens_to_a_prefix_of_its_events_or_stops(damages in proptest::collection::vec(damage(), 1..4)) {
        let s = sample();
        let disk = SimStorage::new();
        disk.create_dir_all(&Path::new(DIR).join("log")).expect("mkdir");
        let mut files = s.files.clone();
        for d in &damages {
            let n = files.len();
            match d {
                Damage::Flip { file, at, mask } => {
                    let f = &mut files[file % n].1;
                    if !f.is_empty() {
                        let i = at % f.len();
                        f[i] ^= mask;
                    }
                }
                Damage::Cut { file, at } => {
                    let f = &mut files[file % n].1;
                    let keep = at % (f.len() + 1);
                    f.truncate(keep);
                }
                Damage::Overwrite { file, at, bytes } => {
                    let f = &mut files[file % n].1;
                    if !f.is_empty() {
                        let i = at % f.len();
                        let end = (i + bytes.len()).min(f.len());
                        f[i..end].copy_from_slice(&bytes[..end - i]);
                    }
                }
            }
        }
        for (p, b) in files {
            disk.put_file(&p, b);
        }
        if let Ok((store, _)) = Store::open_on(Arc::new(disk), Path::new(DIR), opts()) {
            // Whatever opened must be a prefix of what was written, and readable.
            let got: Vec<(Seq, EventKind)> = match store.events_after(0, usize::MAX) {
                Ok(events) => events.into_iter().map(|e| (e.seq, e.kind)).collect(),
                Err(_) => return Ok(()),
            };
            prop_assert!(got.len() <= s.events.len());
            prop_assert_eq!(&got[..], &s.events[..got.len()]);
        }
    }
}
