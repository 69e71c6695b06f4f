//! Composite parameters: `code-value-quantity=http://loinc.org|8480-6$gt100` is parsed
//! part by part with each component's own type (prefixes apply to its quantity part), and
//! matches when one item of the base expression matches every part (see the
//! `composite_index` module for the rows).

use super::*;

/// A test on a row `x` of the composite table: `x` is a matching first part, and its item
/// has a matching row for each other part (`y1`, `y2`…).
pub(super) fn composite_sql(parts: &[ValueQuery], b: &mut Binder) -> String {
    let mut sql = String::from("x.part = 0");
    for (i, part) in parts.iter().enumerate() {
        let test = value_sql(part, b);
        if i == 0 {
            sql.push_str(&format!(" AND ({test})"));
            continue;
        }
        let alias = format!("y{i}");
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM {table} {alias} WHERE {alias}.ts = x.ts \
             AND {alias}.pid = x.pid AND {alias}.item = x.item AND {alias}.part = {i} AND ({}))",
            on_alias(&test, &alias),
            table = crate::composite_index::TABLE,
        ));
    }
    sql
}

/// `test`, written on row `x`, on row `alias` instead. The value tests name row columns
/// only as `x.<column>` and bind every value as a parameter, so no other text matches.
fn on_alias(test: &str, alias: &str) -> String {
    let mut out = String::with_capacity(test.len());
    let mut rest = test;
    while let Some(at) = rest.find("x.") {
        let boundary = rest[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        out.push_str(&rest[..at]);
        out.push_str(if boundary { alias } else { "x" });
        out.push('.');
        rest = &rest[at + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_tests_to_another_row() {
        assert_eq!(
            on_alias("x.code = ?1 AND instr(x.of_type, ?2) > 0", "y1"),
            "y1.code = ?1 AND instr(y1.of_type, ?2) > 0"
        );
        assert_eq!(on_alias("max.x.lo", "y2"), "max.y2.lo");
    }
}
