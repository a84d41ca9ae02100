//! The agent tool surface on the local stack, driven by a maintained MCP client (the MCP
//! Python SDK, `tools/independent/mcp_client.py`): the tools and every kind are listed, a video
//! is made end to end through them and then given sound (a second kind, on that video), every
//! other kind is made from uploads (an Omni edit on a stack with Kling's standard API), and
//! invalid or blocked requests get the codes the HTTP API gives.

mod common;

use common::{Api, start, t2v};
use serde_json::{Value, json};

/// The MCP client against a stack; `only` limits the kinds it makes (`MCP_KINDS`).
async fn run_client(stack: &devstack::stack::Stack, token: &str, only: Option<&str>) -> Value {
    let script = common::workspace_root().join("tools/independent/mcp_client.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let url = format!("{}/mcp", stack.api_url);
    let files = media_files();
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(script)
        .args([url.as_str(), token])
        .args(files.iter().map(|f| f.as_os_str()));
    if let Some(kinds) = only {
        cmd.env("MCP_KINDS", kinds);
    }
    let out = cmd.output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_client_makes_a_video_end_to_end_with_the_http_apis_codes() {
    let stack = start(|_| {}).await;
    let token = stack.token_with_plan("agent", "pro").unwrap();
    let got = run_client(&stack, &token, None).await;
    assert_eq!(
        got["tools"],
        json!([
            "estimate_video",
            "create_video",
            "get_video",
            "list_templates"
        ])
    );
    assert_eq!(
        got["kinds"],
        json!(shared::domain::validation::KIND_NAMES),
        "every kind"
    );
    assert_eq!(got["created"]["status"], 202, "{got}");
    assert_eq!(got["final"]["body"]["status"], "SUCCEEDED", "{got}");
    assert!(got["final"]["body"]["video"]["url"].is_string());
    let sound = &got["sound"]["body"];
    assert_eq!(
        (sound["type"].as_str(), sound["status"].as_str()),
        (Some("video_to_audio"), Some("SUCCEEDED")),
        "{got}"
    );
    assert_eq!(sound["source_task"], got["final"]["body"]["id"]);
    let every = [
        "image_to_video",
        "effect",
        "motion_control",
        "avatar",
        "lip_sync",
    ];
    for kind in every {
        assert_eq!(
            got["made"][kind], "SUCCEEDED",
            "{kind} through create_video: {got}"
        );
    }
    assert_eq!(
        got["made"]["omni_edit"], "kind_not_available",
        "Kling's /v1 makes no Omni edits: the HTTP API's code, {got}"
    );

    // The same requests through HTTP: the same codes.
    let api = Api::new(&stack);
    let cases = [
        ("invalid", t2v(&"long ".repeat(600))),
        ("blocked", t2v("a graphic beheading in close-up")),
    ];
    for (i, (name, body)) in cases.into_iter().enumerate() {
        let (_, _, http) = api.create(&token, &format!("http-{i}"), &body).await;
        assert_eq!(got["errors"][name]["is_error"], true, "{got}");
        assert_eq!(
            got["errors"][name]["code"], http["error"]["code"],
            "{name}: {got}"
        );
    }
    // Without a token: the 401 and, through the SDK's own discovery, the metadata naming this
    // resource and where to sign in (locally, the stack itself: it mints its own tokens).
    let anonymous = &got["unauthenticated"];
    let metadata_url = format!("{}/.well-known/oauth-protected-resource/mcp", stack.api_url);
    assert_eq!(
        (&anonymous["status"], anonymous["metadata_url"].as_str()),
        (&json!(401), Some(metadata_url.as_str())),
        "{got}"
    );
    assert_eq!(anonymous["resource"], format!("{}/mcp", stack.api_url));
    assert_eq!(
        anonymous["authorization_servers"][0]
            .as_str()
            .map(|s| s.trim_end_matches('/')),
        Some(stack.api_url.as_str())
    );
    // Idempotency is the client's: its retry (same key) answers the same task; a call without
    // a key is refused by name.
    assert_eq!(
        got["again"]["body"]["id"], got["created"]["body"]["id"],
        "{got}"
    );
    assert!(
        got["keyless"]
            .as_str()
            .is_some_and(|m| m.contains("idempotency_key")),
        "{got}"
    );
    println!(
        "mcp: 401 with resource metadata without a token; tools listed, {} made through them, codes as over HTTP",
        got["final"]["body"]["id"]
    );
}

/// On Kling's standard API the same client makes an Omni edit of its uploaded video.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_client_makes_an_omni_edit_on_klings_standard_api() {
    let stack = start(|o| {
        o.extra_env
            .push(("KLING_API_STYLE".into(), "standard".into()))
    })
    .await;
    let token = stack.token_with_plan("agent", "pro").unwrap();
    let got = run_client(&stack, &token, Some("omni_edit")).await;
    assert_eq!(got["made"], json!({"omni_edit": "SUCCEEDED"}), "{got}");
}

/// A photo, a 6-second reference video and a 4-second voice, written where the client reads them.
fn media_files() -> Vec<std::path::PathBuf> {
    use provider_sim::video::{Aspect, Resolution, render};
    let dir = std::env::temp_dir().join(format!("mcp-media-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let photo = common::workspace_root().join("tools/e2e/tests/fixtures/photo-640x480.png");
    let video = dir.join("dance.mp4");
    std::fs::write(
        &video,
        render(Aspect::Portrait, Resolution::P720, 6).unwrap(),
    )
    .unwrap();
    let voice = dir.join("voice.wav");
    std::fs::write(&voice, shared::domain::audio_probe::wav(4.0)).unwrap();
    vec![photo, video, voice]
}
