//! STIX 2.0 → STIX 2.1, on import, as the OASIS stix2-elevator's `stix_stepper` converts it.
//!
//! Peers and archives still hold STIX 2.0 bundles. Focal stores and relays 2.1 only, so a 2.0
//! object is stepped to 2.1 before it is validated, and what was changed is kept with the stored
//! object ([`Conversion`], with the original), so nothing is lost silently.
//!
//! The rules are the stepper's (stix2-elevator 4.1.7, `stix_stepper.py`), checked by
//! `tests/vocabulary.rs` against the stepper itself on the OASIS 2.0 examples:
//! - every object gets `spec_version: "2.1"`;
//! - `labels` of indicator, malware, report, threat-actor and tool become `<type>_types` (a lone
//!   `unknown` label is dropped);
//! - an indicator gets `pattern_type: "stix"` and its pattern's observable property names are
//!   renamed where 2.1 renamed them (`file:created` → `file:ctime`, ...);
//! - a malware gets `is_family: false` (2.0 could not say);
//! - an observed-data's embedded `objects` become separate SCOs with deterministic ids, their
//!   references rewritten, listed in `object_refs`; SCO properties 2.1 renamed are renamed and
//!   those it removed are dropped (and named in the conversion).
//!
//! Where Focal differs, on purpose: `created`/`modified` without milliseconds are padded to them
//! (2.1 requires the precision; the stepper leaves them, and stix2-validator then refuses them);
//! `accessed` of files and directories becomes `atime` (the stepper looks for `associated`);
//! SCO ids are computed over references already rewritten (the stepper hashes the 2.0 keys
//! `"0"`, `"1"`); custom `x_` properties stay custom properties, which 2.1 still allows (the
//! stepper moves them into an extension whose definition it does not emit).

use crate::pattern::{self, Observation, PathStep, Test};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What was done to an object on its way from STIX 2.0 to 2.1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversion {
    /// The spec version the object came in (`"2.0"`).
    pub from: String,
    /// What was changed, one line each.
    pub changes: Vec<String>,
    /// The object as received (for an SCO made from an observed-data, the observed-data).
    pub original: Value,
}

/// Why a 2.0 object could not be stepped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    pub field: String,
    pub reason: String,
}

const TYPES_FROM_LABELS: [&str; 5] = ["indicator", "malware", "report", "threat-actor", "tool"];

/// Steps one STIX 2.0 object to 2.1. Returns the objects it becomes (an observed-data becomes its
/// SCOs, then itself), each with what was done.
pub fn step(object: &Value) -> Result<Vec<(Value, Conversion)>, StepError> {
    let fail = |field: &str, reason: String| StepError {
        field: field.into(),
        reason,
    };
    let Value::Object(original) = object else {
        return Err(fail("(object)", "expected a JSON object".into()));
    };
    let mut o = original.clone();
    let mut changes = Vec::new();
    let type_ = o
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    o.insert("spec_version".into(), Value::String("2.1".into()));
    changes.push("spec_version \"2.1\" added".to_string());
    for key in ["created", "modified"] {
        if let Some(Value::String(t)) = o.get(key)
            && let Some(padded) = with_milliseconds(t)
        {
            changes.push(format!("{key} {t:?} given millisecond precision"));
            o.insert(key.into(), Value::String(padded));
        }
    }
    if TYPES_FROM_LABELS.contains(&type_.as_str())
        && let Some(labels) = o.remove("labels")
    {
        let property = format!("{}_types", type_.replace('-', "_"));
        if labels == Value::Array(vec![Value::String("unknown".into())]) {
            changes.push("labels [\"unknown\"] dropped".into());
        } else {
            changes.push(format!("labels → {property}"));
            o.insert(property, labels);
        }
    }
    let mut out = Vec::new();
    match type_.as_str() {
        "indicator" => {
            let text = o
                .get("pattern")
                .and_then(Value::as_str)
                .ok_or_else(|| fail("pattern", "missing".into()))?;
            let mut parsed = pattern::parse(text)
                .map_err(|e| fail("pattern", format!("not a STIX pattern: {e}")))?;
            let renamed = rename_pattern_properties(&mut parsed.expression);
            if !renamed.is_empty() {
                changes.push(format!("pattern: {} renamed for 2.1", renamed.join(", ")));
                o.insert("pattern".into(), Value::String(parsed.to_string()));
            }
            o.insert("pattern_type".into(), Value::String("stix".into()));
            changes.push("pattern_type \"stix\" added".into());
        }
        "malware" => {
            o.insert("is_family".into(), Value::Bool(false));
            changes.push("is_family false added (STIX 2.0 could not say)".into());
        }
        "observed-data" => {
            let embedded = match o.remove("objects") {
                Some(Value::Object(m)) => m,
                Some(_) => return Err(fail("objects", "expected a JSON object".into())),
                None => Map::new(),
            };
            let scos = step_observables(&embedded).map_err(|r| fail("objects", r))?;
            let refs: Vec<Value> = scos.iter().map(|(s, _)| s["id"].clone()).collect();
            changes.push(format!(
                "objects → {} SCOs listed in object_refs",
                refs.len()
            ));
            o.insert("object_refs".into(), Value::Array(refs));
            for (sco, sco_changes) in scos {
                out.push((
                    sco,
                    Conversion {
                        from: "2.0".into(),
                        changes: sco_changes,
                        original: object.clone(),
                    },
                ));
            }
        }
        _ => {}
    }
    out.push((
        Value::Object(o),
        Conversion {
            from: "2.0".into(),
            changes,
            original: object.clone(),
        },
    ));
    Ok(out)
}

/// `2016-04-06T20:03:00Z` → `2016-04-06T20:03:00.000Z`; `None` if already precise enough.
fn with_milliseconds(t: &str) -> Option<String> {
    let body = t.strip_suffix('Z')?;
    let (seconds, fraction) = body.split_once('.').unwrap_or((body, ""));
    (fraction.len() < 3 && fraction.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("{seconds}.{fraction:0<3}Z"))
}

/// Pattern property names STIX 2.1 renamed, per object type reached along the path (the
/// stepper's `ObjectPathForElevator.toSTIX21`). Returns what was renamed.
fn rename_pattern_properties(o: &mut Observation) -> Vec<String> {
    let mut renamed = Vec::new();
    pattern::visit_tests_mut(o, &mut |t| {
        let path = match t {
            Test::Compare { path, .. } | Test::Exists(path) => path,
        };
        let mut current = path.object_type.clone();
        for step in &mut path.steps {
            let PathStep::Key { name, .. } = step else {
                continue;
            };
            let new = match (current.as_str(), name.as_str()) {
                ("file" | "directory", "created") => Some("ctime"),
                ("file" | "directory", "modified") => Some("mtime"),
                ("file" | "directory", "accessed") => Some("atime"),
                ("process", "binary_ref") => Some("image_ref"),
                ("process", "created") => Some("created_time"),
                ("user-account", "password_last_changed") => Some("credential_last_changed"),
                ("windows-registry-key", "modified") => Some("modified_time"),
                _ => None,
            };
            // The type the path reaches next, for the renames further along.
            let next = match (current.as_str(), name.as_str()) {
                ("file" | "directory", "contains_refs") => Some("file"),
                ("file", "parent_directory_ref") => Some("directory"),
                ("process", "binary_ref" | "image_ref") => Some("file"),
                ("process", "creator_user_ref") => Some("user-account"),
                ("process", "opened_connection_refs") => Some("network-traffic"),
                ("process", "parent_ref" | "child_refs") => Some("process"),
                _ => None,
            };
            if let Some(new) = new {
                renamed.push(format!("{current}:{name} → {new}"));
                *name = new.to_string();
            }
            if let Some(next) = next {
                current = next.to_string();
            }
        }
    });
    renamed
}

/// The ID-contributing properties of each SCO type (STIX 2.1 §6, "ID Contributing Properties").
fn contributing(type_: &str) -> &'static [&'static str] {
    match type_ {
        "artifact" => &["hashes", "payload_bin"],
        "autonomous-system" => &["number"],
        "directory" => &["path"],
        "domain-name" | "email-addr" | "ipv4-addr" | "ipv6-addr" | "mac-addr" | "url" => &["value"],
        "email-message" => &["from_ref", "subject", "body"],
        "file" => &["hashes", "name", "extensions", "parent_directory_ref"],
        "mutex" => &["name"],
        "network-traffic" => &[
            "start",
            "end",
            "src_ref",
            "dst_ref",
            "src_port",
            "dst_port",
            "protocols",
            "extensions",
        ],
        "software" => &["name", "cpe", "swid", "vendor", "version"],
        "user-account" => &["account_type", "user_id", "account_login"],
        "windows-registry-key" => &["key", "values"],
        "x509-certificate" => &["hashes", "serial_number"],
        _ => &[],
    }
}

const HASH_ORDER: [&str; 4] = ["MD5", "SHA-1", "SHA-256", "SHA-512"];

/// An SCO's deterministic id; a random one for types without contributing properties
/// (process), as the spec says.
fn sco_id(o: &Map<String, Value>, type_: &str) -> String {
    let mut c = Map::new();
    for key in contributing(type_) {
        let Some(v) = o.get(*key) else { continue };
        if *key == "hashes"
            && let Some(h) = v.as_object()
        {
            // One hash contributes, the first of MD5, SHA-1, SHA-256, SHA-512 present.
            if let Some((alg, value)) = HASH_ORDER
                .iter()
                .find_map(|a| h.get_key_value(*a))
                .or_else(|| h.iter().next())
            {
                let mut one = Map::new();
                one.insert(alg.clone(), value.clone());
                c.insert("hashes".into(), Value::Object(one));
            }
        } else {
            c.insert(key.to_string(), v.clone());
        }
    }
    if c.is_empty() {
        format!("{type_}--{}", crate::stix::random_uuid())
    } else {
        crate::stix::sco_id(type_, &Value::Object(c))
    }
}

/// SCO property changes of STIX 2.1 (the stepper's `step_cyber_observable`).
fn step_sco_properties(o: &mut Map<String, Value>, changes: &mut Vec<String>) {
    let type_ = o
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut rename = |o: &mut Map<String, Value>, from: &str, to: &str| {
        if let Some(v) = o.remove(from) {
            changes.push(format!("{from} → {to}"));
            o.insert(to.into(), v);
        }
    };
    match type_.as_str() {
        "directory" | "file" => {
            rename(o, "created", "ctime");
            rename(o, "modified", "mtime");
            rename(o, "accessed", "atime");
        }
        "process" => {
            rename(o, "binary_ref", "image_ref");
            rename(o, "created", "created_time");
        }
        "user-account" => rename(o, "password_last_changed", "credential_last_changed"),
        "windows-registry-key" => rename(o, "modified", "modified_time"),
        _ => {}
    }
    let mut dropped = |o: &mut Map<String, Value>, key: &str| {
        if o.remove(key).is_some() {
            changes.push(format!("{key} dropped (not in STIX 2.1)"));
        }
    };
    match type_.as_str() {
        "file" => {
            for key in ["is_encrypted", "encryption_algorithm", "decryption_key"] {
                dropped(o, key);
            }
            if let Some(Value::Object(ext)) = o
                .get_mut("extensions")
                .and_then(|e| e.get_mut("raster-image-ext"))
                && ext.remove("image_compression_algorithm").is_some()
            {
                changes.push("raster-image-ext.image_compression_algorithm dropped".into());
            }
        }
        "network-traffic" => {
            if let Some(Value::Object(ext)) = o
                .get_mut("extensions")
                .and_then(|e| e.get_mut("socket-ext"))
                && ext.remove("protocol_family").is_some()
            {
                changes.push("socket-ext.protocol_family dropped".into());
            }
        }
        "process" => {
            dropped(o, "name");
            dropped(o, "arguments");
        }
        _ => {}
    }
}

/// Rewrites every `*_ref`/`*_refs` value found in `keys` (the 2.0 local keys).
fn rewrite_refs(v: &mut Value, keys: &BTreeMap<String, String>) -> Result<(), String> {
    if let Value::Object(map) = v {
        for (k, v) in map.iter_mut() {
            if k.ends_with("_ref") {
                if let Value::String(s) = v {
                    *s = keys
                        .get(s.as_str())
                        .cloned()
                        .ok_or_else(|| format!("{k}: {s:?} is not a key of objects"))?;
                }
            } else if k.ends_with("_refs") {
                if let Value::Array(items) = v {
                    for item in items {
                        if let Value::String(s) = item {
                            *s = keys
                                .get(s.as_str())
                                .cloned()
                                .ok_or_else(|| format!("{k}: {s:?} is not a key of objects"))?;
                        }
                    }
                }
            } else {
                rewrite_refs(v, keys)?;
            }
        }
    } else if let Value::Array(items) = v {
        for item in items {
            rewrite_refs(item, keys)?;
        }
    }
    Ok(())
}

fn local_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if k.ends_with("_ref")
                    && let Some(s) = v.as_str()
                {
                    out.push(s.to_string());
                } else if k.ends_with("_refs")
                    && let Some(items) = v.as_array()
                {
                    out.extend(items.iter().filter_map(Value::as_str).map(str::to_string));
                } else {
                    local_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| local_refs(i, out)),
        _ => {}
    }
}

/// An observed-data's `objects` (2.0: a dictionary of observables by local key) → 2.1 SCOs.
/// Ids are given in dependency order, so an SCO's id covers the ids of the SCOs it refers to.
fn step_observables(embedded: &Map<String, Value>) -> Result<Vec<(Value, Vec<String>)>, String> {
    let mut pending: BTreeMap<String, (Map<String, Value>, Vec<String>)> = BTreeMap::new();
    for (key, v) in embedded {
        let Value::Object(o) = v else {
            return Err(format!("{key}: expected a JSON object"));
        };
        let mut o = o.clone();
        let mut changes = vec![format!("made from the observed-data's object {key:?}")];
        step_sco_properties(&mut o, &mut changes);
        pending.insert(key.clone(), (o, changes));
    }
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    while !pending.is_empty() {
        let ready: Vec<String> = pending
            .iter()
            .filter(|(_, (o, _))| {
                let mut refs = Vec::new();
                local_refs(&Value::Object(o.clone()), &mut refs);
                refs.iter().all(|r| ids.contains_key(r))
            })
            .map(|(k, _)| k.clone())
            .collect();
        if ready.is_empty() {
            // A cycle of references: the rest get ids over their 2.0 keys, as the stepper gives
            // every SCO, then their references are rewritten.
            for (key, (o, _)) in &pending {
                let type_ = o.get("type").and_then(Value::as_str).unwrap_or_default();
                ids.insert(key.clone(), sco_id(o, type_));
            }
            for (key, (o, changes)) in std::mem::take(&mut pending) {
                let mut v = Value::Object(o);
                rewrite_refs(&mut v, &ids)?;
                v["id"] = Value::String(ids[&key].clone());
                out.push((v, changes));
            }
            break;
        }
        for key in ready {
            let Some((o, changes)) = pending.remove(&key) else {
                continue;
            };
            let mut v = Value::Object(o);
            rewrite_refs(&mut v, &ids)?;
            let type_ = v["type"].as_str().unwrap_or_default().to_string();
            let id = v.as_object().map(|m| sco_id(m, &type_)).unwrap_or_default();
            v["id"] = Value::String(id.clone());
            ids.insert(key, id);
            out.push((v, changes));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_indicator_steps_like_the_oasis_stepper() {
        let o = json!({"type": "indicator", "id": "indicator--33fe3b22-0201-47cf-85d0-97c02164528d",
            "created": "2014-05-08T09:00:00Z", "modified": "2014-05-08T09:00:00.000Z",
            "labels": ["malicious-activity"], "pattern": "[file:created > t'2014-01-01T00:00:00Z']",
            "valid_from": "2014-05-08T09:00:00.000000Z"});
        let out = step(&o).unwrap();
        assert_eq!(out.len(), 1);
        let (s, c) = &out[0];
        assert_eq!(s["spec_version"], "2.1");
        assert_eq!(s["indicator_types"], json!(["malicious-activity"]));
        assert!(s.get("labels").is_none());
        assert_eq!(s["pattern_type"], "stix");
        assert_eq!(s["pattern"], "[file:ctime > t'2014-01-01T00:00:00Z']");
        assert_eq!(s["created"], "2014-05-08T09:00:00.000Z");
        assert_eq!(c.original, o);
        assert!(
            c.changes.iter().any(|c| c.contains("file:created → ctime")),
            "{c:?}"
        );
    }

    #[test]
    fn observed_data_objects_become_scos_with_rewritten_references() {
        let o = json!({"type": "observed-data", "id": "observed-data--b67d30ff-02ac-498a-92f9-32f845f448cf",
        "created": "2016-04-06T19:58:16.000Z", "modified": "2016-04-06T19:58:16.000Z",
        "first_observed": "2015-12-21T19:00:00Z", "last_observed": "2015-12-21T19:00:00Z",
        "number_observed": 1,
        "objects": {
            "0": {"type": "file", "name": "x.exe", "parent_directory_ref": "1", "created": "2015-12-21T19:00:00Z", "is_encrypted": false},
            "1": {"type": "directory", "path": "C:\\x"}
        }});
        let out = step(&o).unwrap();
        assert_eq!(out.len(), 3);
        let dir = &out
            .iter()
            .find(|(s, _)| s["type"] == "directory")
            .unwrap()
            .0;
        let (file, changes) = out.iter().find(|(s, _)| s["type"] == "file").unwrap();
        assert_eq!(
            dir["id"],
            crate::stix::sco_id("directory", &json!({"path": "C:\\x"}))
        );
        assert_eq!(file["parent_directory_ref"], dir["id"]);
        assert_eq!(file["ctime"], "2015-12-21T19:00:00Z");
        assert!(file.get("is_encrypted").is_none());
        assert!(
            changes
                .changes
                .iter()
                .any(|c| c.contains("is_encrypted dropped"))
        );
        let observed = &out[2].0;
        assert!(observed.get("objects").is_none());
        assert_eq!(observed["object_refs"].as_array().unwrap().len(), 2);
    }
}
