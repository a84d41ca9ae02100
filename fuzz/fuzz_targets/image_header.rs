//! The image header check create-task runs on uploads and image URLs.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = shared::domain::images::inspect(data, "image");
});
