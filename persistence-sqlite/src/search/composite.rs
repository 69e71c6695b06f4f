//! Composite parameters: `code-value-quantity=http://loinc.org|8480-6$gt100` is parsed
//! part by part with each component's own type (prefixes apply to its quantity part), and
//! matches when one item of the base expression matches every part (see the
//! `composite_index` module for the rows).

use super::*;

/// Parses `part$part…` of composite parameter `def`: one part per component, each by the
/// component's type.
pub(super) fn parse_composite(def: &SearchParamDef, value: &str) -> Result<ValueQuery> {
    let name = def.code.as_str();
    let parts = split_dollars(value);
    if parts.len() != def.components.len() {
        let expected = format!("{} values separated by '$'", def.components.len());
        return Err(bad_value(name, value, &expected));
    }
    let registry = SearchParamRegistry::r4();
    let mut queries = Vec::with_capacity(parts.len());
    for (component, part) in def.components.iter().zip(&parts) {
        let component_def = registry.by_url(&component.definition).ok_or_else(|| {
            Error::invalid(format!(
                "search parameter '{name}' has an unknown component {}",
                component.definition
            ))
        })?;
        if part.is_empty() {
            return Err(bad_value(name, value, "a value for every component"));
        }
        let query = parse_value(component_def, None, part)
            .map_err(|e| invalid_at(name, format!("in '{name}': {}", e.message())))?;
        queries.push(query);
    }
    Ok(ValueQuery::Composite(queries))
}

/// Splits on `$` not escaped by `\`; escapes are kept for the part parsers.
fn split_dollars(value: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push('\\');
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            '$' => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    parts
}

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
    fn splits_parts_keeping_escapes() {
        assert_eq!(split_dollars("a|b$gt5"), ["a|b", "gt5"]);
        assert_eq!(split_dollars(r"a\$b$c"), [r"a\$b", "c"]);
        assert_eq!(split_dollars("x"), ["x"]);
    }

    #[test]
    fn moves_tests_to_another_row() {
        assert_eq!(
            on_alias("x.code = ?1 AND instr(x.of_type, ?2) > 0", "y1"),
            "y1.code = ?1 AND instr(y1.of_type, ?2) > 0"
        );
        assert_eq!(on_alias("max.x.lo", "y2"), "max.y2.lo");
    }

    #[test]
    fn parses_each_part_by_its_type() {
        let def = SearchParamRegistry::r4()
            .get("Observation", "code-value-quantity")
            .expect("def");
        let query = parse_composite(def, "http://loinc.org|8480-6$gt100||mm[Hg]").expect("ok");
        let ValueQuery::Composite(parts) = query else {
            panic!("not composite: {query:?}");
        };
        assert!(matches!(parts[0], ValueQuery::Token(_)));
        assert!(matches!(
            parts[1],
            ValueQuery::Quantity {
                prefix: Prefix::Gt,
                ..
            }
        ));
        for bad in ["8480-6", "8480-6$100$1", "8480-6$", "8480-6$big"] {
            let err = parse_composite(def, bad).expect_err(bad);
            assert!(err.message().contains("code-value-quantity"), "{bad}");
        }
    }
}
