//! Kling's callback body as webhook-receiver reads it: any bytes, an answer, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shared::provider::kling::KlingCallbacks;
use shared::provider::CallbackReader;

fuzz_target!(|data: &[u8]| {
    let _ = KlingCallbacks.read("kling", data);
});
