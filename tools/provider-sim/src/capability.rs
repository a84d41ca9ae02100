//! Kling's capability map (`docs/providers.md` §Models), written out as the table the documentation shows:
//! one line per model, feature and mode, with the durations it accepts.

use std::collections::HashSet;
use std::sync::OnceLock;

const TABLE: &str = "
# model             feature         mode  durations
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
kling-v2-6          sound           pro   5,10
kling-v3            t2v             std   3-15
kling-v3            t2v             pro   3-15
kling-v3            i2v             std   3-15
kling-v3            i2v             pro   3-15
kling-v3            start-end       std   3-15
kling-v3            start-end       pro   3-15
kling-v3            sound           std   3-15
kling-v3            sound           pro   3-15
kling-v3            multi-shot      *     3-15
kling-v3            elements        *     3-15
# the 2026 standard API names its models in the path
kling-2.5-turbo     t2v             std   5,10
kling-2.5-turbo     t2v             pro   5,10
kling-2.5-turbo     i2v             std   5,10
kling-2.5-turbo     i2v             pro   5,10
kling-2.5-turbo     start-end       pro   5,10
kling-2.6           t2v             std   5,10
kling-2.6           t2v             pro   5,10
kling-2.6           i2v             std   5,10
kling-2.6           i2v             pro   5,10
kling-2.6           start-end       pro   5,10
kling-2.6           sound           pro   5,10
kling-3.0           t2v             std   3-15
kling-3.0           t2v             pro   3-15
kling-3.0           i2v             std   3-15
kling-3.0           i2v             pro   3-15
kling-3.0           start-end       std   3-15
kling-3.0           start-end       pro   3-15
kling-3.0           sound           std   3-15
kling-3.0           sound           pro   3-15
kling-3.0           multi-shot      *     3-15
kling-3.0           elements        *     3-15
kling-3.0-turbo     t2v             std   3-15
kling-3.0-turbo     t2v             pro   3-15
kling-3.0-turbo     i2v             std   3-15
kling-3.0-turbo     i2v             pro   3-15
kling-3.0-turbo     sound           std   3-15
kling-3.0-turbo     sound           pro   3-15
kling-3.0-turbo     multi-shot      *     3-15
";

/// Models Kling discontinued: the live API refuses them by name (`docs/providers.md` §Models).
pub const RETIRED: &[&str] = &[
    "kling-v1",
    "kling-v1-5",
    "kling-v1-6",
    "kling-v2-master",
    "kling-v2-1",
    "kling-v2-1-master",
];

/// Units billed per second, in hundredths: (std silent, pro silent, std sound, pro sound), from
/// Kling's price list (720p is std, 1080p pro).
const UNITS: &[(&str, [u64; 4])] = &[
    ("kling-v2-5-turbo", [30, 50, 30, 50]),
    ("kling-2.5-turbo", [30, 50, 30, 50]),
    ("kling-v2-6", [30, 50, 100, 100]),
    ("kling-2.6", [30, 50, 100, 100]),
    ("kling-v3", [60, 80, 90, 120]),
    ("kling-3.0", [60, 80, 90, 120]),
    ("kling-3.0-turbo", [80, 100, 80, 100]),
    // Omni with a video input (an edit): no native sound.
    ("kling-3.0-omni", [90, 120, 90, 120]),
];

/// What a finished video costs, as Kling writes it (`"1.5"`, `"6"`).
pub fn units(model: &str, mode: &str, sound: bool, duration: u32) -> String {
    if model == crate::lip_sync::MODEL {
        return decimal(u64::from(duration).div_ceil(5) * 50);
    }
    // Kling 3.0 and 3.0 Omni in 4K: 3.0 units a second, with sound or without.
    if mode == "4k" {
        return decimal(300 * u64::from(duration));
    }
    let per_second = UNITS.iter().find(|(m, _)| *m == model).map_or(0, |(_, u)| {
        u[usize::from(mode == "pro") + 2 * usize::from(sound)]
    });
    decimal(per_second * u64::from(duration))
}

/// Hundredths of a unit as Kling writes them (`"1.5"`, `"6"`).
fn decimal(hundredths: u64) -> String {
    let text = format!("{}.{:02}", hundredths / 100, hundredths % 100);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

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

/// Whether `model` offers `feature` in `mode` at any duration (the standard API does not
/// range-check durations).
pub fn offers(model: &str, feature: &str, mode: &str) -> bool {
    entries()
        .iter()
        .any(|(m, f, md, _)| m == model && f == feature && (md == "*" || md == mode || mode == "*"))
}

pub fn takes_cfg_scale(model: &str) -> bool {
    supports(model, "cfg", "*", 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_table() {
        assert!(known_model("kling-v3"));
        assert!(!known_model("kling-v1-6"), "retired");
        assert!(!known_model("kling-v9"));
        assert!(!supports("kling-v2-6", "t2v", "std", 12));
        assert!(supports("kling-v3", "t2v", "pro", 13));
        assert!(supports("kling-v3", "multi-shot", "std", 9));
        assert!(!supports("kling-v2-6", "sound", "std", 5));
        assert!(!takes_cfg_scale("kling-v2-5-turbo"));
        assert_eq!(units("kling-v2-5-turbo", "std", false, 5), "1.5");
        assert_eq!(units("kling-v3", "pro", true, 10), "12");
        assert_eq!(units("kling-3.0", "4k", true, 5), "15");
        assert_eq!(units("kling-3.0-omni", "4k", false, 4), "12");
    }
}
