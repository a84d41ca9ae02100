//! Every stored video carries a C2PA manifest an independent reader validates (the C2PA
//! Python library, its own build of the SDK), naming the AI generation; one changed byte after
//! signing fails it. Through the whole stack: Kling (kling-sim) and fal.ai (fal-sim) over HTTP,
//! finalize under the Lambda runtime protocol, the video read back from moto's S3.

mod common;

use std::path::PathBuf;

use common::{Api, start, t2v};
use devstack::stack::Stack;
use serde_json::Value;
use shared::ports::Tasks;

/// `tools/independent/read_c2pa.py` on these bytes, trusting the stack's test CA.
fn read_independently(video: &[u8]) -> Value {
    let dir = std::env::temp_dir().join(format!("c2pa-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (file, anchors): (PathBuf, PathBuf) = (dir.join("video.mp4"), dir.join("anchors.pem"));
    std::fs::write(&file, video).unwrap();
    let ca = devstack::env::local_c2pa().expect("the stack's test CA");
    std::fs::write(&anchors, &ca.anchor).unwrap();
    let script = common::workspace_root().join("tools/independent/read_c2pa.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&file)
        .arg(&anchors)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Make a video through the API and download what the app would.
async fn stored_video(stack: &Stack, user: &str) -> (Value, Vec<u8>) {
    let api = Api::new(stack);
    let token = stack.token(user).unwrap();
    let (status, _, created) = api.create(&token, user, &t2v("a lighthouse at dawn")).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let task = api.wait_terminal(&token, &id).await;
    assert_eq!(task["status"], "SUCCEEDED", "{task}");
    let url = task["video"]["url"].as_str().unwrap();
    let bytes = api
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    (task, bytes.to_vec())
}

async fn assert_labelled(stack: &Stack, task: &Value, video: &[u8], provider: &str) {
    let id = task["id"].as_str().unwrap();
    let record = common::store(stack).get_task(id).await.unwrap().unwrap();
    let report = read_independently(video);
    assert_eq!(report["validation_state"], "Trusted", "{report}");
    assert_eq!(report["failures"], serde_json::json!([]), "{report}");
    assert_eq!(
        report["digital_source_type"],
        "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    );
    assert_eq!(report["claim_generator"], "kling-lambda");
    assert_eq!(report["software_agent"], provider);
    assert_eq!(report["model"], record.model, "{report}");
    assert_eq!(report["task"]["task_id"], task["id"], "{report}");

    // One byte of the picture changed after signing: the hash no longer matches.
    let mut changed = video.to_vec();
    let middle = changed.len() / 3;
    changed[middle] ^= 0x01;
    let report = read_independently(&changed);
    assert_eq!(report["validation_state"], "Invalid", "{report}");
    let failures = report["failures"].to_string();
    assert!(failures.contains("assertion.bmffHash.mismatch"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stored_video_carries_a_manifest_an_independent_reader_trusts() {
    let stack = start(|_| {}).await;
    let (task, video) = stored_video(&stack, "labelled").await;
    assert_eq!(
        task["video"]["bytes"],
        video.len(),
        "the bytes counted are the bytes stored"
    );
    assert_labelled(&stack, &task, &video, "kling").await;
    stack.check_iam().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fal_videos_are_labelled_too() {
    let stack = start(|o| o.extra_env.push(("PROVIDER".into(), "fal".into()))).await;
    let (task, video) = stored_video(&stack, "labelled-fal").await;
    assert_labelled(&stack, &task, &video, "fal").await;
}
