//! A video of several parts: finalize uploads its parts while it reads the next (a bounded
//! number in flight) straight to the final key, and the object is exactly the bytes served.

mod common;

use common::{Api, start};
use serde_json::json;
use sha2::Digest;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_multi_part_video_is_stored_byte_for_byte() {
    let stack = start(|_| {}).await;
    let api = Api::new(&stack);
    let token = stack.token("big").unwrap();
    let body = json!({"type": "text_to_video", "prompt": "a long pan [sim:size-mib=40]"});
    let (_, _, task) = api.create(&token, "big-1", &body).await;
    let id = task["id"].as_str().unwrap().to_string();
    let done = api.wait_terminal(&token, &id).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let sim = stack.sim.state.find("text2video", &id).unwrap();
    let served = reqwest::get(sim.video_url(&stack.sim.base_url()))
        .await
        .unwrap();
    let served = served.bytes().await.unwrap();
    let object = stack
        .s3()
        .get_object()
        .bucket(stack.resource("VideoBucket").unwrap())
        .key(format!("videos/big/{id}.mp4"))
        .send()
        .await
        .unwrap();
    let stored = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(
        hex::encode(sha2::Sha256::digest(common::provider_part(&stored))),
        hex::encode(sha2::Sha256::digest(&served))
    );
    assert_eq!(done["video"]["bytes"], stored.len());
    // Begun with CRC32, the object keeps a checksum of its parts' (S3 shows `<crc32>-<parts>`,
    // moto a CRC32); an upload begun without an algorithm has none.
    let head = stack
        .s3()
        .head_object()
        .bucket(stack.resource("VideoBucket").unwrap())
        .key(format!("videos/big/{id}.mp4"))
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert!(head.checksum_crc32().is_some(), "{head:?}");
}
