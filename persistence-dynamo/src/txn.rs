//! Transactions larger than one `TransactWriteItems` (100 items, 4 MB), kept atomic by the
//! staged, roll-forward protocol of `docs/transactions.md`:
//!
//! 1. a status item `TXS / <txid>` (`PENDING`, start time) and the list of targets in part items
//!    `TX#<txid> / K#<n>`;
//! 2. every target pointer locked (`lk = txid`) if it still has the version the plan read;
//! 3. the new versions staged (`stg = txid`, no history keys: invisible);
//! 4. **commit point**: the status goes from `PENDING` to `COMMITTED`;
//! 5. roll-forward: each pointer moves to its new version and drops the lock, each staged
//!    version gets its history keys; then the transaction's items are deleted.
//!
//! Every step is a conditional write, so any step can be repeated, and a crash anywhere is
//! finished by [`recover`] (or by the first reader meeting a lock): committed transactions
//! are rolled forward, uncommitted ones past their expiry are rolled back.

use aws_sdk_dynamodb::types::{Put, PutRequest, TransactWriteItem, Update, WriteRequest};
use hearth_interface::instant::Instant;
use hearth_interface::store::StoredResource;
use hearth_interface::{Error, IssueKind, ResourceId, ResourceType, Result};
use serde_json::{Value, json};

use crate::db::{TRANSACT_MAX, TransactError, key};
use crate::item::{self, Item, LOCK, POINTER_SK, SK, TX_STATUS_PK, n, s};
use crate::store::{DynamoStore, Planned, history_attributes, pointer_update, version_item};

/// Targets listed per part item (each well under DynamoDB's 400 KB item limit).
const TARGETS_PER_PART: usize = 500;
/// Status attribute of a transaction's status item.
const STATUS: &str = "st";
/// Start time (µs since the epoch) of a transaction's status item.
const STARTED: &str = "t0";
/// Number of part items of a transaction.
const PARTS: &str = "parts";
/// The targets listed in one part item (a JSON array).
const TARGETS: &str = "e";

/// A large transaction's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Locks and staged versions may exist; nothing is visible.
    Pending,
    /// Past the commit point: the new versions are current.
    Committed,
    /// Rolled back (its locks and staged versions are being removed).
    Aborted,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Committed => "COMMITTED",
            Self::Aborted => "ABORTED",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "PENDING" => Some(Self::Pending),
            "COMMITTED" => Some(Self::Committed),
            "ABORTED" => Some(Self::Aborted),
            _ => None,
        }
    }
}

/// The protocol steps after which the tests inject a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The status and part items are written.
    Recorded,
    /// Every pointer is locked.
    Locked,
    /// The new versions are staged.
    Staged,
    /// The status is `COMMITTED`.
    Committed,
}

/// What a reader that met a lock should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// The lock's transaction is finished now: read again.
    Finished,
    /// The transaction is in progress: the version before it is current.
    InProgress,
}

/// One target of a transaction as its part items list it.
#[derive(Debug, Clone)]
struct Target {
    resource_type: ResourceType,
    id: ResourceId,
    /// The pointer as read: absent, present without version, or at a version.
    pointer: Option<Option<u64>>,
    /// The new version, if the write stores one.
    new: Option<StoredResource>,
}

impl Target {
    fn pk(&self) -> String {
        item::resource_pk(self.resource_type, &self.id)
    }

    fn to_json(&self) -> Value {
        json!({
            "t": self.resource_type.as_str(),
            "i": self.id.as_str(),
            "p": match self.pointer { None => json!("none"), Some(None) => json!("empty"), Some(Some(v)) => json!(v) },
            "n": self.new.as_ref().map(|n| json!({"v": n.version, "ts": n.last_updated.0, "ch": item::change_code(n.change)})),
        })
    }

    /// The target from its JSON; the new version's body is not listed (it is staged).
    fn from_json(value: &Value) -> Option<Self> {
        let resource_type = ResourceType::parse(value.get("t")?.as_str()?)?;
        let id = ResourceId::parse(value.get("i")?.as_str()?).ok()?;
        let pointer = match value.get("p")? {
            Value::String(s) if s == "none" => None,
            Value::String(_) => Some(None),
            v => Some(Some(v.as_u64()?)),
        };
        let new = match value.get("n")? {
            Value::Null => None,
            n => {
                let change = match n.get("ch")?.as_str()? {
                    "C" => hearth_interface::store::ChangeKind::Create,
                    "U" => hearth_interface::store::ChangeKind::Update,
                    _ => hearth_interface::store::ChangeKind::Delete,
                };
                Some(StoredResource {
                    resource_type,
                    id: id.clone(),
                    version: n.get("v")?.as_u64()?,
                    last_updated: Instant(n.get("ts")?.as_i64()?),
                    change,
                    body: None,
                })
            }
        };
        Some(Self {
            resource_type,
            id,
            pointer,
            new,
        })
    }
}

fn build_err(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::internal("building a transaction item", e)
}

fn crash_point(store: &DynamoStore, step: Step) -> Result<()> {
    #[cfg(test)]
    if *store
        .inner
        .crash_after
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        == Some(step)
    {
        return Err(Error::internal(
            format!("injected crash after {step:?}"),
            std::io::Error::other("crash"),
        ));
    }
    let _ = (store, step);
    Ok(())
}

/// Runs the protocol for `plans` (their preconditions already checked against the states
/// they were planned from). `Conflict` when a target moved before it was locked: nothing
/// was written and the caller may plan again.
pub(crate) async fn run(store: &DynamoStore, plans: &[Planned]) -> Result<()> {
    let targets: Vec<Target> = plans
        .iter()
        .filter_map(|p| {
            let stored = p.result.stored.as_ref()?;
            Some(Target {
                resource_type: stored.resource_type,
                id: stored.id.clone(),
                pointer: p.pointer,
                new: p.new.clone(),
            })
        })
        .collect();
    let tx = uuid::Uuid::new_v4().simple().to_string();
    record(store, &tx, &targets).await?;
    crash_point(store, Step::Recorded)?;
    if !lock(store, &tx, &targets).await? {
        abort(store, &tx).await?;
        return Err(Error::conflict(
            "a resource of the transaction changed before it was locked",
        ));
    }
    crash_point(store, Step::Locked)?;
    let staged: Vec<WriteRequest> = targets
        .iter()
        .filter_map(|t| t.new.as_ref())
        .map(|new| {
            let mut raw = version_item(new, false);
            raw.insert(item::STAGED.to_owned(), s(&tx));
            PutRequest::builder()
                .set_item(Some(raw))
                .build()
                .map(|put| WriteRequest::builder().put_request(put).build())
                .map_err(build_err)
        })
        .collect::<Result<_>>()?;
    store.db().batch_write(staged).await?;
    crash_point(store, Step::Staged)?;
    let committed = store
        .db()
        .update(
            TX_STATUS_PK,
            &tx,
            "SET st = :c",
            "st = :p",
            vec![
                (":c", s(Status::Committed.as_str())),
                (":p", s(Status::Pending.as_str())),
            ],
        )
        .await?;
    if !committed {
        // Recovery rolled the transaction back because it ran past its expiry.
        abort(store, &tx).await?;
        return Err(Error::new(
            IssueKind::Conflict,
            "the transaction took too long and was rolled back: retry",
        ));
    }
    crash_point(store, Step::Committed)?;
    roll_forward(store, &tx).await
}

/// Step 1: the status item and the part items listing the targets.
async fn record(store: &DynamoStore, tx: &str, targets: &[Target]) -> Result<()> {
    let parts: Vec<&[Target]> = targets.chunks(TARGETS_PER_PART).collect();
    let mut status = key(TX_STATUS_PK, tx);
    status.insert(STATUS.to_owned(), s(Status::Pending.as_str()));
    status.insert(STARTED.to_owned(), n(Instant::now().0));
    status.insert(PARTS.to_owned(), n(parts.len()));
    if !store.db().put(status, "attribute_not_exists(pk)").await? {
        return Err(Error::internal(
            "transaction id collision",
            std::io::Error::other(tx.to_owned()),
        ));
    }
    let requests = parts
        .iter()
        .enumerate()
        .map(|(number, part)| {
            let mut raw = key(&part_pk(tx), &format!("K#{number:06}"));
            let listed: Vec<Value> = part.iter().map(Target::to_json).collect();
            raw.insert(TARGETS.to_owned(), s(Value::Array(listed).to_string()));
            PutRequest::builder()
                .set_item(Some(raw))
                .build()
                .map(|put| WriteRequest::builder().put_request(put).build())
                .map_err(build_err)
        })
        .collect::<Result<Vec<_>>>()?;
    store.db().batch_write(requests).await
}

fn part_pk(tx: &str) -> String {
    format!("TX#{tx}")
}

/// Step 2: locks every pointer that still is as planned, 100 per request. `false` when
/// one had moved (the locks taken stay for [`abort`] to release).
async fn lock(store: &DynamoStore, tx: &str, targets: &[Target]) -> Result<bool> {
    for chunk in targets.chunks(TRANSACT_MAX) {
        let mut items = Vec::with_capacity(chunk.len());
        for target in chunk {
            let pk = target.pk();
            let entry = match target.pointer {
                None => {
                    let mut raw = key(&pk, POINTER_SK);
                    raw.insert(LOCK.to_owned(), s(tx));
                    raw.insert(item::TYPE.to_owned(), s(target.resource_type.as_str()));
                    raw.insert(item::ID.to_owned(), s(target.id.as_str()));
                    TransactWriteItem::builder()
                        .put(
                            Put::builder()
                                .table_name(store.table())
                                .set_item(Some(raw))
                                .condition_expression("attribute_not_exists(pk)")
                                .build()
                                .map_err(build_err)?,
                        )
                        .build()
                }
                Some(version) => {
                    let mut update = Update::builder()
                        .table_name(store.table())
                        .set_key(Some(key(&pk, POINTER_SK)))
                        .update_expression("SET lk = :tx")
                        .expression_attribute_values(":tx", s(tx));
                    update = match version {
                        Some(v) => update
                            .condition_expression("v = :prev AND attribute_not_exists(lk)")
                            .expression_attribute_values(":prev", n(v)),
                        None => update.condition_expression(
                            "attribute_exists(pk) AND attribute_not_exists(v) AND attribute_not_exists(lk)",
                        ),
                    };
                    TransactWriteItem::builder()
                        .update(update.build().map_err(build_err)?)
                        .build()
                }
            };
            items.push(entry);
        }
        match store.db().transact(items).await {
            Ok(()) => {}
            Err(TransactError::Condition) => return Ok(false),
            Err(TransactError::Failed(e)) => return Err(e),
        }
    }
    Ok(true)
}

/// The targets listed in a transaction's part items.
async fn targets_of(store: &DynamoStore, tx: &str) -> Result<Vec<Target>> {
    let query = store
        .db()
        .client
        .query()
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", s(part_pk(tx)))
        .consistent_read(true);
    let mut targets = Vec::new();
    for part in store.db().query(query, usize::MAX).await? {
        let listed: Value = part
            .str(TARGETS)
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or(Value::Null);
        for value in listed.as_array().into_iter().flatten() {
            targets.push(Target::from_json(value).ok_or_else(|| {
                Error::internal(
                    "a transaction record is corrupt",
                    std::io::Error::other(value.to_string()),
                )
            })?);
        }
    }
    Ok(targets)
}

/// Step 5: moves every locked pointer to its new version (or just unlocks it when the
/// write changed nothing) and publishes the staged versions; then forgets the transaction.
/// Idempotent: targets already rolled forward are skipped.
pub(crate) async fn roll_forward(store: &DynamoStore, tx: &str) -> Result<()> {
    let targets = targets_of(store, tx).await?;
    for chunk in targets.chunks(TRANSACT_MAX / 2) {
        let mut items = Vec::with_capacity(chunk.len() * 2);
        for target in chunk {
            items.extend(roll_forward_items(store, tx, target)?);
        }
        match store.db().transact(items).await {
            Ok(()) => {}
            // Part of the chunk was rolled forward before a crash: go one by one.
            Err(TransactError::Condition) => {
                for target in chunk {
                    match store
                        .db()
                        .transact(roll_forward_items(store, tx, target)?)
                        .await
                    {
                        Ok(()) | Err(TransactError::Condition) => {}
                        Err(TransactError::Failed(e)) => return Err(e),
                    }
                }
            }
            Err(TransactError::Failed(e)) => return Err(e),
        }
    }
    forget(store, tx).await
}

fn roll_forward_items(
    store: &DynamoStore,
    tx: &str,
    target: &Target,
) -> Result<Vec<TransactWriteItem>> {
    let pk = target.pk();
    let Some(new) = &target.new else {
        let unlock = Update::builder()
            .table_name(store.table())
            .set_key(Some(key(&pk, POINTER_SK)))
            .update_expression("REMOVE lk")
            .condition_expression("lk = :tx")
            .expression_attribute_values(":tx", s(tx))
            .build()
            .map_err(build_err)?;
        return Ok(vec![TransactWriteItem::builder().update(unlock).build()]);
    };
    let (expression, values) = pointer_update(new, true);
    let mut pointer = Update::builder()
        .table_name(store.table())
        .set_key(Some(key(&pk, POINTER_SK)))
        .update_expression(expression)
        .condition_expression("lk = :tx")
        .expression_attribute_values(":tx", s(tx));
    for (name, value) in values {
        pointer = pointer.expression_attribute_values(name, value);
    }
    let history = history_attributes(new, &pk);
    let mut publish = Update::builder()
        .table_name(store.table())
        .set_key(Some(key(&pk, &item::version_sk(new.version))))
        .update_expression("SET ht = :ht, hs = :hs, hk = :hk REMOVE stg")
        .condition_expression("stg = :tx")
        .expression_attribute_values(":tx", s(tx));
    for (name, value) in history {
        publish = publish.expression_attribute_values(format!(":{name}"), value);
    }
    Ok(vec![
        TransactWriteItem::builder()
            .update(pointer.build().map_err(build_err)?)
            .build(),
        TransactWriteItem::builder()
            .update(publish.build().map_err(build_err)?)
            .build(),
    ])
}

/// Rolls back a transaction that has not committed: marks it `ABORTED` (so it can no longer
/// commit), deletes its staged versions, releases its locks, forgets it. A transaction found
/// committed is rolled forward instead.
pub(crate) async fn abort(store: &DynamoStore, tx: &str) -> Result<()> {
    let marked = store
        .db()
        .update(
            TX_STATUS_PK,
            tx,
            "SET st = :a",
            "st = :p OR st = :a",
            vec![
                (":a", s(Status::Aborted.as_str())),
                (":p", s(Status::Pending.as_str())),
            ],
        )
        .await?;
    if !marked && status(store, tx).await? == Some(Status::Committed) {
        return roll_forward(store, tx).await;
    }
    for target in targets_of(store, tx).await? {
        let pk = target.pk();
        if let Some(new) = &target.new {
            store
                .db()
                .delete(
                    &pk,
                    &item::version_sk(new.version),
                    "stg = :tx",
                    vec![(":tx", s(tx))],
                )
                .await?;
        }
        release(store, tx, &pk).await?;
    }
    forget(store, tx).await
}

/// Releases `tx`'s lock on a pointer: removes the lock, or the whole pointer when it was
/// created only to hold the lock.
async fn release(store: &DynamoStore, tx: &str, pk: &str) -> Result<()> {
    store
        .db()
        .delete(
            pk,
            POINTER_SK,
            "lk = :tx AND attribute_not_exists(v)",
            vec![(":tx", s(tx))],
        )
        .await?;
    store
        .db()
        .update(
            pk,
            POINTER_SK,
            "REMOVE lk",
            "lk = :tx",
            vec![(":tx", s(tx))],
        )
        .await?;
    Ok(())
}

/// Deletes a finished transaction's part items, then its status item.
async fn forget(store: &DynamoStore, tx: &str) -> Result<()> {
    let query = store
        .db()
        .client
        .query()
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", s(part_pk(tx)))
        .projection_expression("pk, sk")
        .consistent_read(true);
    let deletes = store
        .db()
        .query(query, usize::MAX)
        .await?
        .iter()
        .filter_map(|part| part.str(SK).map(|sk| key(&part_pk(tx), sk)))
        .map(|k| {
            aws_sdk_dynamodb::types::DeleteRequest::builder()
                .set_key(Some(k))
                .build()
                .map(|d| WriteRequest::builder().delete_request(d).build())
                .map_err(build_err)
        })
        .collect::<Result<Vec<_>>>()?;
    store.db().batch_write(deletes).await?;
    store
        .db()
        .delete(TX_STATUS_PK, tx, "attribute_exists(pk)", Vec::new())
        .await?;
    Ok(())
}

/// A transaction's status; `None` when it is finished and forgotten (or never existed).
pub(crate) async fn status(store: &DynamoStore, tx: &str) -> Result<Option<Status>> {
    Ok(store
        .db()
        .get(TX_STATUS_PK, tx)
        .await?
        .and_then(|i| i.str(STATUS).and_then(Status::parse)))
}

/// Whether an uncommitted transaction ran past this store's expiry (every process is
/// configured alike; the coordinator commits only while the status is still `PENDING`).
fn expired(store: &DynamoStore, record: &Item) -> bool {
    let expiry = i64::try_from(store.inner.transaction_expiry.as_micros()).unwrap_or(i64::MAX);
    record
        .num::<i64>(STARTED)
        .is_none_or(|started| started.saturating_add(expiry) <= Instant::now().0)
}

/// Settles the transaction holding the lock a reader met on pointer `pk`.
pub(crate) async fn resolve(store: &DynamoStore, tx: &str, pk: &str) -> Result<Resolution> {
    let Some(record) = store.db().get(TX_STATUS_PK, tx).await? else {
        // Forgotten transactions release all their locks first; a lock left behind (a crash
        // between releasing and forgetting cannot leave one) is released here.
        release(store, tx, pk).await?;
        return Ok(Resolution::Finished);
    };
    match record.str(STATUS).and_then(Status::parse) {
        Some(Status::Committed) => roll_forward(store, tx).await?,
        Some(Status::Pending) if !expired(store, &record) => return Ok(Resolution::InProgress),
        _ => abort(store, tx).await?,
    }
    Ok(Resolution::Finished)
}

/// Rolls forward every committed transaction and rolls back every expired uncommitted one.
pub(crate) async fn recover(store: &DynamoStore) -> Result<usize> {
    let query = store
        .db()
        .client
        .query()
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", s(TX_STATUS_PK))
        .consistent_read(true);
    let mut resolved = 0;
    for record in store.db().query(query, usize::MAX).await? {
        let Some(tx) = record.str(SK) else { continue };
        match record.str(STATUS).and_then(Status::parse) {
            Some(Status::Committed) => roll_forward(store, tx).await?,
            Some(Status::Pending) if !expired(store, &record) => continue,
            _ => abort(store, tx).await?,
        }
        resolved += 1;
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hearth_interface::store::{HistoryQuery, HistoryScope, Precondition, ResourceStore, Write};
    use hearth_testkit::unique_name;

    use super::*;

    fn patient(i: &str, family: &str, precondition: Precondition) -> Write {
        Write::upsert(
            ResourceType::parse("Patient").unwrap(),
            ResourceId::parse(i).unwrap(),
            json!({"resourceType": "Patient", "name": [{"family": family}]}),
            precondition,
        )
    }

    async fn version_of(store: &DynamoStore, i: &str) -> Option<u64> {
        store
            .read(
                ResourceType::parse("Patient").unwrap(),
                &ResourceId::parse(i).unwrap(),
            )
            .await
            .expect("read")
            .map(|r| r.version)
    }

    /// A store with ten patients at version 1, and a transaction of 60 writes (ten updates,
    /// fifty creates: 120 items, so the staged protocol runs).
    async fn seeded() -> (DynamoStore, Vec<Write>) {
        let client = crate::test_support::client();
        let table = unique_name("hearth-tx");
        crate::create_tables(&client, &table).await.expect("table");
        let store = DynamoStore::connect(client, table).await.expect("connect");
        for n in 0..10 {
            store
                .write(patient(&format!("s{n}"), "before", Precondition::None))
                .await
                .expect("seed");
        }
        let mut writes: Vec<Write> = (0..10)
            .map(|n| patient(&format!("s{n}"), "after", Precondition::VersionIs(1)))
            .collect();
        writes.extend((0..50).map(|n| patient(&format!("c{n}"), "new", Precondition::Absent)));
        (store, writes)
    }

    fn crash_after(store: &DynamoStore, step: Option<Step>) {
        *store.inner.crash_after.lock().unwrap() = step;
    }

    async fn type_total(store: &DynamoStore) -> Option<u64> {
        let query = HistoryQuery {
            scope: HistoryScope::Type(ResourceType::parse("Patient").unwrap()),
            since: None,
            at: None,
            count: 10,
            cursor: None,
        };
        store.history(&query).await.expect("history").total
    }

    /// Crashes the coordinator after `step`, checks what readers and writers see meanwhile,
    /// recovers, and checks the transaction applied entirely (crash after the commit point)
    /// or not at all.
    async fn crash_then_recover(step: Step) {
        let (store, writes) = seeded().await;
        crash_after(&store, Some(step));
        let crashed = store.transaction(writes).await.expect_err("injected crash");
        assert_eq!(crashed.kind(), IssueKind::Internal);
        crash_after(&store, None);
        let committed = step == Step::Committed;
        if !committed {
            assert_eq!(
                version_of(&store, "s0").await,
                Some(1),
                "old version current"
            );
            assert_eq!(
                version_of(&store, "c0").await,
                None,
                "nothing staged visible"
            );
            if step != Step::Recorded {
                let locked = store
                    .write(patient("s1", "other", Precondition::None))
                    .await;
                assert_eq!(locked.expect_err("locked").kind(), IssueKind::Conflict);
            }
            assert_eq!(type_total(&store).await, Some(10));
        }
        // Another process recovers (uncommitted transactions expire at once for it).
        let recovering = store.with_transaction_expiry(Duration::ZERO);
        assert_eq!(recovering.recover().await.expect("recover"), 1);
        assert_eq!(
            recovering.recover().await.expect("again"),
            0,
            "nothing left"
        );
        let (updated, created) = if committed {
            (Some(2), Some(1))
        } else {
            (Some(1), None)
        };
        for n in 0..10 {
            assert_eq!(
                version_of(&store, &format!("s{n}")).await,
                updated,
                "{step:?}"
            );
        }
        for n in 0..50 {
            assert_eq!(
                version_of(&store, &format!("c{n}")).await,
                created,
                "{step:?}"
            );
        }
        assert_eq!(
            type_total(&store).await,
            Some(if committed { 70 } else { 10 })
        );
        // No lock is left behind: every resource takes new writes.
        for i in ["s0", "c0"] {
            store
                .write(patient(i, "later", Precondition::None))
                .await
                .expect("unlocked");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn crash_after_recording_rolls_back() {
        crash_then_recover(Step::Recorded).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn crash_after_locking_rolls_back() {
        crash_then_recover(Step::Locked).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn crash_after_staging_rolls_back() {
        crash_then_recover(Step::Staged).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn crash_after_the_commit_point_rolls_forward() {
        crash_then_recover(Step::Committed).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reader_meeting_a_committed_lock_finishes_the_transaction() {
        let (store, writes) = seeded().await;
        crash_after(&store, Some(Step::Committed));
        store.transaction(writes).await.expect_err("injected crash");
        crash_after(&store, None);
        assert_eq!(
            version_of(&store, "c7").await,
            Some(1),
            "committed is visible"
        );
        assert_eq!(version_of(&store, "s7").await, Some(2));
        assert_eq!(
            store.recover().await.expect("recover"),
            0,
            "the reader finished it"
        );
        let staged = store
            .vread(
                ResourceType::parse("Patient").unwrap(),
                &ResourceId::parse("c9").unwrap(),
                1,
            )
            .await
            .expect("vread");
        assert!(staged.is_some());
    }
}
