//! The [`JobStore`] conformance suite: one `pub async fn` per behaviour, run by every
//! backend's tests against a fresh, empty store. Each function deletes the jobs it made,
//! so the functions may run one after the other on the same store.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::IssueKind;
use crate::instant::Instant;
use crate::jobs::{Job, JobFile, JobId, JobKind, JobStatus, JobStore, JobStoreExt};

fn job(id: &str, kind: JobKind) -> Job {
    Job::new(
        JobId::parse(id).expect("valid job id"),
        kind,
        Some("client-a".into()),
        json!({"_type": "Patient,Observation", "_since": "2024-01-01"}),
    )
}

async fn cleanup(store: &dyn JobStore, jobs: &[&Job]) {
    for j in jobs {
        store.delete(&j.id).await.expect("delete");
    }
}

/// Runs every test of the suite.
pub async fn run_all(store: Arc<dyn JobStore>) {
    create_get_and_delete(store.as_ref()).await;
    updates_are_conditional(store.as_ref()).await;
    claims_are_exclusive_until_the_lease_runs_out(store.clone()).await;
    cancellation_is_never_lost(store.as_ref()).await;
    expired_jobs_are_listed(store.as_ref()).await;
    one_of_many_concurrent_steps_wins(store).await;
}

/// Every field survives a round trip; ids are unique; deletion reports what it did.
pub async fn create_get_and_delete(store: &dyn JobStore) {
    let mut new = job("roundtrip", JobKind::Import);
    new.state = json!({"step": "kick-off", "statusUrl": null});
    new.expires_at = Some(Instant(new.created_at.0 + 3_600_000_000));
    let created = store.create(&new).await.expect("create");
    assert_eq!(created.version, 1, "created jobs are version 1");
    assert_eq!(created.status, JobStatus::Queued);
    assert_eq!(
        (
            &created.request,
            &created.state,
            &created.owner,
            created.expires_at
        ),
        (&new.request, &new.state, &new.owner, new.expires_at)
    );
    let read = store.get(&new.id).await.expect("get").expect("stored");
    assert_eq!(read, created, "get returns the job as created");

    let err = store.create(&new).await.expect_err("duplicate id");
    assert_eq!(
        err.kind(),
        IssueKind::Conflict,
        "a second create of an id is a conflict"
    );
    assert!(
        store
            .list()
            .await
            .expect("list")
            .iter()
            .any(|j| j.id == new.id)
    );

    assert!(store.delete(&new.id).await.expect("delete"));
    assert!(store.get(&new.id).await.expect("get").is_none());
    assert!(!store.delete(&new.id).await.expect("delete again"));
    assert!(
        store
            .get(&JobId::parse("never").expect("id"))
            .await
            .expect("get")
            .is_none()
    );
}

/// An update from the current version writes the next one; from an old version it is a
/// conflict and changes nothing; a missing job is not found.
pub async fn updates_are_conditional(store: &dyn JobStore) {
    let v1 = store
        .create(&job("conditional", JobKind::Export))
        .await
        .expect("create");
    let mut step = v1.clone();
    step.status = JobStatus::Running;
    step.state = json!({"type": "Observation", "cursor": "abc"});
    step.counters.insert("Patient".into(), 42);
    step.progress = Some("Patient done".into());
    step.outputs.push(JobFile {
        resource_type: "Patient".into(),
        location: "export/conditional/Patient.1.ndjson".into(),
        count: 42,
    });
    step.errors.push(JobFile {
        resource_type: "OperationOutcome".into(),
        location: "export/conditional/errors.ndjson".into(),
        count: 1,
    });
    let v2 = store
        .update(&step)
        .await
        .expect("update from the current version");
    assert_eq!(v2.version, 2);
    assert!(v2.updated_at >= v1.updated_at, "updated_at moves forward");
    assert_eq!(
        (
            &v2.state,
            &v2.counters,
            &v2.outputs,
            &v2.errors,
            &v2.progress
        ),
        (
            &step.state,
            &step.counters,
            &step.outputs,
            &step.errors,
            &step.progress
        )
    );
    assert_eq!(store.get(&v1.id).await.expect("get"), Some(v2.clone()));

    let mut stale = v1.clone();
    stale.status = JobStatus::Failed;
    let err = store.update(&stale).await.expect_err("stale update");
    assert_eq!(
        err.kind(),
        IssueKind::Conflict,
        "an update from an old version conflicts"
    );
    let current = store.get(&v1.id).await.expect("get").expect("job");
    assert_eq!(current, v2, "a conflicting update changes nothing");

    let mut missing = v2.clone();
    missing.id = JobId::parse("missing").expect("id");
    let err = store.update(&missing).await.expect_err("missing job");
    assert_eq!(err.kind(), IssueKind::NotFound);
    cleanup(store, &[&v2]).await;
}

/// Concurrent claims hand each runnable job to one worker; held leases keep jobs from
/// other workers until they run out; finished jobs are never claimed.
pub async fn claims_are_exclusive_until_the_lease_runs_out(store: Arc<dyn JobStore>) {
    let mut jobs = Vec::new();
    for i in 0..3 {
        jobs.push(
            store
                .create(&job(&format!("claim-{i}"), JobKind::Export))
                .await
                .expect("create"),
        );
    }
    let mut done = job("claim-done", JobKind::Export);
    done.status = JobStatus::Completed;
    let done = store.create(&done).await.expect("create");

    let claimers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .claim(&format!("worker-{w}"), Duration::from_secs(60))
                    .await
                    .expect("claim")
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for c in claimers {
        if let Some(job) = c.await.expect("join") {
            claimed.push(job);
        }
    }
    let ids: HashSet<_> = claimed.iter().map(|j| j.id.clone()).collect();
    assert_eq!(
        claimed.len(),
        3,
        "each runnable job is claimed once: {claimed:?}"
    );
    assert_eq!(
        ids,
        jobs.iter().map(|j| j.id.clone()).collect::<HashSet<_>>()
    );
    for j in &claimed {
        assert_eq!(j.status, JobStatus::Running, "claimed jobs are running");
        assert!(j.lease.is_some());
    }
    assert!(
        store
            .claim("late", Duration::from_secs(60))
            .await
            .expect("claim")
            .is_none(),
        "leased and finished jobs are not claimable"
    );

    // A worker whose lease ran out (crashed, timed out) loses the job to the next claim.
    let mut expired = claimed[0].clone();
    expired.lease.as_mut().expect("lease").until = Instant(0);
    let expired = store.update(&expired).await.expect("expire the lease");
    let reclaimed = store
        .claim("rescuer", Duration::from_secs(60))
        .await
        .expect("claim")
        .expect("the expired job");
    assert_eq!(reclaimed.id, expired.id);
    assert_eq!(reclaimed.lease.as_ref().expect("lease").worker, "rescuer");
    let err = store.update(&expired).await.expect_err("old holder");
    assert_eq!(
        err.kind(),
        IssueKind::Conflict,
        "the previous holder can no longer advance the job"
    );

    let mut all: Vec<&Job> = claimed.iter().collect();
    all.push(&done);
    cleanup(store.as_ref(), &all).await;
}

/// A cancel request lands even while a worker runs a step, and that worker's next write
/// conflicts so it sees the flag.
pub async fn cancellation_is_never_lost(store: &dyn JobStore) {
    let created = store
        .create(&job("cancel", JobKind::Import))
        .await
        .expect("create");
    let running = store
        .claim("worker", Duration::from_secs(60))
        .await
        .expect("claim")
        .expect("the job");
    let cancelled = store
        .request_cancel(&created.id)
        .await
        .expect("cancel")
        .expect("the job exists");
    assert!(cancelled.cancel_requested);
    assert!(cancelled.version > running.version);

    let mut step = running.clone();
    step.counters.insert("lines".into(), 10);
    let err = store.update(&step).await.expect_err("worker's stale step");
    assert_eq!(err.kind(), IssueKind::Conflict);
    let seen = store.get(&created.id).await.expect("get").expect("job");
    assert!(
        seen.cancel_requested,
        "the worker re-reads and sees the cancel flag"
    );

    let mut stopped = seen.clone();
    stopped.status = JobStatus::Cancelled;
    stopped.lease = None;
    let stopped = store.update(&stopped).await.expect("stop");
    let again = store
        .request_cancel(&created.id)
        .await
        .expect("cancel")
        .expect("job");
    assert_eq!(again, stopped, "cancelling a finished job changes nothing");
    assert!(
        store
            .request_cancel(&JobId::parse("nobody").expect("id"))
            .await
            .expect("cancel")
            .is_none()
    );
    cleanup(store, &[&stopped]).await;
}

/// Jobs past their expiry are listed for deletion; others are not.
pub async fn expired_jobs_are_listed(store: &dyn JobStore) {
    let now = Instant::now();
    let mut old = job("expired", JobKind::Export);
    old.status = JobStatus::Completed;
    old.expires_at = Some(Instant(now.0 - 1));
    let old = store.create(&old).await.expect("create");
    let mut fresh = job("fresh", JobKind::Export);
    fresh.status = JobStatus::Completed;
    fresh.expires_at = Some(Instant(now.0 + 3_600_000_000));
    let fresh = store.create(&fresh).await.expect("create");
    let expired: Vec<_> = store
        .expired(now)
        .await
        .expect("expired")
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(expired, vec![old.id.clone()]);
    cleanup(store, &[&old, &fresh]).await;
}

/// Of 16 workers that read the same version and write their step, exactly one succeeds.
pub async fn one_of_many_concurrent_steps_wins(store: Arc<dyn JobStore>) {
    let created = store
        .create(&job("race", JobKind::Export))
        .await
        .expect("create");
    let writers: Vec<_> = (0..16_u64)
        .map(|w| {
            let store = store.clone();
            let mut step = created.clone();
            step.counters.insert("writer".into(), w);
            tokio::spawn(async move { store.update(&step).await })
        })
        .collect();
    let mut wins = 0;
    for w in writers {
        match w.await.expect("join") {
            Ok(_) => wins += 1,
            Err(e) => assert_eq!(e.kind(), IssueKind::Conflict, "losers conflict: {e}"),
        }
    }
    assert_eq!(wins, 1, "exactly one concurrent step advances the job");
    let stored = store.get(&created.id).await.expect("get").expect("job");
    assert_eq!(stored.version, 2);
    cleanup(store.as_ref(), &[&stored]).await;
}
