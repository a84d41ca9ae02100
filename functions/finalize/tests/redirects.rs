//! Downloads never follow a redirect to another host (where a private address could hide).

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use finalize::{CopyError, DownloadPolicy, stream_into};
use shared::aws::S3VideoStore;

/// A store that must never be reached: the download is refused before any upload starts.
async fn unreachable_store() -> S3VideoStore {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "x", "x", None, None, "test",
        ))
        .load()
        .await;
    S3VideoStore::new(aws_sdk_s3::Client::new(&sdk), "none")
}

#[tokio::test]
async fn a_redirect_to_another_host_is_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new()
        .route(
            "/elsewhere.mp4",
            get(move || async move {
                (
                    StatusCode::FOUND,
                    [(
                        header::LOCATION,
                        format!("http://localhost:{port}/video.mp4"),
                    )],
                )
                    .into_response()
            }),
        )
        .route(
            "/moved.mp4",
            get(|| async {
                (StatusCode::FOUND, [(header::LOCATION, "/gone.mp4")]).into_response()
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });

    // Local settings, so that only the redirect rule is under test.
    let policy = DownloadPolicy {
        allowed_hosts: vec!["127.0.0.1".into(), "localhost".into()],
        allow_http: true,
        allow_private: true,
        max_bytes: 1 << 20,
    };
    let client = policy.client().unwrap();
    let store = unreachable_store().await;
    let meta = shared::ports::VideoMetadata::default();
    let target = ("videos/u/x.mp4", &meta);
    let url = policy
        .permits(&format!("http://127.0.0.1:{port}/elsewhere.mp4"))
        .unwrap();
    let err = stream_into(&client, url, policy.max_bytes, &store, target, None)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        CopyError::Permanent("the download redirected to another host".into())
    );

    // A redirect on the same host is followed (here to a missing file).
    let url = policy
        .permits(&format!("http://127.0.0.1:{port}/moved.mp4"))
        .unwrap();
    let err = stream_into(&client, url, policy.max_bytes, &store, target, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, CopyError::Gone(ref m) if m.contains("404")),
        "{err:?}"
    );
}
