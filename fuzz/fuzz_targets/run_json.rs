//! The run parsers of `POST /api/v1/runs`: the typed fast path and the field-precise parser. Any
//! bytes give a run or an error, and the fast path never accepts what the precise parser refuses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mltrace_store::NewRun;

fuzz_target!(|data: &[u8]| {
    let precise = serde_json::from_slice::<serde_json::Value>(data)
        .ok()
        .map(|v| NewRun::from_json(&v).and_then(|r| r.check().map(|()| r)).is_ok());
    if let Some(run) = mltrace_store::ingest::fast::run(data) {
        let fast_ok = run.check().is_ok();
        assert_eq!(Some(fast_ok), precise, "the fast path and the precise parser disagree");
    }
    let _ = mltrace_store::ingest::fast::batch(data);
});
