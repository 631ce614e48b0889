//! The run parser of `POST /api/v1/runs` (`mltrace_store::wire`). Any bytes give a run, a batch or an
//! error that names a field, and reading bytes agrees with reading the parsed value (the path
//! `mltrace import` takes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mltrace_store::NewRun;

fuzz_target!(|data: &[u8]| {
    let _ = NewRun::from_slice(data);
    let _ = mltrace_store::wire::body(data);
    // A parsed value has no repeated keys (the last one wins), which bytes may have and which the
    // bytes' reader refuses: compare on the value's own bytes.
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let bytes = serde_json::to_vec(&value).expect("a value serializes");
        assert_eq!(NewRun::from_slice(&bytes).ok(), NewRun::from_json(&value).ok(), "bytes and value read differently");
    }
});
