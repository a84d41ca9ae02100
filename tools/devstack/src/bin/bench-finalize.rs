//! Benchmark: stream a large video from provider-sim through the real finalize binary into S3
//! (moto) and print finalize's peak resident memory. Not a test: it prints figures.
//!
//! `cargo run --release -p devstack --bin bench-finalize -- [MiB]` (default 1024); the
//! function binaries must be built first (`make bench` does both).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use devstack::lossy::LossyProxy;
use devstack::stack::{Stack, StackOptions};
use shared::ports::Tasks;

/// Peak resident set size (VmHWM) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Rounds of finalize's copy against the plain upload after the first video, each a plain upload
/// then a new video through finalize, compared by their medians: one run's ratio moved ±15%,
/// and the first GiB into a fresh moto was the slowest in every run (always finalize's, when
/// the baseline ran once, after it).
const ROUNDS: usize = 3;

/// The moto that serves S3 alone in this benchmark, as S3 shares nothing with DynamoDB in AWS:
/// the stack's DynamoDB traffic (every function's, the stream readers') shares no GIL with the
/// parts, and this moto's CPU is what the uploads cost.
struct S3Moto {
    moto: devstack::moto::Moto,
    log_dir: PathBuf,
}

impl S3Moto {
    async fn start(log_dir: PathBuf) -> Result<Self, Box<dyn std::error::Error>> {
        std::fs::create_dir_all(&log_dir)?;
        let moto = devstack::moto::start(devstack::moto::free_port()?, &log_dir).await?;
        Ok(Self { moto, log_dir })
    }

    /// The stack's video bucket, made here too.
    async fn create_bucket(&self, name: &str) -> Result<(), Box<dyn std::error::Error>> {
        let sdk = devstack::stack::local_sdk_config(&self.moto.endpoint).await;
        shared::aws::s3_client_for(&sdk, true)
            .create_bucket()
            .bucket(name)
            .send()
            .await?;
        Ok(())
    }

    /// Wait until this moto is idle (under 20 ms of CPU in half a second): the poster function
    /// reads each new video back (a GiB, for these), which must not overlap a timed upload.
    async fn settle(&self) -> bool {
        let mut last = self.cpu();
        for _ in 0..120 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = self.cpu();
            if now - last < Duration::from_millis(20) {
                return true;
            }
            last = now;
        }
        false
    }

    fn cpu(&self) -> Duration {
        self.moto
            .pid()
            .map_or(Duration::ZERO, devstack::bench::process_cpu)
    }
}

/// One plain upload: its time, boto3's CPU and moto's.
struct Plain {
    secs: f64,
    boto3_cpu: f64,
    moto_cpu: f64,
}

/// The plain multipart baseline: boto3's managed upload of the same bytes from the same source
/// (provider-sim's result for `id`) into the same moto.
async fn plain_upload(stack: &Stack, s3: &S3Moto, id: &str, key: &str) -> Result<Plain, String> {
    let task = stack
        .sim
        .state
        .find("text2video", id)
        .ok_or("provider-sim has no task")?;
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let moto_before = s3.cpu();
    let out = tokio::process::Command::new(python)
        .arg("tools/bench/plain_multipart.py")
        .arg(task.video_url(&stack.sim.base_url()))
        .arg(&s3.moto.endpoint)
        .arg(stack.resource("VideoBucket").unwrap_or_default())
        .arg(key)
        .output()
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let figures: Vec<f64> = text
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    match figures[..] {
        [secs, _bytes, boto3_cpu] => Ok(Plain {
            secs,
            boto3_cpu,
            moto_cpu: (s3.cpu() - moto_before).as_secs_f64(),
        }),
        _ => Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr))),
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `ROUNDS` of a plain upload then a labelled copy; the medians' ratio against the budget.
async fn compare(stack: &Stack, s3: &S3Moto, first: &str, mib: u64) -> Result<(), String> {
    let (mut plain, mut copy) = (Vec::new(), Vec::new());
    let mut id = first.to_string();
    for round in 1..=ROUNDS {
        if !s3.settle().await {
            println!("  round {round}: S3's moto still busy after 60 s");
        }
        let p = plain_upload(stack, s3, &id, &format!("baseline/plain-{round}.mp4")).await?;
        println!(
            "  round {round}: plain multipart {:.1} s ({:.1} MiB/s; CPU boto3 {:.1} s, moto {:.1} s)",
            p.secs,
            mib as f64 / p.secs,
            p.boto3_cpu,
            p.moto_cpu
        );
        plain.push(p.secs);
        let moto_before = s3.cpu();
        id = create_and_wait(stack, mib, &format!("bench-{round}"))
            .await
            .map_err(|e| e.to_string())?
            .0;
        let secs = copy_seconds(stack, &id).ok_or("finalize's copy time not in its log")?;
        println!(
            "  round {round}: finalize copy   {secs:.1} s ({:.1} MiB/s; moto's S3 {:.1} s for the task)",
            mib as f64 / secs,
            (s3.cpu() - moto_before).as_secs_f64()
        );
        copy.push(secs);
    }
    let (plain, copy) = (median(&mut plain), median(&mut copy));
    let ratio = plain / copy;
    let figures = serde_json::json!({"copy_mib_s": mib as f64 / copy, "plain_mib_s": mib as f64 / plain, "ratio": ratio});
    let _ = std::fs::create_dir_all("target/bench")
        .and_then(|_| std::fs::write("target/bench/finalize.json", figures.to_string()));
    let verdict = if ratio >= 1.0 { "met" } else { "NOT met" };
    println!(
        "  medians of {ROUNDS}: finalize copy {copy:.1} s, plain upload {plain:.1} s: {ratio:.2}× the baseline — budget at least 1.0×: {verdict}"
    );
    Ok(())
}

fn finalize_cpu(pids: &[u32]) -> Duration {
    pids.iter().map(|p| devstack::bench::cpu_of(*p)).sum()
}

/// What the video cost in CPU: finalize's (which Lambda rations: 512 MB is 0.29 of a vCPU)
/// and moto's, which on this machine is the S3 both uploads share.
fn print_cpu(mib: u64, finalize: Duration, moto: Duration) {
    let per_gib = finalize.as_secs_f64() * 1024.0 / mib as f64;
    let share = 512.0 / 1769.0;
    println!(
        "  CPU for the video   finalize {:.2} s ({per_gib:.2} s per GiB: at 512 MB on Lambda, \
         {share:.2} vCPU, at most {:.0} MiB/s), moto {:.1} s",
        finalize.as_secs_f64(),
        1024.0 * share / per_gib,
        moto.as_secs_f64()
    );
}

/// The AWS calls of one video from create to stored (S3 `PUT`s are its parts), saved for
/// `make cost`.
fn lifecycle_calls(proxy: &LossyProxy, stack: &Stack, s3: &S3Moto, mib: u64) {
    let mut calls: std::collections::BTreeMap<String, usize> = proxy.calls().into_iter().collect();
    // moto's log lines: `"PUT /{bucket}/videos/{user}/{task}.mp4?x-id=UploadPart&… HTTP/1.1"`.
    let log = std::fs::read_to_string(s3.log_dir.join("moto.log")).unwrap_or_default();
    let bucket = stack.resource("VideoBucket").unwrap_or_default();
    let needle = format!(" /{bucket}/videos/");
    for line in log.lines().filter(|l| l.contains(&needle)) {
        let request = line.split('"').nth(1).and_then(|r| r.split(' ').next());
        // moto colours some methods: drop the escape sequence before the name.
        let method = request.map(|m| m.trim_start_matches(|c: char| !c.is_ascii_uppercase()));
        if let Some(method) = method {
            *calls.entry(method.to_string()).or_default() += 1;
        }
    }
    println!("  AWS calls for this video, create to stored: {calls:?}");
    // finalize::copy::PART_SIZE, in MiB.
    let doc = serde_json::json!({"video_mib": mib, "part_mib": 6, "calls": calls});
    let _ = std::fs::create_dir_all("target/bench")
        .and_then(|_| std::fs::write("target/bench/lifecycle.json", doc.to_string()));
}

/// finalize's own download-and-upload time (`copy_ms` of the task's "video stored" line).
fn copy_seconds(stack: &Stack, id: &str) -> Option<f64> {
    let log = std::fs::read_to_string(stack.log_dir.join("finalize.log")).ok()?;
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("video stored") && l.contains(id))?;
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    Some(value["fields"]["copy_ms"].as_f64()? / 1000.0)
}

/// Create one video of `mib` MiB through the API (`key`: its idempotency key, also in the
/// prompt) and wait until its task ends.
async fn create_and_wait(
    stack: &Stack,
    mib: u64,
    key: &str,
) -> Result<(String, shared::domain::task::Task, Duration), Box<dyn std::error::Error>> {
    let token = stack.token("bench")?;
    let body = serde_json::json!({"type": "text_to_video", "prompt": format!("benchmark {key} [sim:size-mib={mib}]")});
    let resp = shared::runtime::net::client()?
        .post(format!("{}/v1/videos", stack.api_url))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await?;
    let body: serde_json::Value = resp.json().await?;
    let id = body["id"].as_str().ok_or("create failed")?.to_string();
    let store = shared::aws::DynamoTaskStore::from_sdk(
        &stack.sdk,
        stack.resource("TasksTable").unwrap_or_default(),
    );
    let started = Instant::now();
    loop {
        let task = store.get_task(&id).await?.ok_or("task vanished")?;
        if task.status.is_terminal() {
            return Ok((id, task, started.elapsed()));
        }
        if started.elapsed() > Duration::from_secs(1800) {
            return Err("timed out".into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn print_video(
    mib: u64,
    task: &shared::domain::task::Task,
    elapsed: Duration,
    before: &[u64],
    after: &[u64],
) {
    let video = task.video.as_ref();
    println!(
        "finalize benchmark: {mib} MiB video, status {:?}",
        task.status
    );
    println!("  stored bytes        {}", video.map_or(0, |v| v.bytes));
    println!(
        "  duration (from moov) {:?} s, {}x{}",
        video.and_then(|v| v.duration_seconds),
        video.and_then(|v| v.width).unwrap_or(0),
        video.and_then(|v| v.height).unwrap_or(0)
    );
    println!(
        "  wall time           {:.1} s ({:.1} MiB/s, including provider-sim and moto)",
        elapsed.as_secs_f64(),
        mib as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  finalize peak RSS   before {:?} KiB, after {:?} KiB",
        before, after
    );
}

/// One video through a stack with the C2PA label on or off: finalize's copy time and peak RSS.
async fn measure(
    mib: u64,
    bin_dir: &std::path::Path,
    label: bool,
) -> Result<(Option<f64>, Option<u64>), Box<dyn std::error::Error>> {
    let mut opts = StackOptions::for_tests(&std::env::current_dir()?, bin_dir);
    opts.log_dir = PathBuf::from(if label {
        ".devstack/bench"
    } else {
        ".devstack/bench-unlabelled"
    });
    let switch = if label { "on" } else { "off" };
    opts.extra_env.push(("C2PA_LABEL".into(), switch.into()));
    // Every function's AWS calls but S3's go through a counting proxy (one video's calls,
    // create to stored, are what `make cost` prices); S3 goes straight to its own moto, as the
    // baseline does, and its calls are counted in that moto's request log.
    let proxy = LossyProxy::start("http://127.0.0.1:9").await?;
    opts.extra_env
        .push(("AWS_ENDPOINT_URL".into(), proxy.endpoint.clone()));
    let s3 = S3Moto::start(opts.log_dir.join("s3")).await?;
    opts.extra_env
        .push(("AWS_ENDPOINT_URL_S3".into(), s3.moto.endpoint.clone()));
    let stack = Stack::start(opts).await?;
    s3.create_bucket(stack.resource("VideoBucket").unwrap_or_default())
        .await?;
    proxy.connect(&stack.moto_endpoint);
    proxy.reset_calls();
    let finalize = stack.pids("finalize");
    let before: Vec<_> = finalize.iter().filter_map(|p| peak_rss_kib(*p)).collect();
    let (cpu_before, moto_before) = (finalize_cpu(&finalize), s3.cpu());

    println!("C2PA label {switch}:");
    let (id, task, elapsed) = create_and_wait(&stack, mib, "bench-0").await?;
    // The pids as they are now too: an environment started during the run counts.
    let mut pids = finalize.clone();
    pids.extend(stack.pids("finalize"));
    pids.sort_unstable();
    pids.dedup();
    let after: Vec<_> = pids.iter().filter_map(|p| peak_rss_kib(*p)).collect();
    print_video(mib, &task, elapsed, &before, &after);
    // Instances started during the run began at zero.
    let cpu = finalize_cpu(&pids).saturating_sub(cpu_before);
    print_cpu(mib, cpu, s3.cpu() - moto_before);
    if label {
        print_signing(&stack);
        lifecycle_calls(&proxy, &stack, &s3, mib);
        if let Err(e) = compare(&stack, &s3, &id, mib).await {
            println!("  comparison with the plain upload not finished: {e}");
        }
    }
    let peak = after.iter().copied().max();
    match peak {
        Some(peak) => println!(
            "  peak RSS {:.1} MiB — target under 64 MiB: {}",
            peak as f64 / 1024.0,
            if peak < 64 * 1024 { "met" } else { "NOT met" }
        ),
        None => println!("  peak RSS not measured: no finalize process was found"),
    }
    Ok((copy_seconds(&stack, &id), peak))
}

/// The manifest's size and signing time, from finalize's log.
fn print_signing(stack: &Stack) {
    let log = std::fs::read_to_string(stack.log_dir.join("finalize.log")).unwrap_or_default();
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("C2PA manifest signed"));
    match line.and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok()) {
        Some(v) => println!(
            "  C2PA manifest       {} bytes, hashed and signed in {} ms after the last byte",
            v["fields"]["manifest_bytes"], v["fields"]["sign_ms"]
        ),
        None => println!("  C2PA manifest       not found in finalize's log"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mib: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1024);
    let bin_dir =
        PathBuf::from(std::env::var("BENCH_BIN_DIR").unwrap_or_else(|_| "target/release".into()));
    let (plain_secs, plain_peak) = measure(mib, &bin_dir, false).await?;
    let (label_secs, label_peak) = measure(mib, &bin_dir, true).await?;
    let mib_s = |s: Option<f64>| s.map_or("?".into(), |s| format!("{:.1} MiB/s", mib as f64 / s));
    let mib_of = |k: Option<u64>| k.map_or("?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
    println!(
        "C2PA label before/after: copy {} → {}, peak RSS {} → {}",
        mib_s(plain_secs),
        mib_s(label_secs),
        mib_of(plain_peak),
        mib_of(label_peak)
    );
    Ok(())
}
