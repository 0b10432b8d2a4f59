//! The sharing policy and its single choke point, [`release`].
//!
//! Every path by which STIX leaves the node (`focal share export`, the TAXII server's objects,
//! object and manifest responses, the TAXII client's pushes) hands its objects to [`release`]
//! and sends only what it returns. Nothing else in Focal builds outbound STIX, so the rules below
//! hold everywhere by construction:
//!
//! - TLP:RED never leaves the node, whatever a peer's clearance says.
//! - Nothing above the recipient's clearance (`max_tlp`, narrowed by the collection's own limit).
//! - TLP:AMBER+STRICT only to the constituent the object concerns.
//! - Only the allowed classification types (or taxonomies), when the policy names any.
//! - Chosen fields (e.g. `source.ip`, `source.fqdn`) are dropped or replaced with a keyed-hash
//!   pseudonym (HMAC-SHA256), including in patterns and in the deterministic ids of observables,
//!   which would otherwise reveal the value to anyone who hashes candidate addresses.
//! - A last check withholds any object whose JSON still contains a redacted value.

use crate::stix::{self, sco_id};
use focal_model::Tlp;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// What to do with a field's values on the way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Redaction {
    /// Remove every object that carries the value (and references to it).
    Drop,
    /// Replace the value by a keyed hash, as a `domain-name` under `pseudonym.invalid`, so
    /// recipients can still correlate reports of the same value from this node.
    Pseudonymise,
}

/// What one recipient (a peer, an inbound TAXII user, an export) may receive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// The highest TLP the recipient is cleared for. RED is never released even if set here.
    #[serde(default = "default_max_tlp")]
    pub max_tlp: Tlp,
    /// The constituent the recipient is, if any: the only one that may receive AMBER+STRICT
    /// objects, and only those that concern it.
    #[serde(default)]
    pub constituent: Option<String>,
    /// Field name (IntelMQ naming, e.g. `source.ip`) → what to do with its values.
    #[serde(default)]
    pub redact: BTreeMap<String, Redaction>,
    /// When set, only objects of these classification types or taxonomies (RSIT) are shared;
    /// objects without a classification (identities, markings, peers' objects) are not affected.
    #[serde(default)]
    pub types: Option<BTreeSet<String>>,
}

fn default_max_tlp() -> Tlp {
    Tlp::Green
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_tlp: default_max_tlp(),
            constituent: None,
            redact: BTreeMap::new(),
            types: None,
        }
    }
}

impl Policy {
    /// This policy further limited by a collection's own highest TLP.
    pub fn narrowed(&self, collection_max: Option<Tlp>) -> Policy {
        let mut p = self.clone();
        if let Some(max) = collection_max {
            p.max_tlp = p.max_tlp.min(max);
        }
        p
    }
}

/// A value of a field that a policy may redact, carried with the objects built from it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sensitive {
    pub field: String,
    pub value: String,
}

/// What the policy needs to know about an object, kept beside it in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareMeta {
    pub tlp: Tlp,
    #[serde(default)]
    pub classification_type: Option<String>,
    #[serde(default)]
    pub constituent: Option<String>,
    #[serde(default)]
    pub sensitive: Vec<Sensitive>,
    /// Received from another organisation (a peer), not made here.
    #[serde(default)]
    pub foreign: bool,
}

impl ShareMeta {
    pub fn clear() -> ShareMeta {
        ShareMeta {
            tlp: Tlp::Clear,
            classification_type: None,
            constituent: None,
            sensitive: Vec::new(),
            foreign: false,
        }
    }
}

/// An object that may leave the node, with its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Shareable {
    pub object: Value,
    pub meta: ShareMeta,
}

/// An object kept back, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Withheld {
    pub id: String,
    pub reason: String,
}

/// What [`release`] lets out.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Released {
    pub objects: Vec<Value>,
    pub withheld: Vec<Withheld>,
}

/// The node's secret key for pseudonyms. Same key, same pseudonym: that is what makes them
/// useful for correlation, and why the key must never be shared.
#[derive(Clone)]
pub struct PseudonymKey(Vec<u8>);

impl PseudonymKey {
    pub fn new(bytes: Vec<u8>) -> PseudonymKey {
        PseudonymKey(bytes)
    }

    /// `p-<128 bits of HMAC-SHA256(key, value) in hex>.pseudonym.invalid` (RFC 2606's `.invalid`
    /// can never be a real name, so a pseudonym cannot be mistaken for an indicator).
    pub fn pseudonym(&self, value: &str) -> String {
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| {
            <Hmac<sha2::Sha256> as Mac>::new_from_slice(b"").expect("HMAC takes any key")
        });
        mac.update(value.as_bytes());
        let out = mac.finalize().into_bytes();
        format!("p-{}.pseudonym.invalid", hex::encode(&out[..16]))
    }
}

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(..)")
    }
}

/// Why an object may not go to this recipient at all, or `None` if it may.
pub fn gate(policy: &Policy, meta: &ShareMeta) -> Option<String> {
    if meta.tlp == Tlp::Red {
        return Some("TLP:RED never leaves this node".into());
    }
    if meta.tlp > policy.max_tlp {
        return Some(format!(
            "{} is above the recipient's clearance ({})",
            meta.tlp, policy.max_tlp
        ));
    }
    // TLP:AMBER from another organisation may reach this node's clients (its constituents),
    // never other peers; AMBER+STRICT from elsewhere stays in this organisation.
    if meta.foreign && meta.tlp == Tlp::Amber && policy.constituent.is_none() {
        return Some("TLP:AMBER received from a peer is not passed on to other peers".into());
    }
    if meta.foreign && meta.tlp == Tlp::AmberStrict {
        return Some("TLP:AMBER+STRICT received from a peer stays in this organisation".into());
    }
    if meta.tlp == Tlp::AmberStrict
        && (policy.constituent.is_none() || meta.constituent != policy.constituent)
    {
        return Some("TLP:AMBER+STRICT goes only to the constituent it concerns".into());
    }
    if let (Some(types), Some(t)) = (&policy.types, &meta.classification_type) {
        let taxonomy = t
            .parse::<focal_model::ClassificationType>()
            .map(|c| c.taxonomy().as_str().to_string())
            .unwrap_or_default();
        if !types.contains(t) && !types.contains(&taxonomy) {
            return Some(format!(
                "classification type {t} is not shared with this recipient"
            ));
        }
    }
    None
}

const VALUE_SCOS: [&str; 4] = ["ipv4-addr", "ipv6-addr", "domain-name", "url"];
/// References without which an object means nothing.
const REQUIRED_REFS: [&str; 4] = ["source_ref", "target_ref", "sighting_of_ref", "object_refs"];

/// The choke point: which of `items` may go to the recipient of `policy`, redacted as it says.
pub fn release(policy: &Policy, key: &PseudonymKey, items: Vec<Shareable>) -> Released {
    let mut out = Released::default();
    // Every value to hide in this release, and the SCO ids derived from it, whichever page or
    // item they are on: ids of observables are hashes of their values.
    let mut hidden: HashMap<String, Redaction> = HashMap::new();
    // Ids withheld by TLP, type or constituent: references to them must not leave either (an
    // observable's id is a hash of its value).
    let mut held_back: HashSet<String> = HashSet::new();
    let mut kept = Vec::with_capacity(items.len());
    for item in items {
        let id = object_id(&item.object);
        if let Some(reason) = gate(policy, &item.meta) {
            held_back.insert(id.clone());
            out.withheld.push(Withheld { id, reason });
            continue;
        }
        for s in &item.meta.sensitive {
            if let Some(action) = policy.redact.get(&s.field) {
                let entry = hidden.entry(s.value.clone()).or_insert(*action);
                if *action == Redaction::Drop {
                    *entry = Redaction::Drop;
                }
            }
        }
        kept.push(item.object);
    }
    // The same observable may come from a withheld event and from a released one; released wins.
    for o in &kept {
        held_back.remove(&object_id(o));
    }
    let mut id_map: HashMap<String, String> = HashMap::new();
    let mut dropped: HashSet<String> = held_back;
    let mut old_ids: HashSet<String> = HashSet::new();
    for (value, action) in &hidden {
        for t in VALUE_SCOS {
            let old = sco_id(t, &serde_json::json!({ "value": value }));
            old_ids.insert(old.clone());
            match action {
                Redaction::Drop => {
                    dropped.insert(old);
                }
                Redaction::Pseudonymise => {
                    let p = key.pseudonym(value);
                    id_map.insert(
                        old,
                        sco_id("domain-name", &serde_json::json!({ "value": p })),
                    );
                }
            }
        }
    }
    let mut objects: Vec<Value> = Vec::with_capacity(kept.len());
    for object in kept {
        match redact_object(object, &hidden, key) {
            Ok(o) => objects.push(o),
            Err(id) => {
                out.withheld.push(Withheld {
                    id: id.clone(),
                    reason: "carries a value the policy drops".into(),
                });
                dropped.insert(id);
            }
        }
    }
    // Drop whatever lost a required reference, until nothing changes.
    loop {
        let mut changed = false;
        let mut next = Vec::with_capacity(objects.len());
        for mut o in objects {
            if fix_refs(&mut o, &id_map, &dropped) {
                next.push(o);
            } else {
                let id = object_id(&o);
                out.withheld.push(Withheld {
                    id: id.clone(),
                    reason: "refers only to objects withheld by the policy".into(),
                });
                dropped.insert(id);
                changed = true;
            }
        }
        objects = next;
        if !changed {
            break;
        }
    }
    // The last line of defence: no redacted value (as is, escaped for a pattern, or escaped
    // for JSON) or value-derived id in any released text.
    let needles: Vec<String> = hidden
        .keys()
        .flat_map(|v| {
            let json = serde_json::to_string(v).unwrap_or_default();
            let json = json.trim_matches('"').to_string();
            let pattern = stix::quote(v);
            let pattern_json = serde_json::to_string(&pattern).unwrap_or_default();
            [
                v.clone(),
                json,
                pattern,
                pattern_json.trim_matches('"').to_string(),
            ]
        })
        .filter(|n| !n.is_empty())
        .collect();
    for o in objects {
        let text = o.to_string();
        if needles.iter().any(|v| text.contains(v.as_str()))
            || old_ids.iter().any(|i| text.contains(i.as_str()))
        {
            out.withheld.push(Withheld {
                id: object_id(&o),
                reason: "still contained a redacted value after redaction".into(),
            });
        } else {
            out.objects.push(o);
        }
    }
    out
}

fn object_id(o: &Value) -> String {
    o.get("id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Redacts one object; `Err(id)` if it must be dropped.
fn redact_object(
    mut o: Value,
    hidden: &HashMap<String, Redaction>,
    key: &PseudonymKey,
) -> Result<Value, String> {
    let id = object_id(&o);
    let type_ = o
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    // An observable whose value is hidden: dropped, or replaced by its pseudonym.
    if VALUE_SCOS.contains(&type_.as_str())
        && let Some(v) = o.get("value").and_then(Value::as_str)
        && let Some(action) = hidden.get(v)
    {
        return match action {
            Redaction::Drop => Err(id),
            Redaction::Pseudonymise => {
                let p = key.pseudonym(v);
                let mut n = stix::Observable::Domain(p).object(Tlp::Clear);
                n["object_marking_refs"] = o
                    .get("object_marking_refs")
                    .cloned()
                    .unwrap_or(Value::Array(vec![]));
                Ok(n)
            }
        };
    }
    // A value counts where it stands whole: a string equal to it, or a quoted pattern literal.
    // (A longer value that merely contains it, 198.51.100.17 for 198.51.100.1, is not
    // rewritten; the final check then withholds the object rather than let it out mangled.)
    let present: Vec<(&String, &Redaction)> =
        hidden.iter().filter(|(v, _)| mentions(&o, v)).collect();
    if present.is_empty() {
        return Ok(o);
    }
    if present.iter().any(|(_, a)| **a == Redaction::Drop) {
        return Err(id);
    }
    let mut rewrites: Vec<(String, String)> = Vec::new();
    for (v, _) in &present {
        let p = key.pseudonym(v);
        // In patterns the value stands escaped (a URL may hold ' or \).
        let q = stix::quote(v);
        for t in ["ipv4-addr", "ipv6-addr", "url"] {
            rewrites.push((
                format!("{t}:value = '{q}'"),
                format!("domain-name:value = '{p}'"),
            ));
        }
        rewrites.push((format!("'{q}'"), format!("'{p}'")));
    }
    let whole: HashMap<&str, String> = present
        .iter()
        .map(|(v, _)| (v.as_str(), key.pseudonym(v)))
        .collect();
    rewrite_strings(&mut o, &rewrites, &whole);
    Ok(o)
}

/// Whether any string in `v` is `needle` or contains it as a quoted pattern literal.
fn mentions(v: &Value, needle: &str) -> bool {
    match v {
        Value::String(s) => {
            s == needle
                || s.contains(&format!("'{needle}'"))
                || s.contains(&format!("'{}'", stix::quote(needle)))
        }
        Value::Array(items) => items.iter().any(|i| mentions(i, needle)),
        Value::Object(map) => map.values().any(|i| mentions(i, needle)),
        _ => false,
    }
}

fn rewrite_strings(v: &mut Value, rewrites: &[(String, String)], whole: &HashMap<&str, String>) {
    match v {
        Value::String(s) => {
            if let Some(p) = whole.get(s.as_str()) {
                *s = p.clone();
                return;
            }
            for (from, to) in rewrites {
                if s.contains(from.as_str()) {
                    *s = s.replace(from.as_str(), to);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|i| rewrite_strings(i, rewrites, whole)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|i| rewrite_strings(i, rewrites, whole)),
        _ => {}
    }
}

/// Rewrites references to pseudonymised observables and removes references to dropped objects.
/// Returns false if the object lost a reference it cannot do without.
fn fix_refs(o: &mut Value, id_map: &HashMap<String, String>, dropped: &HashSet<String>) -> bool {
    let Some(map) = o.as_object_mut() else {
        return true;
    };
    let mut remove = Vec::new();
    for (k, v) in map.iter_mut() {
        if k.ends_with("_ref") {
            if let Some(r) = v.as_str() {
                if dropped.contains(r) {
                    if REQUIRED_REFS.contains(&k.as_str()) {
                        return false;
                    }
                    remove.push(k.clone());
                } else if let Some(n) = id_map.get(r) {
                    *v = Value::String(n.clone());
                }
            }
        } else if k.ends_with("_refs")
            && let Some(list) = v.as_array_mut()
        {
            list.retain(|r| !r.as_str().is_some_and(|r| dropped.contains(r)));
            for r in list.iter_mut() {
                if let Some(n) = r.as_str().and_then(|s| id_map.get(s)) {
                    *r = Value::String(n.clone());
                }
            }
            // A pseudonym may merge two references into one.
            let mut seen = HashSet::new();
            list.retain(|r| seen.insert(r.to_string()));
            if list.is_empty() {
                if REQUIRED_REFS.contains(&k.as_str()) {
                    return false;
                }
                remove.push(k.clone());
            }
        }
    }
    for k in remove {
        map.remove(&k);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(tlp: Tlp) -> ShareMeta {
        ShareMeta {
            tlp,
            ..ShareMeta::clear()
        }
    }

    #[test]
    fn a_url_with_quotes_or_backslashes_is_redacted_in_patterns_too() {
        let mut p = Policy::default();
        p.redact
            .insert("source.url".into(), Redaction::Pseudonymise);
        let key = PseudonymKey::new(b"k".to_vec());
        let url = r"http://x.example/a'b\c";
        let meta = ShareMeta {
            sensitive: vec![Sensitive {
                field: "source.url".into(),
                value: url.into(),
            }],
            ..meta(Tlp::Green)
        };
        let indicator = serde_json::json!({
            "type": "indicator", "id": "indicator--u",
            "pattern": format!("[url:value = '{}']", stix::quote(url)),
        });
        let r = release(
            &p,
            &key,
            vec![Shareable {
                object: indicator,
                meta,
            }],
        );
        let text = serde_json::to_string(&r.objects).unwrap();
        assert!(!text.contains("x.example"), "the URL leaked: {text}");
        assert_eq!(r.objects.len(), 1, "pseudonymised, not withheld: {r:?}");
        assert!(text.contains(&key.pseudonym(url)));
    }

    #[test]
    fn references_to_objects_withheld_by_tlp_are_cut() {
        let p = Policy {
            max_tlp: Tlp::Green,
            ..Policy::default()
        };
        let key = PseudonymKey::new(b"k".to_vec());
        let red_sco =
            serde_json::json!({"type": "ipv4-addr", "id": "ipv4-addr--red", "value": "192.0.2.66"});
        let green_sco = serde_json::json!({"type": "ipv4-addr", "id": "ipv4-addr--green", "value": "192.0.2.1"});
        let report = serde_json::json!({
            "type": "report", "id": "report--r",
            "object_refs": ["ipv4-addr--red", "ipv4-addr--green"],
        });
        let r = release(
            &p,
            &key,
            vec![
                Shareable {
                    object: red_sco,
                    meta: meta(Tlp::Red),
                },
                Shareable {
                    object: green_sco,
                    meta: meta(Tlp::Green),
                },
                Shareable {
                    object: report,
                    meta: meta(Tlp::Green),
                },
            ],
        );
        let text = serde_json::to_string(&r.objects).unwrap();
        assert!(
            !text.contains("ipv4-addr--red"),
            "a withheld id leaked: {text}"
        );
        let report = r
            .objects
            .iter()
            .find(|o| o["type"] == "report")
            .expect("report kept");
        assert_eq!(
            report["object_refs"],
            serde_json::json!(["ipv4-addr--green"])
        );
    }

    #[test]
    fn a_granular_red_marking_makes_the_object_red() {
        let red = stix::tlp_marking_definition(Tlp::Red)["id"].clone();
        let green = stix::tlp_marking_definition(Tlp::Green)["id"].clone();
        let o = serde_json::json!({
            "type": "indicator", "id": "indicator--g",
            "object_marking_refs": [green],
            "granular_markings": [{"marking_ref": red, "selectors": ["description"]}],
        });
        assert_eq!(stix::object_tlp(&o), Some(Tlp::Red));
    }

    #[test]
    fn pseudonyms_replace_whole_values_only() {
        let mut p = Policy::default();
        p.redact.insert("source.ip".into(), Redaction::Pseudonymise);
        let key = PseudonymKey::new(b"k".to_vec());
        let hidden = "198.51.100.1";
        let meta = ShareMeta {
            sensitive: vec![Sensitive {
                field: "source.ip".into(),
                value: hidden.into(),
            }],
            ..meta(Tlp::Green)
        };
        let mine = serde_json::json!({"type": "indicator", "id": "indicator--a", "pattern": format!("[ipv4-addr:value = '{hidden}']")});
        let other = serde_json::json!({"type": "indicator", "id": "indicator--b", "pattern": "[ipv4-addr:value = '198.51.100.17']"});
        let r = release(
            &p,
            &key,
            vec![
                Shareable {
                    object: mine,
                    meta: meta.clone(),
                },
                Shareable {
                    object: other,
                    meta,
                },
            ],
        );
        assert_eq!(r.objects.len(), 1, "{r:?}");
        assert_eq!(
            r.objects[0]["pattern"],
            format!("[domain-name:value = '{}']", key.pseudonym(hidden))
        );
        // The other indicator is kept back whole, not let out with a mangled address.
        assert_eq!(r.withheld.len(), 1);
        assert_eq!(r.withheld[0].id, "indicator--b");
    }

    #[test]
    fn amber_from_peers_is_not_passed_on_to_peers() {
        let peer = Policy {
            max_tlp: Tlp::AmberStrict,
            ..Policy::default()
        };
        let constituent = Policy {
            constituent: Some("c1".into()),
            ..peer.clone()
        };
        let mut m = meta(Tlp::Amber);
        assert!(gate(&peer, &m).is_none());
        m.foreign = true;
        assert!(gate(&peer, &m).is_some());
        assert!(gate(&constituent, &m).is_none());
        m.tlp = Tlp::Green;
        assert!(gate(&peer, &m).is_none());
        m.tlp = Tlp::AmberStrict;
        m.constituent = Some("c1".into());
        assert!(gate(&constituent, &m).is_some());
    }

    #[test]
    fn red_never_leaves_and_strict_only_to_its_constituent() {
        let all = Policy {
            max_tlp: Tlp::Red,
            constituent: Some("c1".into()),
            ..Policy::default()
        };
        assert!(gate(&all, &meta(Tlp::Red)).is_some());
        let mut strict = meta(Tlp::AmberStrict);
        assert!(gate(&all, &strict).is_some());
        strict.constituent = Some("c1".into());
        assert!(gate(&all, &strict).is_none());
        strict.constituent = Some("c2".into());
        assert!(gate(&all, &strict).is_some());
        let green = Policy::default();
        assert!(gate(&green, &meta(Tlp::Amber)).is_some());
        assert!(gate(&green, &meta(Tlp::Green)).is_none());
        assert!(gate(&green.narrowed(Some(Tlp::Clear)), &meta(Tlp::Green)).is_some());
    }

    #[test]
    fn taxonomy_filter_accepts_types_and_taxonomies() {
        let p = Policy {
            types: Some(["malicious-code".to_string()].into()),
            ..Policy::default()
        };
        let mut m = meta(Tlp::Green);
        m.classification_type = Some("c2-server".into());
        assert!(gate(&p, &m).is_none());
        m.classification_type = Some("scanner".into());
        assert!(gate(&p, &m).is_some());
    }
}
