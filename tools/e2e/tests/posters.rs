//! Poster frames on the local stack: every task that succeeds gets a JPEG still of its video,
//! made by the poster function from the table's stream (moto), read from and written to S3
//! (moto) through the real SDK, and linked in the task's view.

mod common;

use common::{Api, start};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_succeeded_task_has_a_poster_of_its_videos_size() {
    let stack = start(|o| o.sim_speed = 40.0).await;
    let api = Api::new(&stack);
    let token = stack.token_with_plan("paula", "pro").unwrap();
    let asks = [("16:9", "standard"), ("9:16", "pro"), ("1:1", "standard")];
    let mut ids = Vec::new();
    for (i, (aspect, quality)) in asks.iter().enumerate() {
        let body = json!({"type": "text_to_video", "prompt": format!("a paper boat, take {i}"),
            "duration": 5, "aspect_ratio": aspect, "quality": quality});
        let (status, _, task) = api.create(&token, &format!("poster-{i}"), &body).await;
        assert_eq!(status, 202, "{task}");
        ids.push(task["id"].as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    for id in &ids {
        let done = api.wait_terminal(&token, id).await;
        assert_eq!(done["status"], "SUCCEEDED", "{done}");
        let (view, jpeg) = api.wait_poster(&token, id).await;
        let video = &view["video"];
        let want = (
            video["width"].as_u64().unwrap(),
            video["height"].as_u64().unwrap(),
        );
        assert_eq!(common::jpeg_size(&jpeg), want, "{id}");
        let poster_url = video["poster_url"].as_str().unwrap();
        assert!(
            poster_url.contains(&format!("/videos/paula/{id}.jpg")),
            "{poster_url}"
        );
        seen.push(format!("{}x{} ({} bytes)", want.0, want.1, jpeg.len()));
    }
    println!("posters: {seen:?}");
    assert_eq!(seen.len(), 3);

    // Deleting the video removes its poster from the bucket too.
    let del = api
        .http
        .delete(format!("{}/v1/videos/{}", api.base, ids[0]))
        .bearer_auth(&token);
    assert_eq!(api.send(del).await.0, 204);
    let left = common::objects_under(&stack, "videos/").await;
    assert!(
        !left.iter().any(|k| k.contains(&ids[0])),
        "objects of the deleted video left: {left:?}"
    );
}
