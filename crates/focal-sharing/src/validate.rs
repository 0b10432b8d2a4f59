//! Checks on what peers send, before anything is stored.
//!
//! A bundle or TAXII envelope is accepted whole or refused whole: the first problem is reported
//! with the object's index, id and the property at fault, and nothing of the request is kept.
//! Sizes are bounded before parsing (body bytes, nesting depth), then per object (count,
//! pattern length). Objects are kept as JSON exactly as received; only their shape is checked.

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

const SDO: [&str; 19] = [
    "attack-pattern",
    "campaign",
    "course-of-action",
    "grouping",
    "identity",
    "incident",
    "indicator",
    "infrastructure",
    "intrusion-set",
    "location",
    "malware",
    "malware-analysis",
    "note",
    "observed-data",
    "opinion",
    "report",
    "threat-actor",
    "tool",
    "vulnerability",
];
const SRO: [&str; 2] = ["relationship", "sighting"];
const SCO: [&str; 18] = [
    "artifact",
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
];
const META: [&str; 3] = [
    "marking-definition",
    "language-content",
    "extension-definition",
];

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

/// Parses a STIX bundle or a TAXII envelope (`{"objects": [...]}`) and checks every object.
pub fn parse_objects(bytes: &[u8], limits: &Limits) -> Result<Vec<Value>, InboundError> {
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
            "expected a JSON object (a bundle or an envelope)".into(),
        ));
    };
    match top.get("type").and_then(Value::as_str) {
        None => {}
        Some("bundle") => {
            let id = top.get("id").and_then(Value::as_str).unwrap_or("");
            check_id(id, "bundle")
                .map_err(|r| InboundError::Envelope(format!("bundle id: {r}")))?;
        }
        Some(other) => {
            return Err(InboundError::Envelope(format!(
                "expected a bundle or an envelope, got an object of type {other:?}"
            )));
        }
    }
    let objects = match top.remove("objects") {
        Some(Value::Array(items)) => items,
        None => Vec::new(),
        Some(_) => return Err(InboundError::Envelope("objects: expected an array".into())),
    };
    if objects.len() > limits.max_objects {
        return Err(InboundError::TooManyObjects {
            count: objects.len(),
            limit: limits.max_objects,
        });
    }
    for (index, o) in objects.iter().enumerate() {
        check_object(index, o, limits)?;
    }
    Ok(objects)
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

/// A STIX pattern's outer shape: balanced brackets outside string literals, and closed quotes.
/// (The full grammar is the job of the consumer; this refuses what cannot be a pattern.)
fn check_pattern(p: &str) -> Result<(), String> {
    let (mut depth, mut in_string, mut escaped) = (0i64, false, false);
    for c in p.chars() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '\'') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '\'' => in_string = true,
            '[' | '(' => depth += 1,
            ']' | ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced brackets".into());
                }
            }
            _ => {}
        }
    }
    if in_string {
        return Err("unterminated string literal".into());
    }
    if depth != 0 {
        return Err("unbalanced brackets".into());
    }
    if !p.trim_start().starts_with(['[', '(']) {
        return Err("a STIX pattern starts with an observation expression '['".into());
    }
    Ok(())
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
    let known_sdo = SDO.contains(&type_) || SRO.contains(&type_);
    let known_sco = SCO.contains(&type_);
    let known_meta = META.contains(&type_);
    let custom = !(known_sdo || known_sco || known_meta) && is_custom_object(map, type_);
    if !(known_sdo || known_sco || known_meta || custom) {
        return Err(fail(
            "type",
            format!(
                "unknown type {type_:?}, and not a custom object (no x- prefix nor a new-sdo/new-sco/new-sro extension)"
            ),
        ));
    }
    check_id(&id, type_).map_err(|r| fail("id", r))?;
    match map.get("spec_version") {
        Some(Value::String(v)) if v == "2.1" => {}
        None if known_sco => {}
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
    let needs_created = known_sdo
        || type_ == "marking-definition"
        || type_ == "language-content"
        || type_ == "extension-definition";
    if needs_created && !map.contains_key("created") {
        return Err(fail("created", "missing".into()));
    }
    if (known_sdo || type_ == "language-content" || type_ == "extension-definition")
        && !map.contains_key("modified")
    {
        return Err(fail("modified", "missing".into()));
    }
    if let (Some(c), Some(m)) = (
        map.get("created").and_then(Value::as_str),
        map.get("modified").and_then(Value::as_str),
    ) && let (Ok(c), Ok(m)) = (c.parse::<jiff::Timestamp>(), m.parse::<jiff::Timestamp>())
        && m < c
    {
        return Err(fail("modified", "earlier than created".into()));
    }
    for (k, v) in map {
        if k.ends_with("_ref") {
            let r = v.as_str().ok_or_else(|| fail(k, "not a string".into()))?;
            check_ref(r).map_err(|e| fail(k, e))?;
        } else if k.ends_with("_refs") {
            let list = v.as_array().ok_or_else(|| fail(k, "not an array".into()))?;
            for (i, r) in list.iter().enumerate() {
                let r = r
                    .as_str()
                    .ok_or_else(|| fail(&format!("{k}[{i}]"), "not a string".into()))?;
                check_ref(r).map_err(|e| fail(&format!("{k}[{i}]"), e))?;
            }
        }
    }
    let require = |field: &str| -> Result<&Value, InboundError> {
        map.get(field).ok_or_else(|| fail(field, "missing".into()))
    };
    let require_str = |field: &str| -> Result<&str, InboundError> {
        require(field)?
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| fail(field, "expected a non-empty string".into()))
    };
    let require_refs = |field: &str| -> Result<(), InboundError> {
        match require(field)?.as_array() {
            Some(l) if !l.is_empty() => Ok(()),
            _ => Err(fail(
                field,
                "expected a non-empty list of references".into(),
            )),
        }
    };
    match type_ {
        "indicator" => {
            let p = require_str("pattern")?;
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
            if require_str("pattern_type")? == "stix" {
                check_pattern(p).map_err(|r| fail("pattern", r))?;
            }
            require_str("valid_from")?;
        }
        "relationship" => {
            require_str("relationship_type")?;
            require_str("source_ref")?;
            require_str("target_ref")?;
        }
        "sighting" => {
            require_str("sighting_of_ref")?;
        }
        "report" => {
            require_str("name")?;
            require_str("published")?;
            require_refs("object_refs")?;
        }
        "observed-data" => {
            require_str("first_observed")?;
            require_str("last_observed")?;
            require("number_observed")?
                .as_u64()
                .filter(|n| (1..=999_999_999).contains(n))
                .ok_or_else(|| {
                    fail(
                        "number_observed",
                        "expected an integer from 1 to 999999999".into(),
                    )
                })?;
            require_refs("object_refs")?;
        }
        "identity" | "malware" | "threat-actor" | "campaign" | "intrusion-set" | "tool"
        | "attack-pattern" | "vulnerability" => {
            if type_ != "malware" || map.get("is_family") == Some(&Value::Bool(true)) {
                require_str("name")?;
            }
            if type_ == "malware" && !require("is_family")?.is_boolean() {
                return Err(fail("is_family", "expected true or false".into()));
            }
        }
        "ipv4-addr" | "ipv6-addr" | "domain-name" | "url" | "email-addr" | "mac-addr" => {
            require_str("value")?;
        }
        _ => {}
    }
    Ok(())
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
        let mut custom = indicator();
        custom["type"] = json!("x-acme-thing");
        custom["id"] = json!("x-acme-thing--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f");
        assert!(parse_objects(&envelope(vec![custom]), &Limits::default()).is_ok());
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
