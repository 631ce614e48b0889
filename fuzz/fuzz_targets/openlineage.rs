//! The OpenLineage parser of `POST /api/v1/lineage` (the slim path and the whole-tree path): any
//! text gives an event or an error that names a field, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let _ = mltrace_store::openlineage::parse_event(text);
});
