//! Kling's capability map (kling-api.md §3), written out as the table the documentation shows:
//! one line per model, feature and mode, with the durations it accepts.

use std::collections::HashSet;
use std::sync::OnceLock;

const TABLE: &str = "
# model             feature         mode  durations
kling-v1            t2v             std   5,10
kling-v1            t2v             pro   5,10
kling-v1            t2v-camera      std   5
kling-v1            i2v             std   5,10
kling-v1            i2v             pro   5,10
kling-v1            start-end       std   5
kling-v1            start-end       pro   5
kling-v1            brush           std   5
kling-v1            brush           pro   5
kling-v1            cfg             *     *
kling-v1-5          i2v             std   5,10
kling-v1-5          i2v             pro   5,10
kling-v1-5          start-end       pro   5,10
kling-v1-5          end-only        pro   5,10
kling-v1-5          brush           pro   5
kling-v1-5          i2v-camera      pro   5
kling-v1-5          cfg             *     *
kling-v1-6          t2v             std   5,10
kling-v1-6          t2v             pro   5,10
kling-v1-6          i2v             std   5,10
kling-v1-6          i2v             pro   5,10
kling-v1-6          start-end       pro   5,10
kling-v1-6          end-only        pro   5,10
kling-v1-6          cfg             *     *
kling-v2-master     t2v             *     5,10
kling-v2-master     i2v             *     5,10
kling-v2-1          i2v             std   5,10
kling-v2-1          i2v             pro   5,10
kling-v2-1          start-end       pro   5,10
kling-v2-1-master   t2v             *     5,10
kling-v2-1-master   i2v             *     5,10
kling-v2-5-turbo    t2v             std   5,10
kling-v2-5-turbo    t2v             pro   5,10
kling-v2-5-turbo    i2v             std   5,10
kling-v2-5-turbo    i2v             pro   5,10
kling-v2-5-turbo    start-end       pro   5,10
kling-v2-6          t2v             std   5,10
kling-v2-6          t2v             pro   5,10
kling-v2-6          i2v             std   5,10
kling-v2-6          i2v             pro   5,10
kling-v2-6          start-end       pro   5,10
kling-v3            t2v             std   3-15
kling-v3            t2v             pro   3-15
kling-v3            i2v             std   3-15
kling-v3            i2v             pro   3-15
kling-v3            start-end       std   3-15
kling-v3            start-end       pro   3-15
";

type Entry = (String, String, String, u32);

fn entries() -> &'static HashSet<Entry> {
    static ENTRIES: OnceLock<HashSet<Entry>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        let mut set = HashSet::new();
        for line in TABLE
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let [model, feature, mode, durations] = cols[..] else {
                continue;
            };
            let durations: Vec<u32> = match durations {
                "*" => vec![0],
                d if d.contains('-') => {
                    let (a, b) = d.split_once('-').unwrap_or(("0", "0"));
                    (a.parse().unwrap_or(0)..=b.parse().unwrap_or(0)).collect()
                }
                d => d.split(',').filter_map(|x| x.parse().ok()).collect(),
            };
            for d in durations {
                set.insert((model.to_string(), feature.to_string(), mode.to_string(), d));
            }
        }
        set
    })
}

pub fn known_model(model: &str) -> bool {
    entries().iter().any(|(m, ..)| m == model)
}

/// Whether `model` offers `feature` in `mode` for `duration` seconds.
pub fn supports(model: &str, feature: &str, mode: &str, duration: u32) -> bool {
    let e = entries();
    ["*", mode].iter().any(|m| {
        e.contains(&(
            model.to_string(),
            feature.to_string(),
            m.to_string(),
            duration,
        )) || e.contains(&(model.to_string(), feature.to_string(), m.to_string(), 0))
    })
}

pub fn takes_cfg_scale(model: &str) -> bool {
    supports(model, "cfg", "*", 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_table() {
        assert!(known_model("kling-v2-1"));
        assert!(!known_model("kling-v9"));
        assert!(!supports("kling-v2-1", "t2v", "std", 5));
        assert!(supports("kling-v1", "t2v-camera", "std", 5));
        assert!(!supports("kling-v1", "t2v-camera", "std", 10));
        assert!(supports("kling-v2-master", "t2v", "pro", 10));
        assert!(supports("kling-v3", "t2v", "pro", 13));
        assert!(takes_cfg_scale("kling-v1-6"));
        assert!(!takes_cfg_scale("kling-v2-5-turbo"));
    }
}
