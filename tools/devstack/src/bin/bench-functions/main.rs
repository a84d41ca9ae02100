//! The function benchmark: every function binary (and a hello-world Lambda, the floor) run
//! through a Runtime API of our own against moto and provider-sim. Prints, per function, cold
//! init (median and p90), the first invocation, warm invocations (wall and CPU), peak
//! memory, binary and zip size, and AWS round trips per request. Figures, not assertions.
//!
//! `BENCH_BIN_DIR=target/release bench-functions [cold runs] [warm invocations]`

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use devstack::bench::Measured;
use devstack::gateway::http_event;
use devstack::lossy::LossyProxy;
use devstack::stack::{Stack, StackOptions};
use serde_json::{Value, json};

type Events = Box<dyn Fn(usize) -> Value>;

struct Figures {
    name: String,
    /// Cold inits (`Run::quiet_inits`), and the hello-world floor's launched beside them.
    init: Vec<Duration>,
    floor: Vec<Duration>,
    first: Vec<Duration>,
    warm: Vec<Duration>,
    cpu_per_request: Duration,
    rss_kib: u64,
    trips: BTreeMap<String, usize>,
    answers: BTreeMap<String, usize>,
    /// Every answer, in order (create-task's carry the ids the next steps use).
    bodies: Vec<Value>,
}

struct Run {
    bin_dir: PathBuf,
    log_dir: PathBuf,
    cold: usize,
    warm: usize,
    proxy: LossyProxy,
}

fn answer_label(answer: &Option<Value>) -> String {
    match answer {
        None => "error".into(),
        Some(v) => match v.get("statusCode") {
            Some(code) => format!("HTTP {code}"),
            None => "ok".into(),
        },
    }
}

impl Run {
    async fn measure(
        &self,
        name: &str,
        env: &[(String, String)],
        events: &Events,
    ) -> Result<Figures, Box<dyn std::error::Error>> {
        let binary = self.bin_dir.join(name);
        let log = self.log_dir.join(format!("{name}.log"));
        let mut figures = Figures {
            name: name.to_string(),
            init: Vec::new(),
            floor: Vec::new(),
            first: Vec::new(),
            warm: Vec::new(),
            cpu_per_request: Duration::ZERO,
            rss_kib: 0,
            trips: BTreeMap::new(),
            answers: BTreeMap::new(),
            bodies: Vec::new(),
        };
        for i in 0..self.cold {
            let mut p = Measured::launch(&binary, env, &log).await?;
            p.init().await?;
            let (took, answer) = p.invoke(&events(i)).await?;
            figures.first.push(took);
            *figures.answers.entry(answer_label(&answer)).or_default() += 1;
            figures.bodies.extend(answer);
            p.stop().await;
        }
        let mut p = Measured::launch(&binary, env, &log).await?;
        p.init().await?;
        p.invoke(&events(self.cold)).await?;
        let cpu_before = p.cpu();
        self.proxy.reset_calls();
        for i in 0..self.warm {
            let (took, answer) = p.invoke(&events(self.cold + 1 + i)).await?;
            figures.warm.push(took);
            *figures.answers.entry(answer_label(&answer)).or_default() += 1;
            figures.bodies.extend(answer);
        }
        figures.cpu_per_request = (p.cpu() - cpu_before) / self.warm.max(1) as u32;
        figures.trips = self.proxy.calls().into_iter().collect();
        figures.rss_kib = p.peak_rss_kib().unwrap_or_default();
        p.stop().await;
        Ok(figures)
    }
}

impl Run {
    /// One cold init of a binary: launched, ready for its first event, stopped.
    async fn init_once(
        &self,
        name: &str,
        env: &[(String, String)],
    ) -> Result<Duration, Box<dyn std::error::Error>> {
        let log = self.log_dir.join(format!("{name}.log"));
        let mut p = Measured::launch(&self.bin_dir.join(name), env, &log).await?;
        let init = p.init().await?;
        p.stop().await;
        Ok(init)
    }

    /// Cold inits of every function while the stack is idle (before any event makes work for
    /// its stream readers), round-robin, each right after a hello-world cold init: the
    /// machine's pace drifts over a run, and a ratio means something only between neighbours.
    /// Per function: its inits and the floor's beside them.
    async fn quiet_inits(
        &self,
        functions: &[(&str, Vec<(String, String)>)],
    ) -> Result<Inits, Box<dyn std::error::Error>> {
        let mut inits = Inits::new();
        for _ in 0..self.cold {
            for (name, env) in functions {
                let floor = self.init_once("hello-lambda", &[]).await?;
                let init = self.init_once(name, env).await?;
                let entry = inits.entry(name.to_string()).or_default();
                entry.0.push(init);
                entry.1.push(floor);
            }
        }
        Ok(inits)
    }
}

/// Per function: cold inits, and the floor's beside them.
type Inits = BTreeMap<String, (Vec<Duration>, Vec<Duration>)>;

/// Cold init as a multiple of the floor measured beside it.
fn init_ratio(f: &Figures) -> f64 {
    let floor = percentile(&f.floor, 0.5).as_secs_f64();
    percentile(&f.init, 0.5).as_secs_f64() / floor.max(1e-9)
}

fn percentile(values: &[Duration], p: f64) -> Duration {
    let mut v = values.to_vec();
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// `zip -9` of the binary as `bootstrap`, as Lambda takes it (Python's zipfile, level 9).
fn zip_bytes(binary: &Path) -> Option<u64> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let script = "import io,sys,zipfile\nb=io.BytesIO()\nz=zipfile.ZipFile(b,'w',zipfile.ZIP_DEFLATED,compresslevel=9)\nz.write(sys.argv[1],'bootstrap')\nz.close()\nprint(len(b.getvalue()))";
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .arg(binary)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// An API Gateway (HTTP API) event, as the gateway would send it.
fn api(
    method: &str,
    path: &str,
    route: &str,
    token: &str,
    key: &str,
    body: &Value,
    params: &[(&str, &str)],
) -> Value {
    let mut headers = axum::http::HeaderMap::new();
    for (k, v) in [
        ("authorization", format!("Bearer {token}")),
        ("idempotency-key", key.to_string()),
        ("content-type", "application/json".into()),
    ] {
        let unset = v.is_empty() || v == "Bearer ";
        if let (false, Ok(v)) = (unset, v.parse()) {
            headers.insert(k, v);
        }
    }
    let uri: axum::http::Uri = path.parse().unwrap_or_default();
    let method = method.parse().unwrap_or(axum::http::Method::GET);
    let params = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let body = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    http_event(&method, &uri, &headers, &body, Some(route), &params)
}

mod report;
mod scenario;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let cold: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(15);
    let warm: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let bin_dir =
        PathBuf::from(std::env::var("BENCH_BIN_DIR").unwrap_or_else(|_| "target/release".into()));
    let log_dir = PathBuf::from(".devstack/bench-functions");
    let mut opts = StackOptions::for_tests(&std::env::current_dir()?, &bin_dir);
    opts.log_dir = log_dir.join("stack");
    opts.sim_speed = 0.02;
    opts.schedule_every = Duration::from_secs(24 * 3600);
    let stack = Stack::start(opts).await?;
    let proxy = LossyProxy::start(&stack.moto_endpoint).await?;
    let run = Run {
        bin_dir,
        log_dir,
        cold,
        warm,
        proxy,
    };
    let figures = scenario::run_all(&stack, &run).await?;
    report::print(&run, &figures);
    Ok(())
}
