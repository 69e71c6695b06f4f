//! PATCH documents: JSON Patch (RFC 6902, by the `json-patch` crate) and FHIRPath Patch
//! (a `Parameters` resource, http://hl7.org/fhir/R4/fhirpatch.html).
//!
//! FHIRPath Patch paths are resolved by a small resolver written here, because patching needs
//! the *locations* of elements (to change them), not only their values. It covers the path
//! forms patches use in practice: `Type.element.child`, indexes (`name[0]`), `first()`,
//! `last()` and `where(element = 'literal')`.

use hearth_interface::{Error, Result};
use serde_json::{Map, Value};

use crate::negotiate::BodyKind;

/// Applies a patch document of `kind` to `resource`.
///
/// # Errors
/// 400 for malformed patch documents, 422 for operations that do not apply (a JSON Patch
/// `test` that fails, a path that matches nothing where something is required).
pub fn apply(resource: Value, kind: BodyKind, body: &[u8]) -> Result<Value> {
    match kind {
        BodyKind::JsonPatch => apply_json_patch(resource, body),
        BodyKind::FhirJson => apply_fhirpath_patch(resource, body),
    }
}

fn unprocessable(message: impl Into<String>) -> Error {
    Error::new(hearth_interface::IssueKind::Unprocessable, message)
}

fn apply_json_patch(mut resource: Value, body: &[u8]) -> Result<Value> {
    let patch: json_patch::Patch = serde_json::from_slice(body)
        .map_err(|e| Error::invalid(format!("malformed JSON Patch document: {e}")))?;
    json_patch::patch(&mut resource, &patch)
        .map_err(|e| unprocessable(format!("JSON Patch failed: {e}")))?;
    Ok(resource)
}

/// One step of a resolved location: an object key or an array index.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

fn apply_fhirpath_patch(mut resource: Value, body: &[u8]) -> Result<Value> {
    let params: Value =
        serde_json::from_slice(body).map_err(|e| Error::invalid(format!("malformed JSON: {e}")))?;
    if params.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(Error::invalid(
            "a FHIRPath Patch must be a Parameters resource (or send application/json-patch+json)",
        ));
    }
    let operations = params
        .get("parameter")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (n, op) in operations.iter().enumerate() {
        if op.get("name").and_then(Value::as_str) != Some("operation") {
            return Err(Error::invalid(format!(
                "Parameters.parameter[{n}] must be named 'operation'"
            )));
        }
        let op = Operation::parse(op).map_err(|e| Error::invalid(format!("operation {n}: {e}")))?;
        op.apply(&mut resource)
            .map_err(|e| unprocessable(format!("operation {n} ({}): {e}", op.kind)))?;
    }
    Ok(resource)
}

/// One FHIRPath Patch operation with its parts.
#[derive(Debug)]
struct Operation {
    kind: String,
    path: String,
    name: Option<String>,
    value: Option<Value>,
    index: Option<usize>,
    source: Option<usize>,
    destination: Option<usize>,
}

impl Operation {
    fn parse(op: &Value) -> std::result::Result<Self, String> {
        let parts = op.get("part").and_then(Value::as_array).ok_or("no parts")?;
        let part = |name: &str| {
            parts
                .iter()
                .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
        };
        let text = |name: &str| {
            part(name)
                .and_then(|p| first_value(p))
                .and_then(|v| v.as_str().map(String::from))
        };
        let number = |name: &str| -> std::result::Result<Option<usize>, String> {
            match part(name).and_then(|p| first_value(p)) {
                None => Ok(None),
                Some(v) => v
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .map(Some)
                    .ok_or(format!("{name} must be a non-negative integer")),
            }
        };
        Ok(Self {
            kind: text("type").ok_or("missing 'type'")?,
            path: text("path").ok_or("missing 'path'")?,
            name: text("name"),
            value: part("value").map(part_value),
            index: number("index")?,
            source: number("source")?,
            destination: number("destination")?,
        })
    }

    fn apply(&self, resource: &mut Value) -> std::result::Result<(), String> {
        let locations = resolve(resource, &self.path)?;
        match self.kind.as_str() {
            "add" => {
                let target = single(&locations, &self.path)?;
                let name = self.name.as_deref().ok_or("add needs a 'name'")?;
                let value = self.value.clone().ok_or("add needs a 'value'")?;
                let repeats = element_repeats(resource, &self.path, name);
                let container = at_mut(resource, target)
                    .and_then(Value::as_object_mut)
                    .ok_or("the path is not an element that can hold children")?;
                match container.get_mut(name) {
                    Some(Value::Array(items)) => items.push(value),
                    Some(_) => return Err(format!("'{name}' already has a value")),
                    None if repeats => {
                        container.insert(name.to_owned(), Value::Array(vec![value]));
                    }
                    None => {
                        container.insert(name.to_owned(), value);
                    }
                }
                Ok(())
            }
            "insert" => {
                let list_loc = list_location(&locations, &self.path)?;
                let value = self.value.clone().ok_or("insert needs a 'value'")?;
                let index = self.index.ok_or("insert needs an 'index'")?;
                let list = at_mut(resource, &list_loc)
                    .and_then(Value::as_array_mut)
                    .ok_or("the path is not a list")?;
                if index > list.len() {
                    return Err(format!(
                        "index {index} is past the end of the list ({} items)",
                        list.len()
                    ));
                }
                list.insert(index, value);
                Ok(())
            }
            "delete" => match locations.as_slice() {
                [] => Ok(()),
                [one] => remove_at(resource, one),
                _ => Err("the path matches more than one element".into()),
            },
            "replace" => {
                let target = single(&locations, &self.path)?;
                let value = self.value.clone().ok_or("replace needs a 'value'")?;
                let slot = at_mut(resource, target).ok_or("the path matches nothing")?;
                *slot = value;
                Ok(())
            }
            "move" => {
                let list_loc = list_location(&locations, &self.path)?;
                let (from, to) = (
                    self.source.ok_or("move needs a 'source'")?,
                    self.destination.ok_or("move needs a 'destination'")?,
                );
                let list = at_mut(resource, &list_loc)
                    .and_then(Value::as_array_mut)
                    .ok_or("the path is not a list")?;
                if from >= list.len() || to >= list.len() {
                    return Err(format!(
                        "source and destination must be below {}",
                        list.len()
                    ));
                }
                let item = list.remove(from);
                list.insert(to, item);
                Ok(())
            }
            other => Err(format!("unknown operation type '{other}'")),
        }
    }
}

/// Whether `name` under the element at `path` repeats (FHIR JSON writes repeating
/// elements as arrays), by the element definitions; indexes and functions in the path do
/// not change which element it is.
fn element_repeats(resource: &Value, path: &str, name: &str) -> bool {
    let type_name = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("");
    let Ok(segments) = split_path(path) else {
        return false;
    };
    let mut names: Vec<&str> = segments
        .iter()
        .skip(usize::from(
            segments.first().map(String::as_str) == Some(type_name),
        ))
        .filter(|s| !s.ends_with(')'))
        .map(|s| s.split('[').next().unwrap_or(s))
        .collect();
    names.push(name);
    hearth_interface::elements::is_list(type_name, &names).unwrap_or(false)
}

fn first_value(part: &Value) -> Option<&Value> {
    part.as_object()?
        .iter()
        .find(|(k, _)| k.starts_with("value"))
        .map(|(_, v)| v)
}

/// The value of a `value` part: a `value[x]` primitive or complex, or nested parts
/// building an object.
fn part_value(part: &Value) -> Value {
    if let Some(v) = first_value(part) {
        return v.clone();
    }
    let mut object = Map::new();
    for child in part
        .get("part")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = child.get("name").and_then(Value::as_str) {
            object.insert(name.to_owned(), part_value(child));
        }
    }
    Value::Object(object)
}

fn single<'a>(
    locations: &'a [Vec<Step>],
    path: &str,
) -> std::result::Result<&'a Vec<Step>, String> {
    match locations {
        [one] => Ok(one),
        [] => Err(format!("'{path}' matches nothing")),
        _ => Err(format!("'{path}' matches more than one element")),
    }
}

/// The array a list path designates: `name` resolves to each item, so the list is the
/// parent of the items (or the element itself when it is an array).
fn list_location(locations: &[Vec<Step>], path: &str) -> std::result::Result<Vec<Step>, String> {
    let first = locations
        .first()
        .ok_or_else(|| format!("'{path}' matches nothing"))?;
    match first.last() {
        Some(Step::Index(_)) => Ok(first[..first.len() - 1].to_vec()),
        _ => Ok(first.clone()),
    }
}

fn at<'a>(value: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(value, |v, step| match step {
        Step::Key(k) => v.get(k.as_str()),
        Step::Index(i) => v.get(*i),
    })
}

fn at_mut<'a>(value: &'a mut Value, steps: &[Step]) -> Option<&'a mut Value> {
    steps.iter().try_fold(value, |v, step| match step {
        Step::Key(k) => v.get_mut(k.as_str()),
        Step::Index(i) => v.get_mut(*i),
    })
}

fn remove_at(resource: &mut Value, steps: &[Step]) -> std::result::Result<(), String> {
    let (last, parent) = steps
        .split_last()
        .ok_or("cannot delete the resource itself")?;
    let parent_value = at_mut(resource, parent).ok_or("the path matches nothing")?;
    match (last, parent_value) {
        (Step::Key(k), Value::Object(map)) => {
            map.shift_remove(k);
        }
        (Step::Index(i), Value::Array(items)) => {
            items.remove(*i);
            if items.is_empty()
                && let Some((Step::Key(k), grand)) = parent.split_last()
                && let Some(Value::Object(map)) = at_mut(resource, grand)
            {
                map.shift_remove(k);
            }
        }
        _ => return Err("the path does not match an element".into()),
    }
    Ok(())
}

/// Resolves a path to the locations of every element it selects, flattening arrays as
/// FHIRPath collections do.
fn resolve(resource: &Value, path: &str) -> std::result::Result<Vec<Vec<Step>>, String> {
    let segments = split_path(path)?;
    let type_name = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut segments = segments.as_slice();
    if segments.first().map(String::as_str) == Some(type_name) {
        segments = &segments[1..];
    }
    let mut current: Vec<Vec<Step>> = vec![Vec::new()];
    for segment in segments {
        current = step(resource, current, segment)?;
    }
    Ok(current)
}

fn step(
    resource: &Value,
    from: Vec<Vec<Step>>,
    segment: &str,
) -> std::result::Result<Vec<Vec<Step>>, String> {
    let mut next = Vec::new();
    match segment {
        "first()" => next.extend(from.into_iter().next()),
        "last()" => next.extend(from.into_iter().last()),
        s if s.starts_with("where(") && s.ends_with(')') => {
            let (field, literal) = parse_where(&s[6..s.len() - 1])?;
            for loc in from {
                let matches = at(resource, &loc)
                    .and_then(|v| v.get(field.as_str()))
                    .is_some_and(|v| {
                        v.as_str() == Some(literal.as_str())
                            || serde_json::from_str::<Value>(&literal).is_ok_and(|l| l == *v)
                    });
                if matches {
                    next.push(loc);
                }
            }
        }
        s => {
            let (name, index) = match s.split_once('[') {
                Some((n, rest)) => {
                    let i = rest
                        .strip_suffix(']')
                        .and_then(|i| i.parse::<usize>().ok())
                        .ok_or_else(|| format!("bad index in '{s}'"))?;
                    (n, Some(i))
                }
                None => (s, None),
            };
            let mut matched = Vec::new();
            for loc in from {
                let Some(Value::Object(map)) = at(resource, &loc) else {
                    continue;
                };
                let Some(child) = map.get(name) else { continue };
                let mut child_loc = loc.clone();
                child_loc.push(Step::Key(name.to_owned()));
                match child {
                    Value::Array(items) => {
                        for i in 0..items.len() {
                            let mut l = child_loc.clone();
                            l.push(Step::Index(i));
                            matched.push(l);
                        }
                    }
                    _ => matched.push(child_loc),
                }
            }
            match index {
                Some(i) => next.extend(matched.into_iter().nth(i)),
                None => next = matched,
            }
        }
    }
    Ok(next)
}

fn parse_where(condition: &str) -> std::result::Result<(String, String), String> {
    let (field, literal) = condition
        .split_once('=')
        .ok_or("where() needs element = 'value'")?;
    let literal = literal.trim();
    let literal = literal
        .strip_prefix('\'')
        .and_then(|l| l.strip_suffix('\''))
        .unwrap_or(literal);
    Ok((field.trim().to_owned(), literal.to_owned()))
}

/// Splits a path on dots outside parentheses and quotes.
fn split_path(path: &str) -> std::result::Result<Vec<String>, String> {
    let mut segments = Vec::new();
    let mut current = String::new();
    let (mut depth, mut quoted) = (0_i32, false);
    for c in path.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            '.' if !quoted && depth == 0 => {
                segments.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    segments.push(current);
    if depth != 0 || quoted || segments.iter().any(String::is_empty) {
        return Err(format!("malformed path '{path}'"));
    }
    Ok(segments)
}
