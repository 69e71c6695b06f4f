//! The order of a search's results: the default (last change, then type and id) or a
//! `_sort` order on the precomputed sort values of [`crate::document`], with the
//! semantics of [`SortKey`]: missing values last in both directions, ties by type then id.

use hearth_interface::id::truncate_for_message;
use hearth_interface::search::SortKey;
use hearth_interface::search::criteria::{TypePlan, invalid_at};
use hearth_interface::search_params::SearchParamRegistry;
use hearth_interface::{ResourceType, Result};
use serde_json::{Value, json};

use crate::mapping::{field, sort_type};

/// The OpenSearch type of a sort field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueKind {
    /// `keyword`: a string, or `null` where missing.
    Keyword,
    /// `long`: an integer (the cluster's extreme long where missing).
    Long,
    /// `double`: a number (`"Infinity"` or `"-Infinity"` where missing).
    Double,
}

impl ValueKind {
    fn of(name: &str) -> Self {
        match name {
            "long" => Self::Long,
            "double" => Self::Double,
            _ => Self::Keyword,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Keyword => "keyword",
            Self::Long => "long",
            Self::Double => "double",
        }
    }

    /// Whether `value` can be a sort value of this kind in a cursor.
    pub(crate) fn accepts(self, value: &Value) -> bool {
        match self {
            Self::Keyword => value.is_string() || value.is_null(),
            Self::Long => value.is_i64(),
            Self::Double => {
                value.is_number() || matches!(value.as_str(), Some("Infinity" | "-Infinity"))
            }
        }
    }
}

/// One key of a `_sort` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SortField {
    /// The document field sorted on.
    pub(crate) field: String,
    /// Whether the key is descending.
    pub(crate) descending: bool,
    /// The field's type.
    pub(crate) kind: ValueKind,
}

/// The order of a search's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Order {
    /// By last change, then type and id.
    Default,
    /// By the `_sort` keys, then type and id.
    Sorted(Vec<SortField>),
}

impl Order {
    /// The order of `keys` (the default when empty) on the types of `plans`.
    ///
    /// # Errors
    /// `Invalid` at `_sort`, with the embedded engine's messages, for unknown parameters
    /// and those that cannot be sorted on; also for a parameter whose values have
    /// different types on the types searched (they cannot be compared in one order).
    pub(crate) fn resolve(plans: &[TypePlan], keys: &[SortKey]) -> Result<Self> {
        if keys.is_empty() {
            return Ok(Self::Default);
        }
        let mut fields = Vec::with_capacity(keys.len());
        for key in keys {
            let mut resolved: Option<SortField> = None;
            for plan in plans {
                let one = resolve_key(plan.resource_type, key)?;
                match &resolved {
                    Some(other) if other.kind != one.kind => {
                        return Err(invalid_at(
                            "_sort",
                            format!(
                                "cannot sort on '{}' across these types: its values are of different types",
                                key.param
                            ),
                        ));
                    }
                    Some(_) => {}
                    None => resolved = Some(one),
                }
            }
            fields.extend(resolved);
        }
        Ok(Self::Sorted(fields))
    }

    /// The `sort` clause of the order, or of its reverse (`backwards`).
    pub(crate) fn sort(&self, backwards: bool) -> Value {
        let direction = |descending: bool| {
            if descending != backwards {
                "desc"
            } else {
                "asc"
            }
        };
        let mut clauses = match self {
            Self::Default => vec![json!({"lastUpdated": direction(false)})],
            Self::Sorted(fields) => fields
                .iter()
                .map(|f| {
                    let missing = if backwards { "_first" } else { "_last" };
                    json!({f.field.as_str(): {
                        "order": direction(f.descending),
                        "missing": missing,
                        "unmapped_type": f.kind.name(),
                    }})
                })
                .collect(),
        };
        clauses.push(json!({"type": direction(false)}));
        clauses.push(json!({"id": direction(false)}));
        Value::Array(clauses)
    }
}

/// The sort field of `key` on `resource_type`.
fn resolve_key(resource_type: ResourceType, key: &SortKey) -> Result<SortField> {
    let name = key.param.as_str();
    let (field_name, kind) = match name {
        "_id" => ("id".to_owned(), ValueKind::Keyword),
        "_lastUpdated" => ("lastUpdated".to_owned(), ValueKind::Long),
        _ => {
            let def = SearchParamRegistry::r4()
                .get(resource_type.as_str(), name)
                .ok_or_else(|| {
                    invalid_at(
                        "_sort",
                        format!(
                            "unknown sort parameter '{}' for {resource_type}",
                            truncate_for_message(name)
                        ),
                    )
                })?;
            let Some(kind) = sort_type(def.kind) else {
                return Err(invalid_at(
                    "_sort",
                    format!(
                        "cannot sort on '{name}': it is a {} parameter",
                        def.kind.as_str()
                    ),
                ));
            };
            if def.expression.is_none() {
                return Err(invalid_at(
                    "_sort",
                    format!("cannot sort on '{name}': it has no indexed values"),
                ));
            }
            let end = if key.descending { "d" } else { "a" };
            (format!("s.{}.{end}", field(&def.code)), ValueKind::of(kind))
        }
    };
    Ok(SortField {
        field: field_name,
        descending: key.descending,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_clauses_put_missing_values_last_both_ways() {
        let order = Order::Sorted(vec![SortField {
            field: "s.birthdate.d".into(),
            descending: true,
            kind: ValueKind::Long,
        }]);
        assert_eq!(
            order.sort(false),
            json!([
                {"s.birthdate.d": {"order": "desc", "missing": "_last", "unmapped_type": "long"}},
                {"type": "asc"}, {"id": "asc"}
            ])
        );
        assert_eq!(
            order.sort(true),
            json!([
                {"s.birthdate.d": {"order": "asc", "missing": "_first", "unmapped_type": "long"}},
                {"type": "desc"}, {"id": "desc"}
            ])
        );
        assert_eq!(
            Order::Default.sort(false),
            json!([{"lastUpdated": "asc"}, {"type": "asc"}, {"id": "asc"}])
        );
    }
}
