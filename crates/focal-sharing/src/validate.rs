//! Checks on what peers send, before anything is stored.
//!
//! A bundle or TAXII envelope is accepted whole or refused whole: the first problem is reported
//! with the object's index, id and the property at fault, and nothing of the request is kept.
//! Sizes are bounded before parsing (body bytes, nesting depth), then per object (count,
//! pattern length). Objects are kept as JSON exactly as received; only their shape is checked.

use crate::vocab::{self, Category, Kind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Configurable bounds on inbound STIX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest request body or file, in bytes (TAXII `max_content_length`).
    pub max_body_bytes: usize,
    /// Most objects in one request or file.
    pub max_objects: usize,
    /// Longest indicator pattern, in bytes.
    pub max_pattern_bytes: usize,
    /// Deepest nesting of JSON arrays and objects.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 10 * 1024 * 1024,
            max_objects: 10_000,
            max_pattern_bytes: 8 * 1024,
            max_depth: 16,
        }
    }
}

/// What was wrong with an inbound request, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    #[error("the body is {size} bytes, over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("JSON nested deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("{0}")]
    Envelope(String),
    #[error("{count} objects, over the limit of {limit}")]
    TooManyObjects { count: usize, limit: usize },
    #[error("object {index} ({id}): {field}: {reason}")]
    Object {
        index: usize,
        id: String,
        field: String,
        reason: String,
    },
}

impl InboundError {
    /// The HTTP status a TAXII server answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            InboundError::TooLarge { .. } => 413,
            InboundError::Json(_) | InboundError::Envelope(_) => 400,
            _ => 422,
        }
    }
}

const TIMESTAMPS: [&str; 12] = [
    "created",
    "modified",
    "valid_from",
    "valid_until",
    "first_seen",
    "last_seen",
    "first_observed",
    "last_observed",
    "published",
    "start_time",
    "stop_time",
    "date_added",
];

/// Rejects JSON nested deeper than `limit` without parsing it (so a hostile body cannot make
/// the parser recurse), skipping brackets inside strings.
pub fn check_depth(bytes: &[u8], limit: usize) -> Result<(), InboundError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return Err(InboundError::TooDeep { limit });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// What an inbound path takes beyond a STIX 2.1 bundle or a TAXII envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accept {
    /// A single STIX object on its own (not wrapped in a bundle).
    pub bare_object: bool,
    /// STIX 2.0 (a bundle with `spec_version: "2.0"`, or a bare object without `spec_version`),
    /// stepped to 2.1 ([`crate::elevate`]).
    pub stix20: bool,
}

impl Accept {
    /// TAXII 2.1 carries envelopes of STIX 2.1 objects (Focal also takes a 2.1 bundle).
    pub const TAXII: Accept = Accept {
        bare_object: false,
        stix20: false,
    };
    /// A file given to `focal share import`: anything a peer or an archive may hold.
    pub const FILE: Accept = Accept {
        bare_object: true,
        stix20: true,
    };
}

/// An accepted object, and what was done to it if it arrived as STIX 2.0.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// The object's index in the request as sent (a 2.0 observed-data's SCOs share its index).
    pub index: usize,
    pub object: Value,
    pub conversion: Option<crate::elevate::Conversion>,
}

/// Parses a STIX bundle or a TAXII envelope (`{"objects": [...]}`) and checks every object.
pub fn parse_objects(bytes: &[u8], limits: &Limits) -> Result<Vec<Value>, InboundError> {
    Ok(parse_inbound(bytes, limits, Accept::TAXII)?
        .into_iter()
        .map(|i| i.object)
        .collect())
}

/// Parses what an inbound path accepts (a bundle, an envelope, and per `accept` a bare object
/// or STIX 2.0), steps 2.0 objects to 2.1, and checks every object as STIX 2.1. Errors name the
/// index of the object as it was sent.
pub fn parse_inbound(
    bytes: &[u8],
    limits: &Limits,
    accept: Accept,
) -> Result<Vec<Inbound>, InboundError> {
    if bytes.len() > limits.max_body_bytes {
        return Err(InboundError::TooLarge {
            size: bytes.len(),
            limit: limits.max_body_bytes,
        });
    }
    check_depth(bytes, limits.max_depth)?;
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| InboundError::Json(e.to_string()))?;
    let Value::Object(mut top) = value else {
        return Err(InboundError::Envelope(
            "expected a JSON object (a bundle, an envelope or a STIX object)".into(),
        ));
    };
    let (mut stix20_bundle, mut bare) = (false, false);
    let objects = match top.get("type").and_then(Value::as_str) {
        None => match top.remove("objects") {
            Some(Value::Array(items)) => items,
            None => Vec::new(),
            Some(_) => return Err(InboundError::Envelope("objects: expected an array".into())),
        },
        Some("bundle") => {
            let id = top.get("id").and_then(Value::as_str).unwrap_or("");
            check_id(id, "bundle")
                .map_err(|r| InboundError::Envelope(format!("bundle id: {r}")))?;
            if top.get("spec_version").and_then(Value::as_str) == Some("2.0") {
                if !accept.stix20 {
                    return Err(InboundError::Envelope(
                        "a STIX 2.0 bundle: TAXII 2.1 carries STIX 2.1 (`focal share import` converts 2.0)"
                            .into(),
                    ));
                }
                stix20_bundle = true;
            }
            match top.remove("objects") {
                Some(Value::Array(items)) => items,
                None => Vec::new(),
                Some(_) => {
                    return Err(InboundError::Envelope("objects: expected an array".into()));
                }
            }
        }
        Some(_) if accept.bare_object => {
            bare = true;
            vec![Value::Object(top)]
        }
        Some(other) => {
            return Err(InboundError::Envelope(format!(
                "expected a bundle or an envelope, got an object of type {other:?}"
            )));
        }
    };
    if objects.len() > limits.max_objects {
        return Err(InboundError::TooManyObjects {
            count: objects.len(),
            limit: limits.max_objects,
        });
    }
    let mut out = Vec::with_capacity(objects.len());
    for (index, o) in objects.into_iter().enumerate() {
        let stix20 = stix20_bundle || (accept.stix20 && bare && looks_like_stix20(&o));
        if !stix20 {
            check_object(index, &o, limits)?;
            out.push(Inbound {
                index,
                object: o,
                conversion: None,
            });
            continue;
        }
        let id = o.get("id").and_then(Value::as_str).unwrap_or("no id");
        let stepped = crate::elevate::step(&o).map_err(|e| InboundError::Object {
            index,
            id: id.to_string(),
            field: e.field,
            reason: format!("STIX 2.0 → 2.1: {}", e.reason),
        })?;
        for (object, conversion) in stepped {
            check_object(index, &object, limits)?;
            out.push(Inbound {
                index,
                object,
                conversion: Some(conversion),
            });
        }
    }
    if out.len() > limits.max_objects {
        return Err(InboundError::TooManyObjects {
            count: out.len(),
            limit: limits.max_objects,
        });
    }
    check_duplicates(&out)?;
    Ok(out)
}

/// Refuses a request that carries one object version twice (the same `id` and `modified`, or
/// the same `id` for objects without versions): only one of them could be stored, yet both
/// would be reported as successes. Several versions of one object (different `modified`) are a
/// history and stay allowed. The error names the index of the second one.
fn check_duplicates(objects: &[Inbound]) -> Result<(), InboundError> {
    let mut seen: std::collections::HashMap<(&str, &str), usize> =
        std::collections::HashMap::with_capacity(objects.len());
    for i in objects {
        let id = i.object.get("id").and_then(Value::as_str).unwrap_or("");
        let version = i
            .object
            .get("modified")
            .and_then(Value::as_str)
            .unwrap_or("");
        if let Some(first) = seen.insert((id, version), i.index) {
            // A STIX 2.0 object stepped to several 2.1 objects shares its index; they have
            // different ids, so `first == i.index` means the same sent object twice over.
            return Err(InboundError::Object {
                index: i.index,
                id: id.to_string(),
                field: "id".into(),
                reason: if version.is_empty() {
                    format!("object {first} has the same id; send each object once")
                } else {
                    format!(
                        "object {first} has the same id and modified; send each object version once"
                    )
                },
            });
        }
    }
    Ok(())
}

/// A STIX 2.0 object on its own: no `spec_version` (every 2.1 object but an SCO has one, and
/// 2.0 SCOs only exist inside an observed-data).
fn looks_like_stix20(o: &Value) -> bool {
    let type_ = o.get("type").and_then(Value::as_str).unwrap_or_default();
    o.get("spec_version").is_none()
        && vocab::rule(type_).is_some_and(|r| r.category != Category::Sco)
}

fn check_id(id: &str, type_: &str) -> Result<(), String> {
    let Some((t, uuid)) = id.split_once("--") else {
        return Err(format!("{id:?} is not <type>--<UUID>"));
    };
    if t != type_ {
        return Err(format!(
            "{id:?} does not start with the object's type {type_:?}"
        ));
    }
    match Uuid::parse_str(uuid) {
        Ok(u) if uuid.len() == 36 && !u.is_nil() => Ok(()),
        _ => Err(format!("{uuid:?} is not an RFC 4122 UUID")),
    }
}

fn check_ref(r: &str) -> Result<(), String> {
    let Some((t, _)) = r.split_once("--") else {
        return Err(format!("{r:?} is not an identifier"));
    };
    check_id(r, t)
}

/// STIX timestamps are RFC 3339 in UTC with a `Z`.
fn check_timestamp(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let shape = b.len() >= 20
        && b.len() <= 40
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && s.ends_with('Z');
    if shape && s.parse::<jiff::Timestamp>().is_ok() {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not an RFC 3339 UTC timestamp (like 2026-11-23T10:00:00.000Z)"
        ))
    }
}

fn is_custom_object(o: &serde_json::Map<String, Value>, type_: &str) -> bool {
    if type_.starts_with("x-") {
        return true;
    }
    // STIX 2.1 custom objects name an extension-definition of type new-sdo/new-sco/new-sro.
    o.get("extensions")
        .and_then(Value::as_object)
        .is_some_and(|exts| {
            exts.iter().any(|(k, v)| {
                k.starts_with("extension-definition--")
                    && v.get("extension_type")
                        .and_then(Value::as_str)
                        .is_some_and(|t| matches!(t, "new-sdo" | "new-sco" | "new-sro"))
            })
        })
}

/// Checks one object's shape. Errors name the object's index, id and property.
/// SCOs whose id is derived from `value` alone (STIX 2.1 §2.9 and each type's "ID Contributing
/// Properties").
const VALUE_ID_TYPES: [&str; 6] = [
    "ipv4-addr",
    "ipv6-addr",
    "domain-name",
    "url",
    "email-addr",
    "mac-addr",
];

/// A deterministic (UUIDv5) id of an address, name or URL must be the one its value gives. The
/// id is the object's identity: with another value under it, a peer could put its own address
/// in the place of one it cannot even read (an attacker pass did). A random (v4) id, which the
/// spec allows, names nothing and is not checked.
fn check_value_id(
    id: &str,
    type_: &str,
    map: &serde_json::Map<String, Value>,
) -> Result<(), String> {
    if !VALUE_ID_TYPES.contains(&type_) {
        return Ok(());
    }
    let (Some(uuid), Some(value)) = (
        id.split_once("--")
            .and_then(|(_, u)| Uuid::parse_str(u).ok()),
        map.get("value").and_then(Value::as_str),
    ) else {
        return Ok(());
    };
    if uuid.get_version_num() != 5 {
        return Ok(());
    }
    let expected = crate::stix::sco_id(type_, &serde_json::json!({ "value": value }));
    if expected != id {
        return Err(format!(
            "a deterministic id that is not the one of its value {value:?} (STIX 2.1 §2.9 gives {expected})"
        ));
    }
    Ok(())
}

pub fn check_object(index: usize, o: &Value, limits: &Limits) -> Result<(), InboundError> {
    let id = o
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let fail = |field: &str, reason: String| InboundError::Object {
        index,
        id: if id.is_empty() {
            "no id".into()
        } else {
            id.clone()
        },
        field: field.to_string(),
        reason,
    };
    let Value::Object(map) = o else {
        return Err(fail("(object)", "expected a JSON object".into()));
    };
    let type_ = map
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| fail("type", "missing or not a string".into()))?;
    let type_ok = type_.len() >= 3
        && type_.len() <= 250
        && type_
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !type_ok {
        return Err(fail(
            "type",
            format!("{type_:?} is not a valid STIX type name"),
        ));
    }
    let rule = vocab::rule(type_);
    let category = rule.map(|r| r.category);
    let custom = rule.is_none() && is_custom_object(map, type_);
    if rule.is_none() && !custom {
        return Err(fail(
            "type",
            format!(
                "unknown type {type_:?}, and not a custom object (no x- prefix nor a new-sdo/new-sco/new-sro extension)"
            ),
        ));
    }
    check_id(&id, type_).map_err(|r| fail("id", r))?;
    check_value_id(&id, type_, map).map_err(|r| fail("id", r))?;
    match map.get("spec_version") {
        Some(Value::String(v)) if v == "2.1" => {}
        None if category == Some(Category::Sco) => {}
        None => {
            return Err(fail(
                "spec_version",
                "missing (STIX 2.1 objects must say \"2.1\")".into(),
            ));
        }
        Some(other) => return Err(fail("spec_version", format!("{other} is not \"2.1\""))),
    }
    for key in TIMESTAMPS {
        if let Some(v) = map.get(key) {
            let s = v.as_str().ok_or_else(|| fail(key, "not a string".into()))?;
            check_timestamp(s).map_err(|r| fail(key, r))?;
        }
    }
    let sdo_or_sro = matches!(category, Some(Category::Sdo | Category::Sro));
    let needs_created = sdo_or_sro || category == Some(Category::Meta);
    if needs_created && !map.contains_key("created") {
        return Err(fail("created", "missing".into()));
    }
    if (sdo_or_sro || matches!(type_, "language-content" | "extension-definition"))
        && !map.contains_key("modified")
    {
        return Err(fail("modified", "missing".into()));
    }
    // STIX 2.1 §3.2: created and modified are precise to the millisecond at least.
    for key in ["created", "modified"] {
        if let Some(s) = map.get(key).and_then(Value::as_str)
            && !has_milliseconds(s)
        {
            return Err(fail(
                key,
                format!("{s:?} must be precise to the millisecond (like 2026-11-23T10:00:00.000Z)"),
            ));
        }
    }
    if let (Some(c), Some(m)) = (
        map.get("created").and_then(Value::as_str),
        map.get("modified").and_then(Value::as_str),
    ) && let (Ok(c), Ok(m)) = (c.parse::<jiff::Timestamp>(), m.parse::<jiff::Timestamp>())
        && m < c
    {
        return Err(fail("modified", "earlier than created".into()));
    }
    // A version dated ahead stays the last one until that date: a peer could pin its copy over
    // every later version (an attacker pass dated one 2099). A day allows for clocks set wrong.
    if let Some(m) = map.get("modified").and_then(Value::as_str)
        && let Ok(m) = m.parse::<jiff::Timestamp>()
        && let Ok(latest) = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(24))
        && m > latest
    {
        return Err(fail(
            "modified",
            "more than a day in the future: a version cannot be newer than now".into(),
        ));
    }
    for (k, v) in map {
        if k.ends_with("_ref") {
            v.as_str().ok_or_else(|| fail(k, "not a string".into()))?;
        } else if k.ends_with("_refs") {
            let list = v.as_array().ok_or_else(|| fail(k, "not an array".into()))?;
            for (i, r) in list.iter().enumerate() {
                r.as_str()
                    .ok_or_else(|| fail(&format!("{k}[{i}]"), "not a string".into()))?;
            }
        }
    }
    // Every reference, at any depth, is an identifier, of a type its property may point at.
    for r in vocab::references(o) {
        check_ref(r.id).map_err(|e| fail(&r.path, e))?;
        let target = r.id.split_once("--").map_or("", |(t, _)| t);
        if let Some(allowed) = vocab::ref_targets(type_, &r.property)
            && !allowed.contains(&target)
        {
            return Err(fail(
                &r.path,
                format!(
                    "refers to a {target}, but {} may only refer to {}",
                    r.property,
                    allowed.join(" or ")
                ),
            ));
        }
    }
    let Some(rule) = rule else {
        return Ok(());
    };
    for (field, kind) in rule.required {
        let v = map
            .get(*field)
            .ok_or_else(|| fail(field, "missing".into()))?;
        let problem = match kind {
            Kind::Text | Kind::Timestamp | Kind::Ref => v
                .as_str()
                .is_none_or(str::is_empty)
                .then(|| "expected a non-empty string".to_string()),
            Kind::Bool => (!v.is_boolean()).then(|| "expected true or false".into()),
            Kind::Integer(lo, hi) => (!v.as_i64().is_some_and(|n| (*lo..=*hi).contains(&n)))
                .then(|| format!("expected an integer from {lo} to {hi}")),
            Kind::List => v
                .as_array()
                .is_none_or(|l| l.is_empty())
                .then(|| "expected a non-empty list".into()),
            Kind::Refs => v
                .as_array()
                .is_none_or(|l| l.is_empty())
                .then(|| "expected a non-empty list of references".into()),
            Kind::Object => (!v.is_object()).then(|| "expected a JSON object".into()),
        };
        if let Some(reason) = problem {
            return Err(fail(field, reason));
        }
    }
    if !rule.one_of.is_empty()
        && !rule
            .one_of
            .iter()
            .any(|group| group.iter().all(|p| map.contains_key(*p)))
    {
        let groups: Vec<String> = rule.one_of.iter().map(|g| g.join(" and ")).collect();
        return Err(fail(
            rule.one_of[0][0],
            format!("a {type_} needs at least one of: {}", groups.join(", ")),
        ));
    }
    if type_ == "malware" && map.get("is_family") == Some(&Value::Bool(true)) {
        match map.get("name").and_then(Value::as_str) {
            Some(n) if !n.is_empty() => {}
            _ => {
                return Err(fail(
                    "name",
                    "a malware family (is_family true) must have a name".into(),
                ));
            }
        }
    }
    if type_ == "indicator"
        && let Some(p) = map.get("pattern").and_then(Value::as_str)
    {
        if p.len() > limits.max_pattern_bytes {
            return Err(fail(
                "pattern",
                format!(
                    "{} bytes, over the limit of {}",
                    p.len(),
                    limits.max_pattern_bytes
                ),
            ));
        }
        if map.get("pattern_type").and_then(Value::as_str) == Some("stix") {
            crate::pattern::parse(p)
                .map_err(|e| fail("pattern", format!("not a STIX 2.1 pattern: {e}")))?;
        }
    }
    Ok(())
}

/// `…:ss.fffZ`: at least three digits of fractional seconds.
fn has_milliseconds(s: &str) -> bool {
    s.rsplit_once('.').is_some_and(|(_, frac)| {
        frac.len() >= 4
            && frac.ends_with('Z')
            && frac[..frac.len() - 1].bytes().all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn indicator() -> Value {
        json!({"type": "indicator", "spec_version": "2.1", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
               "created": "2026-11-23T10:00:00.000Z", "modified": "2026-11-23T10:00:00.000Z",
               "pattern": "[ipv4-addr:value = '198.51.100.7']", "pattern_type": "stix", "valid_from": "2026-11-23T10:00:00Z"})
    }

    fn envelope(objects: Vec<Value>) -> Vec<u8> {
        serde_json::to_vec(&json!({ "objects": objects })).unwrap()
    }

    fn refused(objects: Vec<Value>) -> InboundError {
        parse_objects(&envelope(objects), &Limits::default()).unwrap_err()
    }

    #[test]
    fn good_objects_pass_and_bad_ones_name_index_and_field() {
        assert_eq!(
            parse_objects(&envelope(vec![indicator()]), &Limits::default())
                .unwrap()
                .len(),
            1
        );
        let cases: Vec<(&str, Value, &str)> = vec![
            ("id", json!("indicator--not-a-uuid"), "id"),
            (
                "id",
                json!("malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"),
                "id",
            ),
            ("created", json!("23/11/2026"), "created"),
            ("modified", json!("2020-01-01T00:00:00Z"), "modified"),
            ("modified", json!("2099-01-01T00:00:00.000Z"), "modified"),
            ("pattern", json!("[ipv4-addr:value = '1.2.3.4'"), "pattern"),
            ("created_by_ref", json!("nothing"), "created_by_ref"),
            ("spec_version", json!("2.0"), "spec_version"),
            ("type", json!("weird-thing"), "type"),
        ];
        for (key, value, field) in cases {
            let mut bad = indicator();
            bad[key] = value;
            match refused(vec![indicator(), bad]) {
                InboundError::Object {
                    index, field: f, ..
                } => {
                    assert_eq!(index, 1, "{key}");
                    assert_eq!(f, field, "{key}");
                }
                other => panic!("{key}: {other}"),
            }
        }
        // An address under the deterministic id of another: refused; under its own, or under a
        // random id, taken.
        let address = |value: &str, id: &str| json!({"type": "ipv4-addr", "spec_version": "2.1", "id": id, "value": value});
        let own = crate::stix::sco_id("ipv4-addr", &json!({"value": "198.51.100.7"}));
        match refused(vec![indicator(), address("6.6.6.6", &own)]) {
            InboundError::Object {
                index,
                field,
                reason,
                ..
            } => {
                assert_eq!((index, field.as_str()), (1, "id"));
                assert!(reason.contains("6.6.6.6"), "{reason}");
            }
            other => panic!("{other}"),
        }
        let random = "ipv4-addr--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";
        for object in [address("198.51.100.7", &own), address("6.6.6.6", random)] {
            assert!(parse_objects(&envelope(vec![object]), &Limits::default()).is_ok());
        }
        let mut custom = indicator();
        custom["type"] = json!("x-acme-thing");
        custom["id"] = json!("x-acme-thing--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f");
        assert!(parse_objects(&envelope(vec![custom]), &Limits::default()).is_ok());
    }

    #[test]
    fn a_pattern_outside_the_grammar_is_refused_with_index_and_position() {
        // Issue 12: this was accepted with 202, stored and relayed.
        let mut bad = indicator();
        bad["pattern"] = json!("[ipv4-addr:value = ]");
        match refused(vec![indicator(), bad]) {
            InboundError::Object {
                index,
                field,
                reason,
                ..
            } => {
                assert_eq!((index, field.as_str()), (1, "pattern"));
                assert!(reason.contains("at character 19"), "{reason}");
            }
            other => panic!("{other}"),
        }
        // Other pattern languages are not STIX's to judge.
        let mut snort = indicator();
        snort["pattern_type"] = json!("snort");
        snort["pattern"] = json!("alert tcp any any -> any 80 (msg:\"x\";)");
        assert!(parse_objects(&envelope(vec![snort]), &Limits::default()).is_ok());
    }

    fn sdo(type_: &str, extra: Value) -> Value {
        let mut o = json!({"type": type_, "spec_version": "2.1", "id": format!("{type_}--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"),
               "created": "2026-11-23T10:00:00.000Z", "modified": "2026-11-23T10:00:00.000Z"});
        for (k, v) in extra.as_object().unwrap() {
            o[k] = v.clone();
        }
        o
    }

    #[test]
    fn every_type_has_its_required_properties_and_reference_targets_checked() {
        let identity = "identity--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd30";
        let good = [
            sdo("location", json!({"country": "NL"})),
            // A second location needs an id of its own: one version twice in a request is
            // refused as a duplicate.
            sdo(
                "location",
                json!({"id": "location--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd40", "latitude": 52.1, "longitude": 4.3}),
            ),
            sdo(
                "grouping",
                json!({"context": "suspicious-activity", "object_refs": [identity]}),
            ),
            sdo(
                "note",
                json!({"content": "seen", "object_refs": [identity]}),
            ),
            sdo(
                "opinion",
                json!({"opinion": "agree", "object_refs": [identity]}),
            ),
            sdo(
                "malware-analysis",
                json!({"product": "cuckoo", "result": "malicious"}),
            ),
            sdo("infrastructure", json!({"name": "c2"})),
            sdo("incident", json!({"name": "outage"})),
            sdo(
                "sighting",
                json!({"sighting_of_ref": identity, "where_sighted_refs": [identity]}),
            ),
        ];
        assert!(parse_objects(&envelope(good.to_vec()), &Limits::default()).is_ok());
        let bad: Vec<(Value, &str, &str)> = vec![
            (
                sdo("location", json!({"latitude": 52.1})),
                "region",
                "at least one of",
            ),
            (
                sdo("grouping", json!({"context": "x", "object_refs": []})),
                "object_refs",
                "non-empty",
            ),
            (
                sdo("note", json!({"object_refs": [identity]})),
                "content",
                "missing",
            ),
            (
                sdo("malware-analysis", json!({"product": "cuckoo"})),
                "result",
                "at least one of",
            ),
            (sdo("intrusion-set", json!({})), "name", "missing"),
            (
                sdo(
                    "sighting",
                    json!({"sighting_of_ref": identity, "where_sighted_refs": ["indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"]}),
                ),
                "where_sighted_refs[0]",
                "may only refer to identity or location",
            ),
            (
                sdo(
                    "campaign",
                    json!({"name": "x", "created_by_ref": "tool--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}),
                ),
                "created_by_ref",
                "may only refer to identity",
            ),
            (
                sdo(
                    "campaign",
                    json!({"name": "x", "granular_markings": [{"marking_ref": "nothing", "selectors": ["name"]}]}),
                ),
                "granular_markings[0].marking_ref",
                "not an identifier",
            ),
            (
                sdo(
                    "tool",
                    json!({"name": "x", "created": "2026-11-23T10:00:00Z"}),
                ),
                "created",
                "millisecond",
            ),
        ];
        for (o, field, reason) in bad {
            match refused(vec![o.clone()]) {
                InboundError::Object {
                    field: f,
                    reason: r,
                    ..
                } => {
                    assert_eq!(f, field, "{o}");
                    assert!(r.contains(reason), "{o}: {r}");
                }
                other => panic!("{o}: {other}"),
            }
        }
    }

    #[test]
    fn files_may_hold_a_bare_object_or_stix_2_0_taxii_may_not() {
        let bare = serde_json::to_vec(&indicator()).unwrap();
        assert!(matches!(
            parse_objects(&bare, &Limits::default()),
            Err(InboundError::Envelope(_))
        ));
        let got = parse_inbound(&bare, &Limits::default(), Accept::FILE).unwrap();
        assert_eq!((got.len(), got[0].conversion.is_none()), (1, true));
        let mut old = indicator();
        old.as_object_mut().unwrap().remove("spec_version");
        old.as_object_mut().unwrap().remove("pattern_type");
        old["labels"] = json!(["malicious-activity"]);
        let bundle = serde_json::to_vec(
            &json!({"type": "bundle", "id": "bundle--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "spec_version": "2.0", "objects": [old.clone()]}),
        )
        .unwrap();
        assert!(matches!(
            parse_objects(&bundle, &Limits::default()),
            Err(InboundError::Envelope(ref m)) if m.contains("2.0")
        ));
        for bytes in [bundle, serde_json::to_vec(&old).unwrap()] {
            let got = parse_inbound(&bytes, &Limits::default(), Accept::FILE).unwrap();
            assert_eq!(got[0].object["spec_version"], "2.1");
            assert_eq!(
                got[0].object["indicator_types"],
                json!(["malicious-activity"])
            );
            assert_eq!(got[0].conversion.as_ref().unwrap().original, old);
        }
    }

    #[test]
    fn limits_are_enforced_before_parsing() {
        let limits = Limits {
            max_body_bytes: 100,
            max_objects: 2,
            max_pattern_bytes: 40,
            max_depth: 5,
        };
        assert!(matches!(
            parse_objects(&[b' '; 101], &limits),
            Err(InboundError::TooLarge { .. })
        ));
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            parse_objects(deep.as_bytes(), &Limits::default()),
            Err(InboundError::TooDeep { .. })
        ));
        let limits = Limits {
            max_body_bytes: 1 << 20,
            ..limits
        };
        assert!(matches!(
            parse_objects(
                &envelope(vec![indicator(), indicator(), indicator()]),
                &limits
            ),
            Err(InboundError::TooManyObjects { count: 3, .. })
        ));
        let mut long = indicator();
        long["pattern"] = json!(format!("[url:value = '{}']", "a".repeat(100)));
        assert!(
            matches!(parse_objects(&envelope(vec![long]), &limits), Err(InboundError::Object { ref field, .. }) if field == "pattern")
        );
    }
}
