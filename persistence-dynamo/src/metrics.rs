//! Request counts and consumed capacity per DynamoDB operation, as reported by DynamoDB
//! (`ReturnConsumedCapacity = TOTAL` on every request), for benchmarks and logs.

use std::collections::BTreeMap;
use std::sync::Mutex;

use aws_sdk_dynamodb::types::ConsumedCapacity;

/// Totals for one DynamoDB operation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OperationStats {
    /// Requests sent (the SDK's own retries of one request are not counted again).
    pub requests: u64,
    /// Read capacity units consumed, including indexes.
    pub read_units: f64,
    /// Write capacity units consumed, including indexes.
    pub write_units: f64,
}

/// Totals per operation name (`Query`, `TransactWriteItems`, …).
#[derive(Debug, Default)]
pub struct Metrics {
    by_operation: Mutex<BTreeMap<&'static str, OperationStats>>,
}

/// A copy of the totals at one moment.
pub type MetricsSnapshot = BTreeMap<&'static str, OperationStats>;

impl Metrics {
    /// Records one request of `operation` and what it consumed.
    pub(crate) fn record<'a>(
        &self,
        operation: &'static str,
        consumed: impl IntoIterator<Item = &'a ConsumedCapacity>,
    ) {
        let (mut read, mut write) = (0.0, 0.0);
        for c in consumed {
            let total = c.capacity_units().unwrap_or(0.0);
            match (c.read_capacity_units(), c.write_capacity_units()) {
                (None, None) if operation_writes(operation) => write += total,
                (None, None) => read += total,
                (r, w) => {
                    read += r.unwrap_or(0.0);
                    write += w.unwrap_or(0.0);
                }
            }
        }
        if let Ok(mut map) = self.by_operation.lock() {
            let entry = map.entry(operation).or_default();
            entry.requests += 1;
            entry.read_units += read;
            entry.write_units += write;
        }
    }

    /// The totals so far.
    pub fn snapshot(&self) -> MetricsSnapshot {
        self.by_operation
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// What happened between two snapshots: `later - earlier`, per operation.
    pub fn difference(earlier: &MetricsSnapshot, later: &MetricsSnapshot) -> MetricsSnapshot {
        later
            .iter()
            .filter_map(|(op, after)| {
                let before = earlier.get(op).copied().unwrap_or_default();
                let d = OperationStats {
                    requests: after.requests - before.requests,
                    read_units: after.read_units - before.read_units,
                    write_units: after.write_units - before.write_units,
                };
                (d.requests > 0).then_some((*op, d))
            })
            .collect()
    }
}

fn operation_writes(operation: &str) -> bool {
    matches!(
        operation,
        "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" | "TransactWriteItems"
    )
}
