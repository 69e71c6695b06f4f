//! The S3 BinaryStore against moto_server on loopback: real bytes up and down through
//! presigned URLs.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::{Credentials, Region};
use hearth_interface::binary::{BinaryKey, BinaryStore};
use hearth_persistence_dynamo::S3BinaryStore;
use hearth_testkit::{Moto, unique_name};

async fn store(bucket: &str) -> S3BinaryStore {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(Moto::shared().endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await;
    S3BinaryStore::from_sdk_config(&config, bucket)
}

fn key(k: &str) -> BinaryKey {
    BinaryKey::parse(k).expect("key")
}

const TTL: Duration = Duration::from_secs(300);

#[tokio::test]
async fn bytes_go_up_and_down_through_presigned_urls() {
    let store = store(&unique_name("hearth-bin")).await;
    store.create_bucket().await.expect("create bucket");
    store
        .create_bucket()
        .await
        .expect("creating it again is fine");
    store.check().await.expect("bucket exists");
    let http = reqwest::Client::new();
    let k = key("Binary/abc/1");
    assert!(
        store.presign_get(&k, TTL).await.expect("presign").is_none(),
        "nothing uploaded yet"
    );

    let bytes: Vec<u8> = (0..=255_u8).cycle().take(70_000).collect();
    let upload = store.presign_put(&k, TTL).await.expect("presign put");
    assert!(
        upload.url.starts_with(Moto::shared().endpoint()),
        "{}",
        upload.url
    );
    assert!(
        upload.url.contains("X-Amz-Signature="),
        "SigV4: {}",
        upload.url
    );
    let put = http
        .put(&upload.url)
        .header("content-type", "application/octet-stream")
        .body(bytes.clone())
        .send()
        .await
        .expect("upload");
    assert!(
        put.status().is_success(),
        "upload answered {}",
        put.status()
    );

    let download = store
        .presign_get(&k, TTL)
        .await
        .expect("presign get")
        .expect("uploaded");
    let got = http.get(&download.url).send().await.expect("download");
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.expect("body").as_ref(), bytes.as_slice());
}

#[tokio::test]
async fn inline_content_is_stored_and_prefix_delete_removes_every_version() {
    let store = store(&unique_name("hearth-bin")).await;
    store.create_bucket().await.expect("create bucket");
    let http = reqwest::Client::new();
    store
        .put(&key("Binary/x/1"), "text/plain", b"one".to_vec())
        .await
        .expect("put");
    store
        .put(&key("Binary/x/2"), "text/plain", b"two".to_vec())
        .await
        .expect("put");
    store
        .put(&key("Binary/xy/1"), "text/plain", b"other".to_vec())
        .await
        .expect("put");
    let url = store
        .presign_get(&key("Binary/x/2"), TTL)
        .await
        .expect("presign")
        .expect("stored");
    let got = http.get(&url.url).send().await.expect("download");
    assert_eq!(got.text().await.expect("body"), "two");

    store.delete(&key("Binary/x")).await.expect("delete");
    for gone in ["Binary/x/1", "Binary/x/2"] {
        assert!(
            store
                .presign_get(&key(gone), TTL)
                .await
                .expect("presign")
                .is_none()
        );
    }
    assert!(
        store
            .presign_get(&key("Binary/xy/1"), TTL)
            .await
            .expect("presign")
            .is_some(),
        "a prefix delete stops at the segment boundary"
    );
    store
        .delete(&key("Binary/x"))
        .await
        .expect("deleting nothing is fine");
}

#[tokio::test]
async fn a_missing_bucket_fails_the_check_by_name() {
    let bucket = unique_name("hearth-missing");
    let err = store(&bucket)
        .await
        .check()
        .await
        .expect_err("missing bucket");
    assert!(err.message().contains(&bucket), "{}", err.message());
    assert!(
        err.message().contains("does not exist"),
        "{}",
        err.message()
    );
}
