//! The table `make bench` prints, each figure beside its floor or budget.

use super::*;

/// Cold init of every function: at most this many times the hello-world floor.
const INIT_BUDGET: f64 = 2.0;
/// Lambda's own limit is far above; ours is for the arm64 zip (`make package` checks it).
const ZIP_BUDGET_MB: f64 = 2.5;
/// AWS calls per warm request, where there is a budget: a create, a dispatch tick.
const CALL_BUDGETS: [(&str, f64); 2] = [("create-task", 3.0), ("dispatch", 3.0)];

fn trips_per_request(figures: &Figures) -> String {
    let n = figures.warm.len().max(1) as f64;
    let total: usize = figures.trips.values().sum();
    let detail: Vec<String> = figures
        .trips
        .iter()
        .map(|(op, c)| format!("{op} {:.2}", *c as f64 / n))
        .collect();
    format!("{:.2} ({})", total as f64 / n, detail.join(", "))
}

pub fn print(run: &Run, all: &[Figures]) {
    let floor = all
        .first()
        .map_or(Duration::ZERO, |f| percentile(&f.init, 0.5));
    println!(
        "functions: {} cold starts each, then {} warm invocations in one process (release build in {})",
        run.cold,
        run.warm,
        run.bin_dir.display()
    );
    println!(
        "{:<17} {:>9} {:>8} {:>7} {:>9} {:>9} {:>8} {:>9} {:>8} {:>9} {:>9}",
        "function",
        "init med",
        "p90",
        "×floor",
        "1st inv",
        "warm med",
        "p90",
        "CPU/req",
        "RSS MiB",
        "binary MB",
        "zip MB"
    );
    for f in all {
        let init = percentile(&f.init, 0.5);
        let binary = run.bin_dir.join(&f.name);
        let size = std::fs::metadata(&binary).map_or(0, |m| m.len());
        let zip = zip_bytes(&binary).unwrap_or_default();
        println!(
            "{:<17} {:>9} {:>8} {:>7.1} {:>9} {:>9} {:>8} {:>9} {:>8.1} {:>9.2} {:>9.2}",
            f.name,
            ms(init),
            ms(percentile(&f.init, 0.9)),
            init_ratio(f),
            ms(percentile(&f.first, 0.5)),
            ms(percentile(&f.warm, 0.5)),
            ms(percentile(&f.warm, 0.9)),
            ms(f.cpu_per_request),
            f.rss_kib as f64 / 1024.0,
            size as f64 / 1e6,
            zip as f64 / 1e6,
        );
    }
    println!(
        "(times in ms; warm times include moto's and provider-sim's, CPU/req is the function's own)"
    );
    println!("AWS round trips per warm request, and what the function answered:");
    for f in all.iter().skip(1) {
        println!(
            "  {:<17} {}  answers {:?}",
            f.name,
            trips_per_request(f),
            f.answers
        );
    }
    verdicts(all, floor);
    save(all);
}

/// The figures `make cost` reads (`target/bench/functions.json`).
fn save(all: &[Figures]) {
    let doc: serde_json::Map<String, Value> = all
        .iter()
        .map(|f| {
            let figures = json!({
                "init_ms": percentile(&f.init, 0.5).as_secs_f64() * 1000.0,
                "first_invoke_ms": percentile(&f.first, 0.5).as_secs_f64() * 1000.0,
                "warm_ms": percentile(&f.warm, 0.5).as_secs_f64() * 1000.0,
                "cpu_ms": f.cpu_per_request.as_secs_f64() * 1000.0,
                "aws_calls": f.trips.iter().map(|(k, v)| (k.clone(), json!(*v as f64 / f.warm.len().max(1) as f64))).collect::<serde_json::Map<_, _>>(),
            });
            (f.name.clone(), figures)
        })
        .collect();
    let path = Path::new("target/bench/functions.json");
    let saved = std::fs::create_dir_all("target/bench")
        .and_then(|_| std::fs::write(path, Value::Object(doc).to_string()));
    match saved {
        Ok(()) => println!("figures saved to {} (make cost reads them)", path.display()),
        Err(e) => println!("figures not saved: {e}"),
    }
}

fn verdicts(all: &[Figures], floor: Duration) {
    let ratios: Vec<(f64, &str)> = all
        .iter()
        .skip(1)
        .map(|f| (init_ratio(f), f.name.as_str()))
        .collect();
    let worst = ratios
        .iter()
        .copied()
        .fold((0.0, "-"), |acc, r| if r.0 > acc.0 { r } else { acc });
    let over: Vec<String> = ratios
        .iter()
        .filter(|(r, _)| *r > INIT_BUDGET)
        .map(|(r, n)| format!("{n} {r:.1}×"))
        .collect();
    let verdict = match over.is_empty() {
        true => "met".to_string(),
        false => format!("NOT met ({})", over.join(", ")),
    };
    println!(
        "cold init: worst {:.1}× the hello-world floor launched beside it ({}; floor {} ms at the start) — budget {INIT_BUDGET}×: {verdict}",
        worst.0,
        worst.1,
        ms(floor)
    );
    for (name, budget) in CALL_BUDGETS {
        let Some(f) = all.iter().find(|f| f.name == name) else {
            continue;
        };
        let calls = f.trips.values().sum::<usize>() as f64 / f.warm.len().max(1) as f64;
        let verdict = if calls <= budget { "met" } else { "NOT met" };
        println!("{name}: {calls:.2} AWS calls per warm request — budget {budget}: {verdict}");
    }
    println!(
        "zip sizes above are this machine's architecture; the {ZIP_BUDGET_MB} MB budget is for arm64 (`make package`)"
    );
}
