//! finalize's MP4 box reader over a download cut into arbitrary chunks, then the header probe.
#![no_main]
use finalize::boxes::BoxCollector;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let mut boxes = BoxCollector::default();
    let step = usize::from(cut).max(1);
    for chunk in body.chunks(step) {
        boxes.push(chunk);
    }
    if let Ok(header) = boxes.finish() {
        let _ = shared::domain::mp4_probe::probe(&header);
    }
});
