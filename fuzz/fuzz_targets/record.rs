//! A record frame and its payload, as read back from a segment: any bytes give a frame or an
//! error, and a payload that passes its checksum decodes to an event or an error, never a panic
//! or an allocation the payload cannot back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mltrace_store::codec;

fuzz_target!(|data: &[u8]| {
    let _ = codec::decode_header(data);
    let mut at = 0;
    while let Ok(frame) = codec::read_frame(data, at) {
        let _ = codec::decode_event(frame.payload);
        let _ = codec::decode_event_ref(frame.payload);
        if frame.next <= at {
            break;
        }
        at = frame.next;
    }
    let _ = codec::decode_event(data);
});
