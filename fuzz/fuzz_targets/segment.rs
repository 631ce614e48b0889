//! Recovery: any bytes as the log's only segment. A read-only open (what `mltrace` does beside a
//! server) and `verify` answer with events or an error naming the damage, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mltrace_store::Store;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let log = dir.path().join("log");
    if std::fs::create_dir_all(&log).is_err() || std::fs::write(log.join("00000001.seg"), data).is_err() {
        return;
    }
    if let Ok(store) = Store::open_read_only(dir.path()) {
        let _ = store.events_after(0, 1_000);
    }
    let _ = mltrace_store::verify(dir.path(), |_, _| {});
});
