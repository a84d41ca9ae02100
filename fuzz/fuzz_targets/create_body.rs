//! The create body: JSON parse, then every validation rule.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shared::domain::validation::{CreateVideoBody, validate};

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = serde_json::from_slice::<CreateVideoBody>(data) {
        let _ = validate(&body);
    }
});
