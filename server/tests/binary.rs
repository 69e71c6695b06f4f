//! Issue 8: Binary content through presigned URLs on the embedded backend. Real bytes go up
//! and down over HTTP through the server's own HMAC-signed `_binary` URLs.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::{TestServer, assert_outcome, on_aws, send};

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

async fn upload(server: &TestServer, url: &str, body: Vec<u8>) -> u16 {
    server
        .client
        .put(url)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .expect("upload")
        .status()
        .as_u16()
}

async fn download(server: &TestServer, url: &str) -> (u16, Vec<u8>) {
    let response = server.client.get(url).send().await.expect("download");
    let status = response.status().as_u16();
    (status, response.bytes().await.expect("body").to_vec())
}

fn url<'a>(resource: &'a Value, name: &str) -> &'a str {
    resource[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {resource}"))
}

#[tokio::test]
async fn content_goes_up_and_down_through_presigned_urls() {
    let server = TestServer::start().await;
    let (status, created) = server
        .post(
            "Binary",
            &json!({"resourceType": "Binary", "contentType": "application/pdf"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["contentType"], "application/pdf");
    let put_url = url(&created, "presignedPutUrl");
    // Signed URLs of this server on the embedded backend, presigned S3 URLs on AWS.
    let content_base = if on_aws() {
        hearth_testkit::Moto::shared().endpoint()
    } else {
        server.base.as_str()
    };
    assert!(
        put_url.starts_with(content_base),
        "absolute URL on {content_base}: {put_url}"
    );
    let id = created["id"].as_str().expect("id");

    let (status, before) = server.get(&format!("Binary/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        before.get("presignedGetUrl").is_none(),
        "nothing uploaded yet: {before}"
    );

    let content = bytes(200_000, 7);
    assert_eq!(upload(&server, put_url, content.clone()).await, 200);
    let (status, read) = server.get(&format!("Binary/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        read.get("data").is_none() && read.get("presignedPutUrl").is_none(),
        "{read}"
    );
    let (status, got) = download(&server, url(&read, "presignedGetUrl")).await;
    assert_eq!(status, 200);
    assert_eq!(got, content, "the bytes come back unchanged");
}

#[tokio::test]
async fn inline_data_moves_to_the_store_and_each_version_keeps_its_content() {
    let server = TestServer::start().await;
    let v1 = bytes(1000, 1);
    let (status, created) = server
        .post(
            "Binary",
            &json!({"resourceType": "Binary", "contentType": "image/png", "data": base64(&v1)}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(
        created.get("data").is_none(),
        "data left the resource: {created}"
    );
    assert!(
        created.get("presignedPutUrl").is_none(),
        "inline content needs no upload"
    );
    let id = created["id"].as_str().expect("id").to_owned();

    let v2 = bytes(3000, 2);
    let (status, updated) = server
        .put(
            &format!("Binary/{id}"),
            &json!({"resourceType": "Binary", "id": id, "contentType": "image/png", "data": base64(&v2)}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["meta"]["versionId"], "2");

    let (_, current) = server.get(&format!("Binary/{id}")).await;
    assert_eq!(
        download(&server, url(&current, "presignedGetUrl")).await,
        (200, v2)
    );
    let (_, first) = server.get(&format!("Binary/{id}/_history/1")).await;
    assert_eq!(first["meta"]["versionId"], "1");
    assert_eq!(
        download(&server, url(&first, "presignedGetUrl")).await,
        (200, v1)
    );

    // Updating without data hands out an upload URL for the new version; a client may
    // send back the URLs it got with the resource.
    let mut again = current.clone();
    again["contentType"] = json!("image/jpeg");
    let (status, v3) = server.put(&format!("Binary/{id}"), &again).await;
    assert_eq!(status, 200, "{v3}");
    assert_eq!(v3["meta"]["versionId"], "3");
    assert!(v3.get("presignedGetUrl").is_none());
    assert_eq!(
        upload(&server, url(&v3, "presignedPutUrl"), b"three".to_vec()).await,
        200
    );
    let (_, read) = server.get(&format!("Binary/{id}")).await;
    assert_eq!(
        download(&server, url(&read, "presignedGetUrl")).await,
        (200, b"three".to_vec())
    );
}

#[tokio::test]
async fn deleting_a_binary_deletes_its_content() {
    let server = TestServer::start().await;
    let (_, created) = server
        .post(
            "Binary",
            &json!({"resourceType": "Binary", "contentType": "text/plain", "data": base64(b"secret")}),
        )
        .await;
    let id = created["id"].as_str().expect("id");
    let (_, read) = server.get(&format!("Binary/{id}")).await;
    let get_url = url(&read, "presignedGetUrl").to_owned();
    assert_eq!(download(&server, &get_url).await.0, 200);

    let (status, _) = server.delete(&format!("Binary/{id}")).await;
    assert_eq!(status, 200);
    let (status, _) = server.get(&format!("Binary/{id}")).await;
    assert_eq!(status, 410);
    let (status, body) = send(server.client.get(&get_url)).await;
    assert_eq!(status, 404, "the content is gone: {body}");
    assert!(
        !server.data_dir.join("binaries/Binary").join(id).exists(),
        "no file is left behind"
    );
}

#[tokio::test]
async fn urls_work_only_as_signed() {
    if on_aws() {
        // On AWS the URLs are S3's presigned URLs: S3 checks them, not Hearth, and moto
        // does not emulate that check.
        return;
    }
    let server = TestServer::start().await;
    let (_, created) = server
        .post(
            "Binary",
            &json!({"resourceType": "Binary", "contentType": "text/plain"}),
        )
        .await;
    let put_url = url(&created, "presignedPutUrl").to_owned();
    assert_eq!(upload(&server, &put_url, b"original".to_vec()).await, 200);
    let (_, read) = server
        .get(&format!("Binary/{}", created["id"].as_str().expect("id")))
        .await;
    let get_url = url(&read, "presignedGetUrl").to_owned();

    // A download URL does not upload, nor does an upload URL download.
    let (status, body) = send(server.client.put(&get_url).body("evil")).await;
    assert_eq!(status, 403);
    assert_outcome(&body, "signature");
    let (status, _) = send(server.client.get(&put_url)).await;
    assert_eq!(status, 403);

    // Any change to the key, the expiry or the signature is refused.
    let tampered = [
        get_url.replace("expires=", "expires=9"),
        get_url.replace("signature=", "signature=A"),
        get_url.replacen('?', "0?", 1),
        get_url.split('?').next().expect("path").to_owned(),
    ];
    for bad in tampered {
        let (status, body) = send(server.client.get(&bad)).await;
        assert_eq!(status, 403, "{bad}: {body}");
        assert_eq!(body["resourceType"], "OperationOutcome");
    }
    assert_eq!(
        download(&server, &get_url).await,
        (200, b"original".to_vec())
    );

    // Keys never leave the binary directory.
    for traversal in [
        "_binary/..%2Fhearth.sqlite?expires=1&signature=x",
        "_binary/Binary/%2E%2E/%2E%2E/hearth.sqlite?expires=1&signature=x",
        "_binary/.tmp/x?expires=1&signature=x",
    ] {
        let (status, body) = send(server.client.get(server.url(traversal))).await;
        assert!(
            status == 400 || status == 403 || status == 404,
            "{traversal}: {status} {body}"
        );
    }
}

#[tokio::test]
async fn bad_inline_data_is_refused() {
    let server = TestServer::start().await;
    let (status, body) = server
        .post(
            "Binary",
            &json!({"resourceType": "Binary", "contentType": "text/plain", "data": "not base64!"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_outcome(&body, "base64");

    let big = "A".repeat(5 * 1024 * 1024 / 3 * 4 + 8);
    let (status, body) = server
        .post(
            "Binary",
            &json!({"resourceType": "Binary", "contentType": "text/plain", "data": big}),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert_outcome(&body, "presignedPutUrl");
}

#[tokio::test]
async fn conditional_create_of_a_binary_creates_once() {
    let server = TestServer::start().await;
    let conditional = |criteria: String| {
        send(
            server
                .request(Method::POST, "Binary")
                .header("content-type", "application/fhir+json")
                .header("if-none-exist", criteria)
                .body(json!({"resourceType": "Binary", "contentType": "text/plain"}).to_string()),
        )
    };
    let (status, created) = conditional("_id=none".to_owned()).await;
    assert_eq!(status, 201, "{created}");
    assert!(created["presignedPutUrl"].is_string(), "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let (status, existing) = conditional(format!("_id={id}")).await;
    assert_eq!(status, 200, "{existing}");
    assert_eq!(existing["id"], id.as_str());
    assert_eq!(existing["meta"]["versionId"], "1");
}

#[tokio::test]
async fn urls_stay_valid_across_restarts() {
    let mut server = TestServer::start().await;
    let (_, created) = server
        .post(
            "Binary",
            &json!({"resourceType": "Binary", "contentType": "text/plain", "data": base64(b"kept")}),
        )
        .await;
    let (_, read) = server
        .get(&format!("Binary/{}", created["id"].as_str().expect("id")))
        .await;
    let get_url = url(&read, "presignedGetUrl").to_owned();
    assert!(server.terminate());
    let dir = server.dir.take().expect("dir");
    let restarted = TestServer::start_on(dir.path(), &[]).await;
    let moved = get_url.replace(&server.base, &restarted.base);
    assert_eq!(
        download(&restarted, &moved).await,
        (200, b"kept".to_vec()),
        "the signing secret is kept in the data directory"
    );
}
