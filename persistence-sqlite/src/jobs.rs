//! [`SqliteJobStore`]: bulk job state in the `jobs` table of the database file.
//!
//! Each row holds one job as JSON (`doc`) beside its optimistic-locking `version`; an
//! update is `UPDATE .. WHERE id = ? AND version = ?`, so of two writers starting from the
//! same version exactly one changes the row.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use hearth_interface::instant::Instant;
use hearth_interface::jobs::{Job, JobId, JobStore};
use hearth_interface::{Error, Result};
use rusqlite::{Connection, OptionalExtension, params};

use crate::schema;
use crate::store::{DATABASE_FILE, db_error};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id      TEXT    PRIMARY KEY,
    version INTEGER NOT NULL,
    doc     TEXT    NOT NULL
) WITHOUT ROWID;
";

/// Bulk jobs in the data directory's SQLite file, on a connection of their own (jobs are
/// written a few times per step, never in the resource writer's hot path).
#[derive(Debug, Clone)]
pub struct SqliteJobStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteJobStore {
    /// Opens the job table in `data_dir`, creating the directory, file and table when
    /// missing.
    ///
    /// # Errors
    /// `Internal` when the directory or database cannot be created or opened.
    pub fn open(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| Error::internal(format!("cannot create {}", data_dir.display()), e))?;
        let conn = schema::open(&data_dir.join(DATABASE_FILE)).map_err(db_error)?;
        conn.execute_batch(SCHEMA).map_err(db_error)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with_conn<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let guard = conn.lock().map_err(|_| {
                Error::internal("job store lock poisoned", std::io::Error::other("poisoned"))
            })?;
            f(&guard)
        })
        .await
        .map_err(|e| Error::internal("job store task failed", e))?
    }
}

fn encode(job: &Job) -> Result<String> {
    serde_json::to_string(job).map_err(|e| Error::internal("cannot encode a bulk job", e))
}

fn decode(doc: &str) -> Result<Job> {
    serde_json::from_str(doc).map_err(|e| Error::internal("stored bulk job is not valid", e))
}

/// `job` as the store writes it: the next version, written now.
fn next(job: &Job, version: u64) -> Job {
    let mut stored = job.clone();
    stored.version = version;
    stored.updated_at = Instant::now().max(job.updated_at);
    stored
}

fn sql_version(version: u64) -> Result<i64> {
    i64::try_from(version).map_err(|_| Error::conflict("bulk job version out of range"))
}

#[async_trait]
impl JobStore for SqliteJobStore {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    async fn create(&self, job: &Job) -> Result<Job> {
        let stored = next(job, 1);
        let doc = encode(&stored)?;
        self.with_conn(move |conn| {
            let inserted = conn
                .execute(
                    "INSERT INTO jobs (id, version, doc) VALUES (?1, 1, ?2) \
                     ON CONFLICT (id) DO NOTHING",
                    params![stored.id.as_str(), doc],
                )
                .map_err(db_error)?;
            if inserted == 0 {
                return Err(Error::conflict(format!(
                    "a bulk job with the id {} exists",
                    stored.id
                )));
            }
            Ok(stored)
        })
        .await
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>> {
        let id = id.clone();
        self.with_conn(move |conn| {
            let doc: Option<String> = conn
                .query_row("SELECT doc FROM jobs WHERE id = ?1", [id.as_str()], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(db_error)?;
            doc.as_deref().map(decode).transpose()
        })
        .await
    }

    async fn update(&self, job: &Job) -> Result<Job> {
        let expected = sql_version(job.version)?;
        let stored = next(job, job.version + 1);
        let doc = encode(&stored)?;
        self.with_conn(move |conn| {
            let changed = conn
                .execute(
                    "UPDATE jobs SET version = ?1, doc = ?2 WHERE id = ?3 AND version = ?4",
                    params![expected + 1, doc, stored.id.as_str(), expected],
                )
                .map_err(db_error)?;
            if changed == 1 {
                return Ok(stored);
            }
            let current: Option<i64> = conn
                .query_row(
                    "SELECT version FROM jobs WHERE id = ?1",
                    [stored.id.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_error)?;
            Err(match current {
                None => Error::not_found(format!("bulk job {} does not exist", stored.id)),
                Some(v) => Error::conflict(format!(
                    "bulk job {} is at version {v}, not {expected}: another worker changed it",
                    stored.id
                )),
            })
        })
        .await
    }

    async fn delete(&self, id: &JobId) -> Result<bool> {
        let id = id.clone();
        self.with_conn(move |conn| {
            let deleted = conn
                .execute("DELETE FROM jobs WHERE id = ?1", [id.as_str()])
                .map_err(db_error)?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn list(&self) -> Result<Vec<Job>> {
        self.with_conn(|conn| {
            let mut statement = conn.prepare("SELECT doc FROM jobs").map_err(db_error)?;
            let docs = statement
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(db_error)?;
            let mut jobs = Vec::new();
            for doc in docs {
                jobs.push(decode(&doc.map_err(db_error)?)?);
            }
            jobs.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            Ok(jobs)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hearth_interface::conformance;

    use super::SqliteJobStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_job_store_conforms() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteJobStore::open(dir.path()).expect("open");
        conformance::jobs::run_all(Arc::new(store)).await;
    }

    #[tokio::test]
    async fn jobs_survive_reopening_beside_the_resource_store() {
        use hearth_interface::jobs::{Job, JobId, JobKind, JobStore};
        let dir = tempfile::tempdir().expect("tempdir");
        let _resources = crate::SqliteStore::open(dir.path()).expect("resource store");
        let job = Job::new(
            JobId::parse("durable").expect("id"),
            JobKind::Export,
            None,
            serde_json::json!({}),
        );
        let created = SqliteJobStore::open(dir.path())
            .expect("open")
            .create(&job)
            .await
            .expect("create");
        let reopened = SqliteJobStore::open(dir.path()).expect("reopen");
        assert_eq!(reopened.get(&job.id).await.expect("get"), Some(created));
    }
}
