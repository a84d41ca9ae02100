//! Inputs the fuzzer found (`fuzz/regressions/mp4_boxes`): a child box smaller than its header
//! that made the `mp4` crate loop for ever, and a movie duration whose conversion overflowed
//! (a zero timescale there divides by zero). Each now gets an answer at once, never a hang or
//! a panic.

use finalize::boxes::BoxCollector;

#[test]
fn fuzz_findings_get_an_answer_not_a_hang_or_a_panic() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/regressions/mp4_boxes"
    );
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        // The fuzz target's input: a chunk size, then the stream.
        let (&cut, body) = data.split_first().unwrap();
        let mut boxes = BoxCollector::default();
        for chunk in body.chunks(usize::from(cut).max(1)) {
            boxes.push(chunk);
        }
        if let Ok(header) = boxes.finish() {
            let _ = shared::domain::mp4_probe::probe(&header);
        }
        seen += 1;
    }
    assert_eq!(seen, 3);
}
