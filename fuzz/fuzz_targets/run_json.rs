//! The run parser of `POST /api/v1/runs` (`mltrace_store::wire`). Any bytes give a run, a batch or an
//! error that names a field, and reading the bytes agrees with reading the parsed value (the path
//! `mltrace import` takes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mltrace_store::NewRun;

fuzz_target!(|data: &[u8]| {
    let from_value = serde_json::from_slice::<serde_json::Value>(data).ok().map(|v| NewRun::from_json(&v).ok());
    let from_bytes = NewRun::from_slice(data).ok();
    if let Some(from_value) = from_value {
        assert_eq!(from_bytes, from_value, "the bytes and the value read differently");
    }
    let _ = mltrace_store::wire::body(data);
});
