//! History (instance, type, system; `_since`, `_at`, totals) and scans by type, all by
//! key-range queries: the base table for one resource, the `history-type` and
//! `history-system` indexes for more, the sparse `current-by-type` index for scans.
//!
//! Cursors are the index sort key of the last entry of a page (base64url), so the next page
//! is one more key-range query that starts just past it: no offsets, stable while data
//! changes.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hearth_interface::store::{HistoryQuery, HistoryScope, Page, ScanQuery, StoredResource};
use hearth_interface::{Error, Result};

use crate::item::{
    self, CUR_KEY, GSI_CURRENT, GSI_HISTORY_SYSTEM, GSI_HISTORY_TYPE, HIST_KEY, HIST_SHARD,
    HIST_TYPE, Item, PK, SK, SYSTEM_SHARDS, VERSION, s,
};
use crate::store::DynamoStore;

/// The highest possible key in a range (every key starts with a digit).
const KEY_MAX: &str = "~";
/// The lowest possible key.
const KEY_MIN: &str = "0";
/// History totals are counted up to this many versions; past it a page has no total
/// (counting reads every key of the range: about 1 RCU per 70 versions).
const TOTAL_CAP: u64 = 100_000;

fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

/// A cursor back to the sort key it was made from: `<20 digits>#…`.
fn decode_cursor(cursor: &str) -> Result<String> {
    let invalid = || Error::invalid(format!("invalid paging cursor '{cursor}'"));
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let key = String::from_utf8(bytes).map_err(|_| invalid())?;
    let well_formed = key.len() > 21
        && key.as_bytes()[..20].iter().all(u8::is_ascii_digit)
        && key.as_bytes()[20] == b'#';
    if well_formed { Ok(key) } else { Err(invalid()) }
}

/// One version in a history range, before its body is read.
#[derive(Debug, Clone)]
struct Candidate {
    /// The history sort key.
    hk: String,
    pk: String,
    sk: String,
}

impl Candidate {
    fn from_index(item: &Item) -> Option<Self> {
        Some(Self {
            hk: item.str(HIST_KEY)?.to_owned(),
            pk: item.str(PK)?.to_owned(),
            sk: item.str(SK)?.to_owned(),
        })
    }

    fn from_version(stored: &StoredResource) -> Self {
        Self {
            hk: item::history_key(
                stored.last_updated.0,
                stored.resource_type,
                &stored.id,
                stored.version,
            ),
            pk: item::resource_pk(stored.resource_type, &stored.id),
            sk: item::version_sk(stored.version),
        }
    }

    fn ts(&self) -> i64 {
        self.hk.get(..20).and_then(|t| t.parse().ok()).unwrap_or(0)
    }

    fn version(&self) -> u64 {
        item::history_key_version(&self.hk).unwrap_or(0)
    }
}

/// A page of history, newest first.
pub(crate) async fn history(store: &DynamoStore, query: &HistoryQuery) -> Result<Page> {
    let cursor = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let count = query.count.max(1);
    let (candidates, total, known) = match &query.scope {
        HistoryScope::Instance(t, id) => {
            instance(
                store,
                &item::resource_pk(*t, id),
                query,
                cursor.as_deref(),
                count,
            )
            .await?
        }
        HistoryScope::Type(t) => {
            let partitions = vec![(GSI_HISTORY_TYPE, HIST_TYPE, t.as_str().to_owned())];
            indexed(store, partitions, query, cursor.as_deref(), count).await?
        }
        HistoryScope::System => {
            let partitions = (0..SYSTEM_SHARDS)
                .map(|n| (GSI_HISTORY_SYSTEM, HIST_SHARD, format!("H#{n}")))
                .collect();
            indexed(store, partitions, query, cursor.as_deref(), count).await?
        }
    };
    let mut page: Vec<Candidate> = candidates
        .into_iter()
        .filter(|c| cursor.as_ref().is_none_or(|k| c.hk < *k))
        .collect();
    page.sort_by(|a, b| b.hk.cmp(&a.hk));
    page.truncate(count + 1);
    let next_cursor = (page.len() > count).then(|| encode_cursor(&page[count - 1].hk));
    page.truncate(count);
    let entries = bodies(store, &page, known).await?;
    Ok(Page {
        entries,
        next_cursor,
        total: if cursor.is_none() { total } else { None },
    })
}

/// The candidates of an instance history page (or, with `_at`, of the whole history), and
/// the total on a first page: versions of one partition, read with consistent queries.
async fn instance(
    store: &DynamoStore,
    pk: &str,
    query: &HistoryQuery,
    cursor: Option<&str>,
    count: usize,
) -> Result<(
    Vec<Candidate>,
    Option<u64>,
    HashMap<(String, String), StoredResource>,
)> {
    let since = query.since.map(|s| s.0);
    let high = match (cursor, query.at) {
        (Some(c), None) => {
            let version = item::history_key_version(c)
                .ok_or_else(|| Error::invalid(format!("invalid paging cursor '{c}'")))?;
            item::version_sk(version)
        }
        _ => "V#~".to_owned(),
    };
    let want = if query.at.is_some() {
        usize::MAX
    } else {
        count + 2
    };
    let versions = versions(store, pk, &high, since, want).await?;
    let known: HashMap<(String, String), StoredResource> = versions
        .iter()
        .map(|v| {
            let c = Candidate::from_version(v);
            ((c.pk, c.sk), v.clone())
        })
        .collect();
    let mut candidates: Vec<Candidate> = versions.iter().map(Candidate::from_version).collect();
    if let Some((start, end)) = query.at {
        candidates = current_during(candidates, start.0);
        candidates.retain(|c| c.ts() <= end.0);
        let total = Some(candidates.len() as u64);
        return Ok((candidates, total, known));
    }
    let total = match cursor {
        Some(_) => None,
        None => {
            let mut counting = store
                .db()
                .client
                .query()
                .key_condition_expression("pk = :pk AND begins_with(sk, :v)")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":v", s("V#"))
                .consistent_read(true)
                .filter_expression(match since {
                    Some(_) => "attribute_not_exists(stg) AND ts >= :since",
                    None => "attribute_not_exists(stg)",
                });
            if let Some(since) = since {
                counting = counting.expression_attribute_values(":since", item::n(since));
            }
            store.db().count(counting, TOTAL_CAP).await?
        }
    };
    Ok((candidates, total, known))
}

/// Up to `want` committed versions of one resource below sort key `high` (exclusive),
/// written at or after `since`, newest first.
async fn versions(
    store: &DynamoStore,
    pk: &str,
    high: &str,
    since: Option<i64>,
    want: usize,
) -> Result<Vec<StoredResource>> {
    let mut request = store
        .db()
        .client
        .query()
        .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
        .expression_attribute_values(":pk", s(pk))
        .expression_attribute_values(":lo", s("V#"))
        .expression_attribute_values(":hi", s(high))
        .scan_index_forward(false)
        .consistent_read(true);
    if let Some(since) = since {
        request = request
            .filter_expression("ts >= :since")
            .expression_attribute_values(":since", item::n(since));
    }
    if want < usize::MAX {
        request = request.limit(i32::try_from(want).unwrap_or(i32::MAX));
    }
    let mut versions = Vec::new();
    for found in store.db().query(request, want).await? {
        if found.str(SK) == Some(high) {
            continue;
        }
        if let Some(tx) = found.str(item::STAGED)
            && !store.staged_visible(tx).await?
        {
            continue;
        }
        versions.push(found.to_stored()?);
    }
    Ok(versions)
}

/// The candidates of a type or system history page (or, with `_at`, of the whole range),
/// and the total on a first page.
async fn indexed(
    store: &DynamoStore,
    partitions: Vec<(&'static str, &'static str, String)>,
    query: &HistoryQuery,
    cursor: Option<&str>,
    count: usize,
) -> Result<(
    Vec<Candidate>,
    Option<u64>,
    HashMap<(String, String), StoredResource>,
)> {
    let low = query
        .since
        .map_or(KEY_MIN.to_owned(), |since| item::time_key(since.0));
    if let Some((start, end)) = query.at {
        // `_at` needs to know, per resource, whether a later version replaced a version
        // before `start`: read every key up to `end` (keys only) and decide in memory.
        let high = format!("{}{KEY_MAX}", item::time_key(end.0));
        let mut all = Vec::new();
        for (index, attr, value) in &partitions {
            all.extend(range(store, index, attr, value, &low, &high, usize::MAX).await?);
        }
        let during = current_during(all, start.0);
        let total = Some(during.len() as u64);
        return Ok((during, total, HashMap::new()));
    }
    let high = cursor.unwrap_or(KEY_MAX).to_owned();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, attr, value) in partitions.clone() {
        let (store, low, high) = (store.clone(), low.clone(), high.clone());
        tasks
            .spawn(async move { range(&store, index, attr, &value, &low, &high, count + 2).await });
    }
    let mut candidates = Vec::new();
    while let Some(found) = tasks.join_next().await {
        candidates.extend(found.map_err(|e| Error::internal("history task failed", e))??);
    }
    let total = if cursor.is_none() {
        let mut total = Some(0);
        for (index, attr, value) in &partitions {
            let counting = store
                .db()
                .client
                .query()
                .index_name(*index)
                .key_condition_expression(format!("{attr} = :h AND {HIST_KEY} >= :lo"))
                .expression_attribute_values(":h", s(value))
                .expression_attribute_values(":lo", s(&low));
            total = match (total, store.db().count(counting, TOTAL_CAP).await?) {
                (Some(a), Some(b)) if a + b <= TOTAL_CAP => Some(a + b),
                _ => None,
            };
            if total.is_none() {
                break;
            }
        }
        total
    } else {
        None
    };
    Ok((candidates, total, HashMap::new()))
}

/// Up to `want` history keys of one index partition in `[low, high]`, newest first.
async fn range(
    store: &DynamoStore,
    index: &str,
    attr: &str,
    value: &str,
    low: &str,
    high: &str,
    want: usize,
) -> Result<Vec<Candidate>> {
    let mut query = store
        .db()
        .client
        .query()
        .index_name(index)
        .key_condition_expression(format!("{attr} = :h AND {HIST_KEY} BETWEEN :lo AND :hi"))
        .expression_attribute_values(":h", s(value))
        .expression_attribute_values(":lo", s(low))
        .expression_attribute_values(":hi", s(high))
        .scan_index_forward(false);
    if want < usize::MAX {
        query = query.limit(i32::try_from(want).unwrap_or(i32::MAX));
    }
    let items = store.db().query(query, want).await?;
    Ok(items.iter().filter_map(Candidate::from_index).collect())
}

/// The versions that were current at some moment from `start` on, among `candidates` (every
/// version up to the end of the range): those written after `start`, and per resource the
/// newest one written at or before it (it stayed current until its successor, which came
/// after `start` or not at all).
fn current_during(candidates: Vec<Candidate>, start: i64) -> Vec<Candidate> {
    let mut newest_before: HashMap<String, Candidate> = HashMap::new();
    let mut during = Vec::new();
    for c in candidates {
        if c.ts() > start {
            during.push(c);
        } else {
            match newest_before.get(&c.pk) {
                Some(kept) if kept.version() >= c.version() => {}
                _ => {
                    newest_before.insert(c.pk.clone(), c);
                }
            }
        }
    }
    during.extend(newest_before.into_values());
    during
}

/// The stored versions of `page`, in its order, read in batches unless already `known`.
async fn bodies(
    store: &DynamoStore,
    page: &[Candidate],
    mut known: HashMap<(String, String), StoredResource>,
) -> Result<Vec<StoredResource>> {
    let missing: Vec<(String, String)> = page
        .iter()
        .map(|c| (c.pk.clone(), c.sk.clone()))
        .filter(|k| !known.contains_key(k))
        .collect();
    for (k, found) in store.db().batch_get(&missing).await? {
        known.insert(k, found.to_stored()?);
    }
    Ok(page
        .iter()
        .filter_map(|c| known.remove(&(c.pk.clone(), c.sk.clone())))
        .collect())
}

/// A page of current, live resources of one type, oldest change first.
pub(crate) async fn scan(store: &DynamoStore, query: &ScanQuery) -> Result<Page> {
    let cursor = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let count = query.count.max(1);
    let since = query
        .since
        .map_or(KEY_MIN.to_owned(), |s| item::time_key(s.0));
    let low = match &cursor {
        Some(c) if *c > since => c.clone(),
        _ => since,
    };
    let request = store
        .db()
        .client
        .query()
        .index_name(GSI_CURRENT)
        .key_condition_expression(format!("ct = :t AND {CUR_KEY} >= :lo"))
        .expression_attribute_values(":t", s(query.resource_type.as_str()))
        .expression_attribute_values(":lo", s(&low))
        .limit(i32::try_from(count + 2).unwrap_or(i32::MAX));
    let mut keys: Vec<(String, String, String)> = store
        .db()
        .query(request, count + 2)
        .await?
        .iter()
        .filter_map(|i| {
            let ck = i.str(CUR_KEY)?.to_owned();
            let v: u64 = i.num(VERSION)?;
            Some((ck, i.str(PK)?.to_owned(), item::version_sk(v)))
        })
        .filter(|(ck, _, _)| cursor.as_ref() != Some(ck))
        .collect();
    keys.truncate(count + 1);
    let next_cursor = (keys.len() > count).then(|| encode_cursor(&keys[count - 1].0));
    keys.truncate(count);
    let wanted: Vec<(String, String)> = keys
        .iter()
        .map(|(_, p, v)| (p.clone(), v.clone()))
        .collect();
    let found = store.db().batch_get(&wanted).await?;
    let mut entries = Vec::with_capacity(keys.len());
    for k in &wanted {
        if let Some(version) = found.get(k) {
            let stored = version.to_stored()?;
            if !stored.is_deleted() {
                entries.push(stored);
            }
        }
    }
    Ok(Page {
        entries,
        next_cursor,
        total: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let key = "00000000000000000042#Patient#p#00000000000000000001";
        assert_eq!(decode_cursor(&encode_cursor(key)).unwrap(), key);
        for bad in ["not a cursor", "", &encode_cursor("12#x")] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }
}
