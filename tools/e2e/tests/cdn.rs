//! Our CloudFront signer against botocore's `CloudFrontSigner` (tools/independent), byte for
//! byte, with a key made for this run. botocore comes from the project's `.venv` (`PYTHON`, set
//! by the Makefile), so this runs with the end-to-end tests.

use std::process::Command;

use shared::edge::cdn::CdnSigner;

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

fn script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../independent/cloudfront_sign.py")
}

fn run(args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(script())
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn signed_urls_match_botocore_byte_for_byte() {
    let pem = run(&["keygen"]);
    let dir = std::env::temp_dir().join(format!("cdn-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pem_file = dir.join("key.pem");
    std::fs::write(&pem_file, &pem).unwrap();
    let signer = CdnSigner::new("d111111abcdef8.cloudfront.net", "K2JCJMDEHXQW5F", &pem).unwrap();
    let cases = [
        (
            "videos/alice/01a2f3c4-0000-7000-8000-000000000000.mp4",
            1_795_659_300u64,
        ),
        (
            "videos/us-east-1_AbC:9f8e/task-with-dashes_and_underscores.mp4",
            1_800_000_000,
        ),
        ("videos/u/t.mp4", 2_000_000_000),
    ];
    for (key, expires) in cases {
        let ours = signer.url(key, expires).unwrap();
        let url = ours.split('?').next().unwrap();
        let theirs = run(&[
            "sign",
            pem_file.to_str().unwrap(),
            "K2JCJMDEHXQW5F",
            url,
            &expires.to_string(),
        ]);
        assert_eq!(ours, theirs, "{key}");
        assert!(ours.contains(&format!("Expires={expires}&Signature=")));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_key_that_is_not_an_rsa_pem_stops_the_cold_start() {
    let refused = CdnSigner::new(
        "d1.cloudfront.net",
        "K1",
        "-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----\n",
    );
    assert!(refused.is_err());
}

/// With a CDN configured, the video store's links are CloudFront URLs expiring when an S3
/// presigned URL would (the window start plus the TTL), and the S3 path is not taken.
#[tokio::test]
async fn video_links_go_through_the_cdn_when_one_is_configured() {
    use shared::ports::VideoStore;
    use std::time::{Duration, SystemTime};
    let pem = run(&["keygen"]);
    let signer = CdnSigner::new("d111111abcdef8.cloudfront.net", "K2JCJMDEHXQW5F", &pem).unwrap();
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .build();
    let client = aws_sdk_s3::Client::from_conf(conf);
    let store = shared::aws::S3VideoStore::new(client, "videos-bucket").with_cdn(Some(signer));
    let signed_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_658_400);
    let url = store
        .presign_get("videos/alice/t1.mp4", signed_at, Duration::from_secs(900))
        .await
        .unwrap();
    let want =
        "https://d111111abcdef8.cloudfront.net/videos/alice/t1.mp4?Expires=1795659300&Signature=";
    assert!(url.starts_with(want), "{url}");
    assert!(url.ends_with("&Key-Pair-Id=K2JCJMDEHXQW5F"), "{url}");
}
