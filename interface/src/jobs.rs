//! The [`JobStore`] trait: durable state of bulk jobs (`$export`, `$import`).
//!
//! A bulk job is a state machine. A worker claims a runnable job ([`JobStoreExt::claim`]),
//! does one bounded step, and writes the new state with [`JobStore::update`], which succeeds
//! only if nobody changed the job since the worker read it. So two workers never both
//! advance the same step, a cancellation ([`JobStoreExt::request_cancel`]) is never lost,
//! and a worker that crashed or timed out leaves a state another worker resumes once the
//! lease has run out.

use std::collections::BTreeMap;
use std::fmt::{self, Debug};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::IssueKind;
use crate::error::{Error, Result};
use crate::instant::Instant;

/// How often [`JobStoreExt::request_cancel`] retries when workers keep changing the job.
const CANCEL_ATTEMPTS: usize = 20;

/// A job's id: 1 to 64 characters of `A-Z a-z 0-9 - .` (usually a UUID).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobId(String);

impl JobId {
    /// Validates `id`.
    ///
    /// # Errors
    /// [`IssueKind::NotFound`] for anything else than 1-64 letters, digits, `-` and `.`:
    /// job ids come from status URLs, where a malformed id names no job.
    pub fn parse(id: &str) -> Result<Self> {
        if crate::id::is_fhir_id(id) {
            Ok(Self(id.to_owned()))
        } else {
            Err(Error::not_found(format!(
                "no bulk job has the id '{}'",
                crate::id::truncate_for_message(id)
            )))
        }
    }

    /// A job id from a UUID (the caller generates it).
    pub fn from_uuid(uuid: impl fmt::Display) -> Self {
        Self(uuid.to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for JobId {
    type Error = Error;

    fn try_from(value: String) -> Result<Self> {
        Self::parse(&value)
    }
}

impl From<JobId> for String {
    fn from(id: JobId) -> Self {
        id.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// `$export` (system, Patient or Group level).
    Export,
    /// `$import` (Ping and Pull).
    Import,
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Accepted, no step run yet.
    Queued,
    /// At least one step ran; more to do.
    Running,
    /// Done: the outputs are complete.
    Completed,
    /// Stopped by an error (see [`Job::failure`]).
    Failed,
    /// Stopped because the client cancelled it.
    Cancelled,
}

impl JobStatus {
    /// Whether the job is over: no worker ever runs it again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// One file a job produced: an entry of the bulk manifest's `output` or `error` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFile {
    /// The resource type of its lines (`OperationOutcome` for error files).
    pub resource_type: String,
    /// Where it is: a [`crate::binary::BinaryKey`] or a URL.
    pub location: String,
    /// How many lines (resources) it has.
    pub count: u64,
}

/// A worker's hold on a job: until `until`, no other worker claims it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Who holds it (a process or Lambda invocation id).
    pub worker: String,
    /// When it runs out.
    pub until: Instant,
}

/// The durable state of one bulk job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The id (in the status URL).
    pub id: JobId,
    /// Export or import.
    pub kind: JobKind,
    /// Who kicked it off (the token's subject or client id); `None` without authentication.
    /// Only the owner may read its status, outputs or cancel it.
    pub owner: Option<String>,
    /// The kick-off request's parameters (`_type`, `_since`, `exportUrl`, ...), as the
    /// worker needs them.
    pub request: Value,
    /// Where it is in its life.
    pub status: JobStatus,
    /// The worker's resumable state between steps (current type, cursor, provider status
    /// URL, ...); its shape belongs to the job's kind.
    pub state: Value,
    /// Progress counters (resources exported per type, lines read, lines failed, ...).
    pub counters: BTreeMap<String, u64>,
    /// A short progress text for the `X-Progress` header.
    pub progress: Option<String>,
    /// The files produced so far.
    pub outputs: Vec<JobFile>,
    /// The `OperationOutcome` files produced so far.
    pub errors: Vec<JobFile>,
    /// Why the job failed, when [`JobStatus::Failed`].
    pub failure: Option<String>,
    /// The client asked to cancel: the next step stops the job instead of advancing it.
    pub cancel_requested: bool,
    /// The worker currently running a step, if any.
    pub lease: Option<Lease>,
    /// When it was kicked off.
    pub created_at: Instant,
    /// When its state was last written (set by the store).
    pub updated_at: Instant,
    /// When the job and its files may be deleted.
    pub expires_at: Option<Instant>,
    /// The optimistic-locking version: 1 when created, one more with every write (set by
    /// the store).
    pub version: u64,
}

impl Job {
    /// A queued job kicked off now, not yet stored (version 0).
    pub fn new(id: JobId, kind: JobKind, owner: Option<String>, request: Value) -> Self {
        let now = Instant::now();
        Self {
            id,
            kind,
            owner,
            request,
            status: JobStatus::Queued,
            state: Value::Null,
            counters: BTreeMap::new(),
            progress: None,
            outputs: Vec::new(),
            errors: Vec::new(),
            failure: None,
            cancel_requested: false,
            lease: None,
            created_at: now,
            updated_at: now,
            expires_at: None,
            version: 0,
        }
    }

    /// Whether a worker may claim it at `now`: not over, and no lease or an expired one.
    pub fn is_runnable(&self, now: Instant) -> bool {
        !self.status.is_terminal() && self.lease.as_ref().is_none_or(|l| l.until <= now)
    }
}

/// Durable bulk job state.
///
/// # Contract
/// - [`JobStore::create`] stores version 1; every successful [`JobStore::update`] stores
///   the next version and sets `updated_at`.
/// - `update` is conditional: it succeeds only if the stored version is the version of
///   the job passed in, checked atomically with the write.
/// - Reads see every acknowledged write (strongly consistent).
///
/// # Errors
/// `Conflict` when `create` finds the id taken or `update` finds another version,
/// `NotFound` when `update` finds no job, `Internal` for backend failures.
///
/// # Example
/// ```ignore
/// let mut job = store.claim("worker-1", Duration::from_secs(60)).await?.expect("a job");
/// job.counters.insert("Patient".into(), 1000);
/// let job = store.update(&job).await?; // Conflict: someone else advanced or cancelled it
/// ```
#[async_trait]
pub trait JobStore: Send + Sync + Debug + 'static {
    /// A short name of the backend, for logs.
    fn backend_name(&self) -> &'static str;

    /// Stores a new job as version 1 and returns it as stored.
    async fn create(&self, job: &Job) -> Result<Job>;

    /// The job with this id, if any.
    async fn get(&self, id: &JobId) -> Result<Option<Job>>;

    /// Writes `job` if the stored version is still `job.version`; returns it as stored
    /// (next version, new `updated_at`).
    async fn update(&self, job: &Job) -> Result<Job>;

    /// Deletes a job; whether there was one.
    async fn delete(&self, id: &JobId) -> Result<bool>;

    /// Every job, oldest first (jobs are few: they expire).
    async fn list(&self) -> Result<Vec<Job>>;
}

/// Helpers every [`JobStore`] gets from the core methods.
#[async_trait]
pub trait JobStoreExt: JobStore {
    /// Claims the oldest runnable job for `worker` for `lease` and marks it running;
    /// `None` when no job is runnable. Concurrent claims never get the same job while the
    /// lease holds.
    async fn claim(&self, worker: &str, lease: Duration) -> Result<Option<Job>> {
        let now = Instant::now();
        for mut job in self.list().await? {
            if !job.is_runnable(now) {
                continue;
            }
            job.lease = Some(Lease {
                worker: worker.to_owned(),
                until: after(now, lease),
            });
            job.status = JobStatus::Running;
            match self.update(&job).await {
                Ok(claimed) => return Ok(Some(claimed)),
                Err(e) if matches!(e.kind(), IssueKind::Conflict | IssueKind::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Sets the cancel flag of a job that is not over, retrying when workers change it in
    /// between; returns the job as stored, `None` if there is no such job.
    async fn request_cancel(&self, id: &JobId) -> Result<Option<Job>> {
        for _ in 0..CANCEL_ATTEMPTS {
            let Some(mut job) = self.get(id).await? else {
                return Ok(None);
            };
            if job.cancel_requested || job.status.is_terminal() {
                return Ok(Some(job));
            }
            job.cancel_requested = true;
            match self.update(&job).await {
                Ok(job) => return Ok(Some(job)),
                Err(e) if e.kind() == IssueKind::Conflict => {}
                Err(e) if e.kind() == IssueKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Err(Error::conflict(format!(
            "bulk job {id} changed too often to cancel; try again"
        )))
    }

    /// The jobs whose expiry is at or before `now`, to be deleted with their files.
    async fn expired(&self, now: Instant) -> Result<Vec<Job>> {
        let jobs = self.list().await?;
        Ok(jobs
            .into_iter()
            .filter(|j| j.expires_at.is_some_and(|e| e <= now))
            .collect())
    }
}

impl<T: JobStore + ?Sized> JobStoreExt for T {}

/// `now` plus `duration`, saturating.
pub fn after(now: Instant, duration: Duration) -> Instant {
    let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
    Instant(now.0.saturating_add(micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_through_json() {
        let mut job = Job::new(
            JobId::parse("a-1").expect("id"),
            JobKind::Export,
            Some("client".into()),
            serde_json::json!({"_type": "Patient"}),
        );
        job.counters.insert("Patient".into(), 3);
        job.lease = Some(Lease {
            worker: "w".into(),
            until: Instant(5),
        });
        let text = serde_json::to_string(&job).expect("serialize");
        assert!(text.contains("\"kind\":\"export\""), "{text}");
        assert_eq!(serde_json::from_str::<Job>(&text).expect("parse"), job);
        assert!(serde_json::from_str::<JobId>("\"a/b\"").is_err());
    }

    #[test]
    fn runnable_means_live_and_unleased() {
        let mut job = Job::new(
            JobId::parse("j").expect("id"),
            JobKind::Import,
            None,
            Value::Null,
        );
        assert!(job.is_runnable(Instant(0)));
        job.lease = Some(Lease {
            worker: "w".into(),
            until: Instant(10),
        });
        assert!(!job.is_runnable(Instant(9)));
        assert!(job.is_runnable(Instant(10)));
        job.status = JobStatus::Completed;
        assert!(!job.is_runnable(Instant(10)));
    }
}
