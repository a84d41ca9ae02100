//! The pure create path, per request: parse the body, validate it, moderate its prompts, price
//! it, ask the plan, check Kling's capability map, and mint Kling's JWT (the one the dispatcher
//! signs its submit with; minted fresh here, as after a cold start). No I/O. Budget: 100 µs.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use shared::domain::moderation::Policy;
use shared::domain::plans::{Plans, RequestFacts, Usage, refusals};
use shared::domain::pricing::{Priced, price};
use shared::domain::task::{CostUnits, Mode};
use shared::domain::validation::{CreateVideoBody, validate};
use shared::provider::kling::{JwtMinter, KlingConfig, KlingProvider};
use shared::provider::{GenerationRequest, VideoProvider};

const BODY: &[u8] = br#"{"type":"text_to_video","prompt":"A paper boat drifting down a rainy city street at dusk, neon reflections, cinematic, slow dolly-in","negative_prompt":"blurry, low quality","duration":10,"aspect_ratio":"9:16","quality":"pro","audio":true}"#;

struct Parts {
    plans: Plans,
    policy: Policy,
    provider: KlingProvider,
}

fn parts() -> Parts {
    let none: HashMap<&str, &str> = HashMap::new();
    let kling = HashMap::from([
        ("KLING_ACCESS_KEY", "bench-ak"),
        ("KLING_SECRET_KEY", "bench-sk"),
        ("KLING_BASE_URL", "http://127.0.0.1:9"),
    ]);
    let cfg = KlingConfig::from_source(&kling).expect("bench config");
    Parts {
        plans: Plans::from_source(&none).expect("plans"),
        policy: Policy::from_source(&none).expect("policy"),
        provider: KlingProvider::new(&cfg).expect("provider"),
    }
}

/// One create, end to end in memory; the cost in hundredths, so nothing is optimised away.
fn create_once(p: &Parts, now: u64) -> u64 {
    let body: CreateVideoBody = serde_json::from_slice(BODY).expect("body");
    let spec = validate(&body).expect("valid");
    let blocked = spec.texts().any(|t| p.policy.check(t).is_some());
    let (plan_name, plan) = p.plans.resolve(Some("pro"), None);
    let model = p
        .provider
        .choose_model(spec.quality, spec.model_override.as_deref());
    let priced = Priced {
        kind: spec.video_type,
        duration_seconds: spec.duration,
        pro: model.mode == Mode::Pro,
        four_k: spec.four_k,
        camera_control: spec.camera_control.is_some(),
        audio: spec.audio,
    };
    let b = price(&p.plans.prices, priced);
    let facts = RequestFacts {
        quality: spec.quality,
        model_override: None,
        duration_seconds: spec.duration,
        audio: spec.audio,
        four_k: spec.four_k,
        element_ids: &spec.element_ids,
        cost: b.cost,
    };
    let refused = refusals(plan_name, plan, &facts, &Usage::default(), now as i64).len();
    let request = generation(&spec, model);
    let ok = p.provider.check(&request).is_ok();
    let token = JwtMinter::new("bench-ak", "bench-sk")
        .token_at(now)
        .expect("jwt");
    b.cost.0 + refused as u64 + u64::from(blocked) + u64::from(ok) + token.len() as u64
}

fn generation(
    spec: &shared::domain::validation::VideoSpec,
    model: shared::provider::ModelChoice,
) -> GenerationRequest {
    GenerationRequest {
        callback_url: Some("https://api.example.com/webhooks/kling/t/token".into()),
        ..GenerationRequest::for_spec(spec, model, "01a2b3c4-0000-7000-8000-000000000000")
    }
}

fn main() {
    let p = parts();
    let now = 1_795_000_000;
    assert!(create_once(&p, now) > 0 && CostUnits(0).0 == 0);
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    c.bench_function("pure create path", |b| {
        b.iter(|| create_once(black_box(&p), now))
    });
    // The figure beside its budget, over a fixed run (criterion's own report is above).
    let runs = 20_000;
    let started = Instant::now();
    for _ in 0..runs {
        black_box(create_once(&p, now));
    }
    let per = started.elapsed().as_secs_f64() * 1e6 / f64::from(runs);
    println!("pure create path: {per:.1} µs per request over {runs} requests (budget 100 µs)");
    cold_start_parts();
}

/// What create-task's cold start spends on its rules: the moderation policy's matchers and
/// the plans, built as main builds them.
fn cold_start_parts() {
    let none: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    let runs = 200;
    let started = Instant::now();
    for _ in 0..runs {
        black_box(shared::domain::moderation::Policy::from_source(&none).is_ok());
    }
    let policy = started.elapsed().as_secs_f64() * 1e3 / f64::from(runs);
    let started = Instant::now();
    for _ in 0..runs {
        black_box(shared::domain::plans::Plans::from_source(&none).is_ok());
    }
    let plans = started.elapsed().as_secs_f64() * 1e3 / f64::from(runs);
    println!("cold start: moderation policy built in {policy:.3} ms, plans in {plans:.3} ms");
}
