//! poster's handler with in-memory ports: stream records in, a JPEG in the bucket and the
//! task's record of it out.

use poster::{App, handle};
use serde_json::{Value, json};
use shared::domain::task::{StoredVideo, Task, TaskStatus, video_key};
use shared::domain::timestamp::Timestamp;
use shared::ports::Tasks;
use shared::testing::{MemoryBlobs, MemoryStore, task_fixture};

const VIDEO: &[u8] = include_bytes!("../../../tools/provider-sim/assets/gop-720p-9x16.mp4");

type TestApp = App<MemoryStore, MemoryBlobs>;

fn app() -> TestApp {
    App {
        store: MemoryStore::default(),
        blobs: MemoryBlobs::default(),
        max_video_bytes: 64 * 1024 * 1024,
    }
}

fn succeeded(id: &str) -> Task {
    let mut t = task_fixture(id, "u1", "kling");
    t.status = TaskStatus::Succeeded;
    t.video = Some(StoredVideo {
        key: video_key("u1", id),
        bytes: VIDEO.len() as u64,
        sha256: "x".into(),
        content_type: "video/mp4".into(),
        duration_seconds: Some(1.0),
        width: Some(720),
        height: Some(1280),
        poster: None,
    });
    t
}

fn record(seq: &str, task: &Task, sk: &str) -> Value {
    let mut item: serde_dynamo::Item = serde_dynamo::to_item(task).unwrap();
    let pk = serde_dynamo::AttributeValue::S(format!("TASK#{}", task.id));
    item.insert("pk".into(), pk);
    item.insert("sk".into(), serde_dynamo::AttributeValue::S(sk.into()));
    json!({"eventID": seq, "eventName": "MODIFY", "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1", "dynamodb": {
            "Keys": {"pk": {"S": format!("TASK#{}", task.id)}, "sk": {"S": sk}},
            "NewImage": serde_json::to_value(item).unwrap(),
            "SequenceNumber": seq, "StreamViewType": "NEW_AND_OLD_IMAGES", "SizeBytes": 100}})
}

fn failures(answer: &Value) -> Vec<String> {
    answer["batchItemFailures"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["itemIdentifier"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

async fn stored(app: &TestApp, task: &Task) {
    app.store.insert_task(task.clone());
    app.blobs
        .put(&task.video.as_ref().unwrap().key, VIDEO.to_vec());
}

#[tokio::test]
async fn a_succeeded_task_gets_a_poster_of_its_videos_size_once() {
    let app = app();
    let task = succeeded("t1");
    stored(&app, &task).await;
    let answer = handle(&app, json!({"Records": [record("1", &task, "TASK")]})).await;
    assert!(failures(&answer).is_empty());
    let now = app.store.get_task("t1").await.unwrap().unwrap();
    let poster = now.video.and_then(|v| v.poster).expect("poster recorded");
    assert_eq!(poster.key, "videos/u1/t1.jpg");
    assert_eq!((poster.width, poster.height), (720, 1280));
    let (jpeg, _) = app.blobs.object(&poster.key).expect("poster stored");
    assert_eq!(&jpeg[..2], &[0xff, 0xd8]);
    assert_eq!(poster.bytes, jpeg.len() as u64);

    // The stream delivers the same change again: the poster stays as it is.
    let again = handle(&app, json!({"Records": [record("1", &task, "TASK")]})).await;
    assert!(failures(&again).is_empty());
    assert!(app.blobs.object(&poster.key).is_some());
    let after = app.store.get_task("t1").await.unwrap().unwrap();
    assert_eq!(after.video.and_then(|v| v.poster), Some(poster));
}

/// Only task items that succeeded with a stored video and no poster are worked on.
#[tokio::test]
async fn records_that_need_no_poster_are_passed_over() {
    let app = app();
    let running = Task {
        status: TaskStatus::Running,
        video: None,
        ..succeeded("t2")
    };
    let deleted = Task {
        deleted_at: Some(Timestamp::now()),
        ..succeeded("t3")
    };
    let event_item = succeeded("t4");
    for t in [&running, &deleted, &event_item] {
        stored(
            &app,
            &Task {
                video: succeeded(t.id.as_str()).video,
                ..t.clone()
            },
        )
        .await;
    }
    let answer = handle(
        &app,
        json!({"Records": [record("1", &running, "TASK"), record("2", &deleted, "TASK"),
            record("3", &event_item, "EVENT#0100")]}),
    )
    .await;
    assert!(failures(&answer).is_empty());
    let posters: Vec<String> = app
        .blobs
        .keys()
        .into_iter()
        .filter(|k| k.ends_with(".jpg"))
        .collect();
    assert!(posters.is_empty(), "{posters:?}");
}

/// A video that gives no picture is still a stored, paid video: no retry, no poster, the
/// task untouched; later records go on.
#[tokio::test]
async fn a_video_that_gives_no_poster_is_left_as_it_is() {
    let app = app();
    let broken = succeeded("t5");
    app.store.insert_task(broken.clone());
    app.blobs.put(
        &broken.video.as_ref().unwrap().key,
        VIDEO[..VIDEO.len() / 2].to_vec(),
    );
    let fine = succeeded("t6");
    stored(&app, &fine).await;
    let answer = handle(
        &app,
        json!({"Records": [record("1", &broken, "TASK"), record("2", &fine, "TASK")]}),
    )
    .await;
    assert!(failures(&answer).is_empty());
    assert_eq!(app.store.get_task("t5").await.unwrap().unwrap(), broken);
    assert!(app.blobs.object("videos/u1/t5.jpg").is_none());
    assert!(app.blobs.object("videos/u1/t6.jpg").is_some());
}

/// The app deleted the video while its poster was being made: the picture does not outlive it.
#[tokio::test]
async fn a_poster_made_for_a_deleted_video_is_removed() {
    let app = app();
    let task = succeeded("t7");
    stored(&app, &task).await;
    app.store
        .mark_deleted("t7", Timestamp::now())
        .await
        .unwrap();
    let answer = handle(&app, json!({"Records": [record("1", &task, "TASK")]})).await;
    assert!(failures(&answer).is_empty());
    assert!(app.blobs.object("videos/u1/t7.jpg").is_none());
    // And a video already gone from the bucket gives nothing to do.
    let gone = succeeded("t8");
    app.store.insert_task(gone.clone());
    let answer = handle(&app, json!({"Records": [record("2", &gone, "TASK")]})).await;
    assert!(failures(&answer).is_empty());
    assert!(app.blobs.object("videos/u1/t8.jpg").is_none());
}

/// The table refuses the record: the record is reported so the stream tries it again, and
/// the next run records the poster.
#[tokio::test]
async fn a_table_failure_is_retried_from_its_record() {
    let app = app();
    let task = succeeded("t9");
    stored(&app, &task).await;
    app.store
        .fail_writes
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let answer = handle(&app, json!({"Records": [record("41", &task, "TASK")]})).await;
    assert_eq!(failures(&answer), ["41"]);
    app.store
        .fail_writes
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let answer = handle(&app, json!({"Records": [record("41", &task, "TASK")]})).await;
    assert!(failures(&answer).is_empty());
    let now = app.store.get_task("t9").await.unwrap().unwrap();
    assert!(now.video.and_then(|v| v.poster).is_some());
}
