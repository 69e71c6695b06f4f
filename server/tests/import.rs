//! Issue 4: `hearth import` of NDJSON (plain and gzip): summary, idempotent re-import,
//! errors with file:line, and recovery after `kill -9`.

mod support;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::{TestServer, backend_env, hearth_bin, test_data};

fn import(data_dir: &std::path::Path, paths: &[&std::path::Path]) -> Output {
    Command::new(hearth_bin())
        .arg("import")
        .args(paths)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--quiet")
        .envs(backend_env(data_dir))
        .output()
        .expect("run hearth import")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const SYNTHEA_TOTAL: u64 = 30_542;

async fn type_total(server: &TestServer, ty: &str) -> u64 {
    let (status, bundle) = server.get(&format!("{ty}/_history?_count=1")).await;
    assert_eq!(status, 200);
    bundle["total"].as_u64().unwrap()
}

#[tokio::test]
async fn imports_synthea_then_reimport_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sample = test_data().join("sample-synthea");
    let first = import(dir.path(), &[&sample]);
    assert!(
        first.status.success(),
        "{}{}",
        stdout(&first),
        String::from_utf8_lossy(&first.stderr)
    );
    let summary = stdout(&first);
    assert!(
        summary.contains(&format!(
            "imported {SYNTHEA_TOTAL} resources from 16 file(s)"
        )),
        "{summary}"
    );
    assert!(
        summary.contains(&format!(
            "{SYNTHEA_TOTAL} created, 0 updated, 0 unchanged, 0 error(s)"
        )),
        "{summary}"
    );
    assert!(summary.contains("resources/s"));

    let again = import(dir.path(), &[&sample]);
    assert!(again.status.success());
    assert!(
        stdout(&again).contains(&format!("0 created, 0 updated, {SYNTHEA_TOTAL} unchanged")),
        "{}",
        stdout(&again)
    );

    let server = TestServer::start_on(dir.path(), &[]).await;
    let (status, history) = server.get("_history?_count=1").await;
    assert_eq!(status, 200);
    assert_eq!(
        history["total"], SYNTHEA_TOTAL,
        "re-import wrote no new versions"
    );
    assert_eq!(type_total(&server, "Patient").await, 100);
}

#[tokio::test]
async fn reports_bad_lines_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mixed.ndjson");
    let lines = [
        r#"{"resourceType": "Patient", "id": "good-1"}"#,
        r#"{"resourceType": "Patient", "id": "bad json"#,
        "",
        r#"{"resourceType": "Nope", "id": "x"}"#,
        r#"{"resourceType": "Patient"}"#,
        r#"{"resourceType": "Patient", "id": "bad/id"}"#,
        r#"{"resourceType": "Patient", "id": "bad-gender", "gender": "robot"}"#,
        r#"{"resourceType": "Patient", "id": "good-2"}"#,
    ];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let store = dir.path().join("store");
    let out = import(&store, &[&file]);
    assert_eq!(out.status.code(), Some(2), "line errors give exit code 2");
    assert!(
        stdout(&out).contains("2 created, 0 updated, 0 unchanged, 5 error(s)"),
        "{}",
        stdout(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in [2, 4, 5, 6, 7] {
        assert!(
            stderr.contains(&format!("mixed.ndjson:{line}: ")),
            "line {line} in {stderr}"
        );
    }
    assert!(
        !stderr.contains("mixed.ndjson:3:"),
        "blank lines are skipped"
    );
}

#[tokio::test]
async fn kill_during_import_leaves_a_consistent_store_and_a_rerun_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let sample = test_data().join("sample-synthea");
    let mut child = Command::new(hearth_bin())
        .arg("import")
        .arg(&sample)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--quiet", "--batch-size", "200"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    child.kill().unwrap();
    child.wait().unwrap();

    let partial = {
        let server = TestServer::start_on(dir.path(), &[]).await;
        let (_, history) = server.get("_history?_count=1").await;
        history["total"].as_u64().unwrap()
    };
    assert!(
        partial < SYNTHEA_TOTAL,
        "the import should have been interrupted ({partial})"
    );

    let rerun = import(dir.path(), &[&sample]);
    assert!(
        rerun.status.success(),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    let summary = stdout(&rerun);
    assert!(
        summary.contains(&format!(
            "{} created, 0 updated, {partial} unchanged",
            SYNTHEA_TOTAL - partial
        )),
        "{summary}"
    );

    let server = TestServer::start_on(dir.path(), &[]).await;
    let (_, history) = server.get("_history?_count=1").await;
    assert_eq!(history["total"], SYNTHEA_TOTAL);
    let (status, page) = server.get("Observation/_history?_count=50").await;
    assert_eq!(status, 200);
    for entry in page["entry"].as_array().unwrap() {
        assert_eq!(entry["resource"]["meta"]["versionId"], "1");
    }
}

fn import_deferring_index(data_dir: &std::path::Path, path: &std::path::Path) {
    let loaded = Command::new(hearth_bin())
        .arg("import")
        .arg(path)
        .args(["--quiet", "--defer-index", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("run hearth import");
    assert!(loaded.status.success(), "{}", stdout(&loaded));
}

#[tokio::test]
async fn reindex_builds_the_index_an_import_deferred() {
    let dir = tempfile::tempdir().unwrap();
    import_deferring_index(dir.path(), &test_data().join("sample-synthea"));
    let reindexed = Command::new(hearth_bin())
        .args(["reindex", "--quiet", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run hearth reindex");
    assert!(reindexed.status.success(), "{}", stdout(&reindexed));
    assert!(
        stdout(&reindexed).contains(&format!("reindexed {SYNTHEA_TOTAL} resources")),
        "{}",
        stdout(&reindexed)
    );

    let server = TestServer::start_on(dir.path(), &[]).await;
    let (status, bundle) = server.get("Patient?_summary=count").await;
    assert_eq!(status, 200);
    assert_eq!(bundle["total"], 100, "every patient is searchable");
    let (_, bundle) = server
        .get("Observation?code=http://loinc.org|8302-2&_summary=count")
        .await;
    assert!(bundle["total"].as_u64().unwrap() > 0, "{bundle}");
}

#[tokio::test]
async fn serve_builds_a_deferred_index_before_it_listens() {
    let dir = tempfile::tempdir().unwrap();
    import_deferring_index(
        dir.path(),
        &test_data().join("sample-synthea/Patient.ndjson.gz"),
    );
    let server = TestServer::start_on(dir.path(), &[]).await;
    let (status, bundle) = server
        .get("Patient?gender=female,male&_summary=count")
        .await;
    assert_eq!(status, 200);
    assert_eq!(bundle["total"], 100, "{bundle}");
}
