//! The list cursor an app sends back: decoded and checked against the caller's partition.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cursor) = std::str::from_utf8(data) {
        let _ = shared::aws::decode_cursor(cursor, "alice");
    }
});
