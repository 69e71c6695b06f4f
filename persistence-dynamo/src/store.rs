//! [`DynamoStore`]: the [`ResourceStore`] implementation (reads, single writes, batches and
//! small transactions; large transactions are in [`crate::txn`], history in
//! [`crate::history`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};
use hearth_interface::instant::Instant;
use hearth_interface::store::{
    ChangeKind, HistoryQuery, Page, Precondition, ResourceStore, ScanQuery, StoredResource, Write,
    WriteAction, WriteOutcome, WriteResult,
};
use hearth_interface::{Error, IssueKind, ResourceId, ResourceType, Result};

use crate::db::{Db, Raw, TRANSACT_MAX, TransactError, backoff, key};
use crate::item::{
    self, BODY, CHANGE, HIST_KEY, HIST_SHARD, HIST_TYPE, ID, Item, LOCK, PK, POINTER_SK, SK,
    STAGED, TS, TYPE, VERSION, n, s,
};
use crate::metrics::Metrics;
use crate::txn::{self, Resolution};

/// How often a write is tried again when another write moved the resource first.
const WRITE_ATTEMPTS: u32 = 60;
/// How often a small transaction is tried again when another write got in between.
const TRANSACTION_ATTEMPTS: u32 = 5;
/// Largest request payload a `TransactWriteItems` may carry (4 MB), with room for keys.
const TRANSACT_BYTES: usize = 3_500_000;
/// Largest item DynamoDB stores (400 KB), with room for the other attributes.
const ITEM_BYTES: usize = 390_000;
/// Batch chunks written concurrently by [`DynamoStore::write_batch`].
const BATCH_PARALLELISM: usize = 4;
/// How long a large transaction may stay uncommitted before recovery rolls it back.
const DEFAULT_TRANSACTION_EXPIRY: Duration = Duration::from_secs(60);

/// Versioned resources in one DynamoDB table (see the crate's `README.md`).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) db: Db,
    clock: Mutex<i64>,
    pub(crate) transaction_expiry: Duration,
    /// Test hook: the large-transaction step after which the coordinator "crashes".
    #[cfg(test)]
    pub(crate) crash_after: Mutex<Option<txn::Step>>,
}

/// A resource as the store found it.
#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    /// Whether a pointer item exists, and the version it names (`None`: the pointer only
    /// holds a lock for a resource that never existed).
    pub(crate) pointer: Option<Option<u64>>,
    /// The committed current version (possibly a deletion).
    pub(crate) current: Option<StoredResource>,
}

/// A write whose outcome is known, with the items it must write.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    pub(crate) result: WriteResult,
    /// The new version to store, if any (`None`: unchanged, or nothing to delete).
    pub(crate) new: Option<StoredResource>,
    /// The pointer as read: its existence and version (the condition of the write).
    pub(crate) pointer: Option<Option<u64>>,
}

impl Planned {
    /// Approximate bytes the write sends.
    pub(crate) fn size(&self) -> usize {
        self.new
            .as_ref()
            .and_then(|n| n.body.as_ref())
            .map_or(0, String::len)
            + 300
    }
}

impl DynamoStore {
    /// A store on table `table` (which must exist: see [`crate::create_tables`] and
    /// [`crate::check`]).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                db: Db {
                    client,
                    table: table.into(),
                    metrics: Metrics::default(),
                },
                clock: Mutex::new(0),
                transaction_expiry: DEFAULT_TRANSACTION_EXPIRY,
                #[cfg(test)]
                crash_after: Mutex::new(None),
            }),
        }
    }

    /// Checks the table, finishes or rolls back large transactions left by a crash, and
    /// returns the store: what the server calls at start-up.
    ///
    /// # Errors
    /// `Invalid` naming what is wrong with the table; `Internal` when DynamoDB fails.
    pub async fn connect(client: Client, table: impl Into<String>) -> Result<Self> {
        let table = table.into();
        crate::table::check(&client, &table).await?;
        let store = Self::new(client, table);
        store.recover().await?;
        Ok(store)
    }

    /// A new handle on the same table whose uncommitted large transactions expire after
    /// `expiry` (default 60 s): past it, recovery rolls them back. Metrics start from zero.
    #[must_use]
    pub fn with_transaction_expiry(&self, expiry: Duration) -> Self {
        let mut store = Self::new(self.inner.db.client.clone(), self.inner.db.table.clone());
        if let Some(inner) = Arc::get_mut(&mut store.inner) {
            inner.transaction_expiry = expiry;
        }
        store
    }

    /// Finishes committed large transactions and rolls back expired uncommitted ones; call
    /// at start-up (done by [`DynamoStore::connect`]) and periodically. Returns how many
    /// transactions it resolved.
    ///
    /// # Errors
    /// `Internal` when DynamoDB fails.
    pub async fn recover(&self) -> Result<usize> {
        txn::recover(self).await
    }

    /// Request counts and consumed capacity so far.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.db.metrics
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.inner.db.table
    }

    pub(crate) fn db(&self) -> &Db {
        &self.inner.db
    }

    /// A timestamp after every one this process handed out and after `after`.
    fn tick(&self, after: i64) -> i64 {
        let mut last = self.inner.clock.lock().unwrap_or_else(|p| p.into_inner());
        *last = Instant::now().0.max(*last + 1).max(after + 1);
        *last
    }

    /// Reads a resource's pointer and current version with one query. A lock held by a
    /// finished or expired large transaction is resolved first; one held by a transaction in
    /// progress makes writes fail with `Conflict` while reads see the version before it.
    pub(crate) async fn read_state(
        &self,
        resource_type: ResourceType,
        id: &ResourceId,
        for_write: bool,
    ) -> Result<State> {
        let pk = item::resource_pk(resource_type, id);
        for _ in 0..3 {
            let query = self
                .db()
                .client
                .query()
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(&pk))
                .scan_index_forward(false)
                .consistent_read(true)
                .limit(2);
            let items = self.db().query(query, 1).await?;
            let Some(pointer) = items.first().filter(|i| i.str(SK) == Some(POINTER_SK)) else {
                return Ok(State::default());
            };
            if let Some(tx) = pointer.str(LOCK) {
                match txn::resolve(self, tx, &pk).await? {
                    Resolution::Finished => continue,
                    Resolution::InProgress if for_write => {
                        return Err(Error::conflict(format!(
                            "{resource_type}/{id} is being written by a transaction in progress: retry"
                        )));
                    }
                    Resolution::InProgress => {}
                }
            }
            let version: Option<u64> = pointer.num(VERSION);
            let Some(v) = version else {
                return Ok(State {
                    pointer: Some(None),
                    current: None,
                });
            };
            let sk = item::version_sk(v);
            let current = match items.get(1).filter(|i| i.str(SK) == Some(sk.as_str())) {
                Some(found) => found.to_stored()?,
                None => self
                    .db()
                    .get(&pk, &sk)
                    .await?
                    .ok_or_else(|| missing_version(&pk, v))?
                    .to_stored()?,
            };
            return Ok(State {
                pointer: Some(Some(v)),
                current: Some(current),
            });
        }
        Err(Error::conflict(format!(
            "{resource_type}/{id} is being written concurrently: retry"
        )))
    }

    /// Reads the states of many resources with batched reads (pointers, then current
    /// versions); resources with a locked pointer are read one by one to resolve the lock.
    pub(crate) async fn read_states(
        &self,
        targets: &[(ResourceType, ResourceId)],
    ) -> Result<Vec<Result<State>>> {
        let keys: Vec<(String, String)> = targets
            .iter()
            .map(|(t, i)| (item::resource_pk(*t, i), POINTER_SK.to_owned()))
            .collect();
        let pointers = self.db().batch_get(&keys).await?;
        let version_keys: Vec<(String, String)> = keys
            .iter()
            .filter_map(|k| {
                let p = pointers.get(k)?;
                let v: u64 = p.num(VERSION)?;
                (!p.has(LOCK)).then(|| (k.0.clone(), item::version_sk(v)))
            })
            .collect();
        let versions = self.db().batch_get(&version_keys).await?;
        let mut states = Vec::with_capacity(targets.len());
        for ((t, i), k) in targets.iter().zip(&keys) {
            let state = match pointers.get(k) {
                None => Ok(State::default()),
                Some(p) if p.has(LOCK) => self.read_state(*t, i, true).await,
                Some(p) => match p.num::<u64>(VERSION) {
                    None => Ok(State {
                        pointer: Some(None),
                        current: None,
                    }),
                    Some(v) => versions
                        .get(&(k.0.clone(), item::version_sk(v)))
                        .ok_or_else(|| missing_version(&k.0, v))
                        .and_then(Item::to_stored)
                        .map(|current| State {
                            pointer: Some(Some(v)),
                            current: Some(current),
                        }),
                },
            };
            states.push(state);
        }
        Ok(states)
    }

    /// Decides what `write` does given `state`, checking its precondition.
    pub(crate) fn plan(&self, write: &Write, state: &State) -> Result<Planned> {
        let Write {
            resource_type,
            id,
            action,
            precondition,
        } = write;
        let current = state.current.as_ref();
        let live = current.filter(|c| !c.is_deleted());
        check_precondition(*resource_type, id, *precondition, current, live)?;
        let next_version = current.map_or(1, |c| c.version + 1);
        let after = current.map_or(i64::MIN, |c| c.last_updated.0);
        let done = |outcome, stored: Option<&StoredResource>| Planned {
            result: WriteResult {
                outcome,
                stored: stored.cloned(),
            },
            new: None,
            pointer: state.pointer,
        };
        let new = match action {
            WriteAction::Upsert(resource) => {
                if let Some(live) = live
                    && live
                        .body
                        .as_deref()
                        .is_some_and(|b| resource.same_as(b, live.version, live.last_updated))
                {
                    return Ok(done(WriteOutcome::Unchanged, Some(live)));
                }
                let change = if live.is_some() {
                    ChangeKind::Update
                } else {
                    ChangeKind::Create
                };
                let ts = self.tick(after);
                let body = resource.finish(next_version, Instant(ts));
                if body.len() > ITEM_BYTES {
                    return Err(Error::new(
                        IssueKind::TooLarge,
                        format!(
                            "{resource_type}/{id} is {} bytes: the DynamoDB backend stores resources up to {ITEM_BYTES} bytes",
                            body.len()
                        ),
                    ));
                }
                StoredResource {
                    resource_type: *resource_type,
                    id: id.clone(),
                    version: next_version,
                    last_updated: Instant(ts),
                    change,
                    body: Some(body),
                }
            }
            WriteAction::Delete => {
                if live.is_none() {
                    return Ok(done(WriteOutcome::NothingToDelete, current));
                }
                StoredResource {
                    resource_type: *resource_type,
                    id: id.clone(),
                    version: next_version,
                    last_updated: Instant(self.tick(after)),
                    change: ChangeKind::Delete,
                    body: None,
                }
            }
        };
        let outcome = match new.change {
            ChangeKind::Create => WriteOutcome::Created,
            ChangeKind::Update => WriteOutcome::Updated,
            ChangeKind::Delete => WriteOutcome::Deleted,
        };
        Ok(Planned {
            result: WriteResult {
                outcome,
                stored: Some(new.clone()),
            },
            new: Some(new),
            pointer: state.pointer,
        })
    }

    /// Writes one resource: read, plan, conditional transaction; retried while other
    /// writes move the resource first (their precondition is checked again each time).
    async fn write_one(&self, write: &Write) -> Result<WriteResult> {
        for attempt in 0..WRITE_ATTEMPTS {
            let state = self
                .read_state(write.resource_type, &write.id, true)
                .await?;
            let planned = self.plan(write, &state)?;
            if planned.new.is_none() {
                return Ok(planned.result);
            }
            match self
                .db()
                .transact(transact_items(&planned, self.table())?)
                .await
            {
                Ok(()) => return Ok(planned.result),
                Err(TransactError::Condition) => backoff(attempt).await,
                Err(TransactError::Failed(e)) => return Err(e),
            }
        }
        Err(Error::conflict(format!(
            "{}/{} is written by too many requests at once: retry",
            write.resource_type, write.id
        )))
    }

    /// Writes independent writes (no resource twice) grouped into transactions of up to 50
    /// writes, several at once; a group that loses a race is written one by one.
    async fn write_group(&self, writes: Vec<Write>) -> Result<Vec<Result<WriteResult>>> {
        let targets: Vec<_> = writes
            .iter()
            .map(|w| (w.resource_type, w.id.clone()))
            .collect();
        let states = self.read_states(&targets).await?;
        let mut results: Vec<Option<Result<WriteResult>>> =
            (0..writes.len()).map(|_| None).collect();
        let mut chunks: Vec<Vec<(usize, Planned)>> = vec![Vec::new()];
        let mut chunk_bytes = 0;
        for (index, (write, state)) in writes.iter().zip(states).enumerate() {
            let planned = match state.and_then(|s| self.plan(write, &s)) {
                Err(e) if e.kind() == IssueKind::Internal => return Err(e),
                Err(e) => {
                    results[index] = Some(Err(e));
                    continue;
                }
                Ok(p) if p.new.is_none() => {
                    results[index] = Some(Ok(p.result));
                    continue;
                }
                Ok(p) => p,
            };
            let last = chunks.last_mut().expect("one chunk");
            if last.len() * 2 + 2 > TRANSACT_MAX || chunk_bytes + planned.size() > TRANSACT_BYTES {
                chunks.push(Vec::new());
                chunk_bytes = 0;
            }
            chunk_bytes += planned.size();
            chunks.last_mut().expect("one chunk").push((index, planned));
        }
        let mut running = tokio::task::JoinSet::new();
        let mut retry = Vec::new();
        let mut chunks = chunks.into_iter().filter(|c| !c.is_empty());
        loop {
            while running.len() < BATCH_PARALLELISM {
                let Some(chunk) = chunks.next() else { break };
                let store = self.clone();
                running.spawn(async move {
                    let items: Result<Vec<_>> = chunk
                        .iter()
                        .map(|(_, p)| transact_items(p, store.table()))
                        .collect::<Result<Vec<_>>>()
                        .map(|v| v.into_iter().flatten().collect());
                    let outcome = match items {
                        Ok(items) => store.db().transact(items).await,
                        Err(e) => Err(TransactError::Failed(e)),
                    };
                    (chunk, outcome)
                });
            }
            let Some(done) = running.join_next().await else {
                break;
            };
            let (chunk, outcome) = done.map_err(|e| Error::internal("batch task failed", e))?;
            match outcome {
                Ok(()) => {
                    for (index, planned) in chunk {
                        results[index] = Some(Ok(planned.result));
                    }
                }
                Err(TransactError::Condition) => retry.extend(chunk.into_iter().map(|(i, _)| i)),
                Err(TransactError::Failed(e)) => return Err(e),
            }
        }
        for index in retry {
            results[index] = Some(match self.write_one(&writes[index]).await {
                Err(e) if e.kind() == IssueKind::Internal => return Err(e),
                other => other,
            });
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(Error::internal(
                        "write not applied",
                        std::io::Error::other("lost"),
                    ))
                })
            })
            .collect())
    }

    /// Commits `writes` all-or-nothing: one `TransactWriteItems` when they fit, the
    /// large-transaction protocol otherwise.
    async fn commit(&self, writes: &[Write]) -> Result<Vec<WriteResult>> {
        let targets: Vec<_> = writes
            .iter()
            .map(|w| (w.resource_type, w.id.clone()))
            .collect();
        for attempt in 0..TRANSACTION_ATTEMPTS {
            let states = self.read_states(&targets).await?;
            let mut plans = Vec::with_capacity(writes.len());
            for (write, state) in writes.iter().zip(states) {
                plans.push(self.plan(write, &state?)?);
            }
            let writing: Vec<&Planned> = plans.iter().filter(|p| p.new.is_some()).collect();
            let bytes: usize = writing.iter().map(|p| p.size()).sum();
            if writing.is_empty() {
                return Ok(plans.into_iter().map(|p| p.result).collect());
            }
            // Writes that store nothing keep their precondition atomic with a condition check.
            let checked: Vec<(&Write, &Planned)> = writes
                .iter()
                .zip(&plans)
                .filter(|(w, p)| p.new.is_none() && w.precondition != Precondition::None)
                .collect();
            let lost =
                if writing.len() * 2 + checked.len() <= TRANSACT_MAX && bytes <= TRANSACT_BYTES {
                    let mut items = Vec::with_capacity(writing.len() * 2 + checked.len());
                    for p in &writing {
                        items.extend(transact_items(p, self.table())?);
                    }
                    for (w, p) in &checked {
                        items.push(condition_check(w, p, self.table())?);
                    }
                    match self.db().transact(items).await {
                        Ok(()) => false,
                        Err(TransactError::Condition) => true,
                        Err(TransactError::Failed(e)) => return Err(e),
                    }
                } else {
                    match txn::run(self, &plans).await {
                        Ok(()) => false,
                        Err(e) if e.kind() == IssueKind::Conflict => true,
                        Err(e) => return Err(e),
                    }
                };
            if !lost {
                return Ok(plans.into_iter().map(|p| p.result).collect());
            }
            backoff(attempt).await;
        }
        Err(Error::conflict(
            "the transaction's resources were changed by other writes: retry",
        ))
    }

    /// Whether a transaction reading `tx`'s staged items may see them.
    pub(crate) async fn staged_visible(&self, tx: &str) -> Result<bool> {
        Ok(txn::status(self, tx).await? == Some(txn::Status::Committed))
    }
}

fn missing_version(pk: &str, v: u64) -> Error {
    Error::internal(
        "a resource's current version is missing",
        std::io::Error::other(format!("{pk} v{v}")),
    )
}

fn check_precondition(
    resource_type: ResourceType,
    id: &ResourceId,
    precondition: Precondition,
    current: Option<&StoredResource>,
    live: Option<&StoredResource>,
) -> Result<()> {
    match precondition {
        Precondition::None => Ok(()),
        Precondition::VersionIs(expected) => {
            let actual = current.map(|c| c.version);
            if actual == Some(expected) {
                Ok(())
            } else {
                Err(Error::precondition_failed(format!(
                    "version mismatch for {resource_type}/{id}: expected W/\"{expected}\", current is {}",
                    actual.map_or("none".to_owned(), |v| format!("W/\"{v}\""))
                )))
            }
        }
        Precondition::BasedOn(read) => {
            if current.map(|c| c.version) == Some(read) {
                Ok(())
            } else {
                Err(Error::conflict(format!(
                    "{resource_type}/{id} changed while this request was processed: retry"
                )))
            }
        }
        Precondition::Absent => match live {
            Some(_) => Err(Error::conflict(format!(
                "{resource_type}/{id} already exists"
            ))),
            None => Ok(()),
        },
    }
}

/// The attributes of a version item; `visible` adds the history index keys (staged
/// versions get them at roll-forward).
pub(crate) fn version_item(new: &StoredResource, visible: bool) -> Raw {
    let pk = item::resource_pk(new.resource_type, &new.id);
    let mut raw: Raw = HashMap::from([
        (SK.to_owned(), s(item::version_sk(new.version))),
        (TYPE.to_owned(), s(new.resource_type.as_str())),
        (ID.to_owned(), s(new.id.as_str())),
        (VERSION.to_owned(), n(new.version)),
        (TS.to_owned(), n(new.last_updated.0)),
        (CHANGE.to_owned(), s(item::change_code(new.change))),
    ]);
    if let Some(body) = &new.body {
        raw.insert(BODY.to_owned(), s(body));
    }
    if visible {
        raw.extend(history_attributes(new, &pk));
    }
    raw.insert(PK.to_owned(), s(pk));
    raw
}

/// The history index keys of a version.
pub(crate) fn history_attributes(new: &StoredResource, pk: &str) -> Raw {
    HashMap::from([
        (HIST_TYPE.to_owned(), s(new.resource_type.as_str())),
        (HIST_SHARD.to_owned(), s(item::system_shard(pk))),
        (
            HIST_KEY.to_owned(),
            s(item::history_key(
                new.last_updated.0,
                new.resource_type,
                &new.id,
                new.version,
            )),
        ),
    ])
}

/// The update moving a pointer to `new` (and releasing its lock when `unlock`): its
/// expression and values (`:v`, `:ts`, `:ch`, `:t`, `:i`, and `:ct`/`:ck` unless `new` is a
/// deletion, which leaves the current-resources index).
pub(crate) fn pointer_update(
    new: &StoredResource,
    unlock: bool,
) -> (String, Vec<(&'static str, AttributeValue)>) {
    let mut values = vec![
        (":v", n(new.version)),
        (":ts", n(new.last_updated.0)),
        (":ch", s(item::change_code(new.change))),
        (":t", s(new.resource_type.as_str())),
        (":i", s(new.id.as_str())),
    ];
    let mut expression = "SET v = :v, ts = :ts, ch = :ch, t = :t, i = :i".to_owned();
    let mut remove = Vec::new();
    if new.is_deleted() {
        remove.extend(["ct", "ck"]);
    } else {
        values.push((":ct", s(new.resource_type.as_str())));
        values.push((":ck", s(item::current_key(new.last_updated.0, &new.id))));
        expression.push_str(", ct = :ct, ck = :ck");
    }
    if unlock {
        remove.push("lk");
    }
    if !remove.is_empty() {
        expression.push_str(" REMOVE ");
        expression.push_str(&remove.join(", "));
    }
    (expression, values)
}

/// The two items of a single write: the new version (which may replace only a leftover of
/// a rolled-back transaction) and the pointer, conditional on the version read and on no
/// lock being held.
pub(crate) fn transact_items(planned: &Planned, table: &str) -> Result<Vec<TransactWriteItem>> {
    let Some(new) = &planned.new else {
        return Ok(Vec::new());
    };
    let db_err = |e| Error::internal("building a transaction item", e);
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(version_item(new, true)))
        .condition_expression("attribute_not_exists(pk) OR attribute_exists(stg)")
        .build()
        .map_err(db_err)?;
    let pk = item::resource_pk(new.resource_type, &new.id);
    let pointer = match planned.pointer {
        None => {
            let mut raw = key(&pk, POINTER_SK);
            let (_, values) = pointer_update(new, false);
            for (name, value) in values {
                raw.insert(name.trim_start_matches(':').to_owned(), value);
            }
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(table)
                        .set_item(Some(raw))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .map_err(db_err)?,
                )
                .build()
        }
        Some(previous) => {
            let (expression, mut values) = pointer_update(new, false);
            let condition = match previous {
                Some(v) => {
                    values.push((":prev", n(v)));
                    "v = :prev AND attribute_not_exists(lk)"
                }
                None => {
                    "attribute_exists(pk) AND attribute_not_exists(v) AND attribute_not_exists(lk)"
                }
            };
            let mut update = Update::builder()
                .table_name(table)
                .set_key(Some(key(&pk, POINTER_SK)))
                .update_expression(expression)
                .condition_expression(condition);
            for (name, value) in values {
                update = update.expression_attribute_values(name, value);
            }
            TransactWriteItem::builder()
                .update(update.build().map_err(db_err)?)
                .build()
        }
    };
    Ok(vec![TransactWriteItem::builder().put(put).build(), pointer])
}

/// A check that the pointer of a write that stores nothing is still as it was read.
fn condition_check(write: &Write, planned: &Planned, table: &str) -> Result<TransactWriteItem> {
    let pk = item::resource_pk(write.resource_type, &write.id);
    let mut check = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(key(&pk, POINTER_SK)));
    check = match planned.pointer {
        None => check.condition_expression("attribute_not_exists(pk)"),
        Some(None) => {
            check.condition_expression("attribute_not_exists(v) AND attribute_not_exists(lk)")
        }
        Some(Some(v)) => check
            .condition_expression("v = :prev AND attribute_not_exists(lk)")
            .expression_attribute_values(":prev", n(v)),
    };
    let check = check
        .build()
        .map_err(|e| Error::internal("building a condition check", e))?;
    Ok(TransactWriteItem::builder().condition_check(check).build())
}

#[async_trait]
impl ResourceStore for DynamoStore {
    fn backend_name(&self) -> &'static str {
        "dynamodb"
    }

    async fn read(
        &self,
        resource_type: ResourceType,
        id: &ResourceId,
    ) -> Result<Option<StoredResource>> {
        Ok(self.read_state(resource_type, id, false).await?.current)
    }

    async fn vread(
        &self,
        resource_type: ResourceType,
        id: &ResourceId,
        version: u64,
    ) -> Result<Option<StoredResource>> {
        let pk = item::resource_pk(resource_type, id);
        let Some(found) = self.db().get(&pk, &item::version_sk(version)).await? else {
            return Ok(None);
        };
        if let Some(tx) = found.str(STAGED)
            && !self.staged_visible(tx).await?
        {
            return Ok(None);
        }
        found.to_stored().map(Some)
    }

    async fn write(&self, write: Write) -> Result<WriteResult> {
        self.write_one(&write).await
    }

    async fn write_batch(&self, writes: Vec<Write>) -> Result<Vec<Result<WriteResult>>> {
        // Writes of a resource already written earlier in the batch run afterwards, in order.
        let mut seen = HashSet::new();
        let (mut first, mut later) = (Vec::new(), Vec::new());
        for (index, write) in writes.into_iter().enumerate() {
            if seen.insert((write.resource_type, write.id.clone())) {
                first.push((index, write));
            } else {
                later.push((index, write));
            }
        }
        let total = first.len() + later.len();
        let (first_index, first_writes): (Vec<usize>, Vec<Write>) = first.into_iter().unzip();
        let mut results: Vec<Option<Result<WriteResult>>> = (0..total).map(|_| None).collect();
        for (index, result) in first_index
            .into_iter()
            .zip(self.write_group(first_writes).await?)
        {
            results[index] = Some(result);
        }
        for (index, write) in later {
            results[index] = Some(match self.write_one(&write).await {
                Err(e) if e.kind() == IssueKind::Internal => return Err(e),
                other => other,
            });
        }
        Ok(results.into_iter().flatten().collect())
    }

    async fn transaction(&self, writes: Vec<Write>) -> Result<Vec<WriteResult>> {
        let mut seen = HashSet::new();
        for w in &writes {
            if !seen.insert((w.resource_type, w.id.clone())) {
                return Err(Error::invalid(format!(
                    "a transaction writes {}/{} more than once",
                    w.resource_type, w.id
                )));
            }
        }
        self.commit(&writes).await
    }

    async fn history(&self, query: &HistoryQuery) -> Result<Page> {
        crate::history::history(self, query).await
    }

    async fn scan(&self, query: &ScanQuery) -> Result<Page> {
        crate::history::scan(self, query).await
    }
}
