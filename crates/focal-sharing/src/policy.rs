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
use aho_corasick::{AhoCorasick, MatchKind};
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
    /// Markings on the object that Focal could not interpret: the object is then TLP:RED for
    /// sharing (kept and shown to staff, never relayed), and counted in `/metrics`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uninterpreted_markings: Vec<String>,
}

impl ShareMeta {
    pub fn clear() -> ShareMeta {
        ShareMeta {
            tlp: Tlp::Clear,
            classification_type: None,
            constituent: None,
            sensitive: Vec::new(),
            foreign: false,
            uninterpreted_markings: Vec::new(),
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

/// The TLP part of [`gate`] as stored values, for the store to select only what this recipient
/// may see (so pages are full); [`gate`] still runs on every object read.
pub fn visibility(policy: &Policy) -> focal_store::sharing::Visibility {
    let colours = |foreign: bool| {
        Tlp::ALL
            .into_iter()
            .filter(|t| {
                let meta = ShareMeta {
                    tlp: *t,
                    foreign,
                    // The constituent rule for AMBER+STRICT is matched on the stored value.
                    constituent: policy.constituent.clone(),
                    ..ShareMeta::clear()
                };
                gate(
                    &Policy {
                        types: None,
                        ..policy.clone()
                    },
                    &meta,
                )
                .is_none()
            })
            .map(|t| t.as_str().to_string())
            .collect()
    };
    focal_store::sharing::Visibility {
        local_tlps: colours(false),
        foreign_tlps: colours(true),
        strict_constituent: policy.constituent.clone(),
    }
}

const VALUE_SCOS: [&str; 4] = ["ipv4-addr", "ipv6-addr", "domain-name", "url"];
/// References without which an object means nothing.
const REQUIRED_REFS: [&str; 4] = ["source_ref", "target_ref", "sighting_of_ref", "object_refs"];

/// The choke point: which of `items` may go to the recipient of `policy`, redacted as it says,
/// closed under references: everything released refers only to objects released with it (or
/// to the TLP marking definitions every STIX tool knows). See [`release_closed`].
pub fn release(policy: &Policy, key: &PseudonymKey, items: Vec<Shareable>) -> Released {
    release_closed(policy, key, items, &|_| None)
}

/// Whether a report is Focal's own summary over events: its `object_refs` are narrowed to what
/// a recipient may see and it is re-marked, rather than withheld whole.
fn narrowable(object: &Value, meta: &ShareMeta) -> bool {
    object["type"] == "report" && !meta.foreign && meta.uninterpreted_markings.is_empty()
}

/// [`release`] where the recipient already holds, or has been sent before, some objects:
/// `held(id)` is the TLP of such an object (`None`: not held). Every released object's
/// references are released with it or held; an object that would dangle is withheld (a
/// relationship, sighting or observed-data whose endpoint is withheld goes with it), except
/// Focal's own reports, whose `object_refs` are narrowed to what remains and which are then
/// marked with the highest TLP among it.
pub fn release_closed(
    policy: &Policy,
    key: &PseudonymKey,
    mut items: Vec<Shareable>,
    held: &dyn Fn(&str) -> Option<Tlp>,
) -> Released {
    // Only what the recipient may hold counts (its clearance may have been lowered since).
    let held = |r: &str| held(r).filter(|t| *t != Tlp::Red && *t <= policy.max_tlp);
    // Focal's reports are gated by what they will hold, not by the most restrictive event they
    // were built over (an incident with one RED event still gets a report at GREEN).
    let mut report_meta: HashMap<String, ShareMeta> = HashMap::new();
    for item in items.iter_mut() {
        if narrowable(&item.object, &item.meta) && item.meta.tlp != Tlp::AmberStrict {
            report_meta.insert(object_id(&item.object), item.meta.clone());
            item.meta.tlp = Tlp::Clear;
        }
    }
    // The TLP of everything that passes the gate, for re-marking reports.
    let mut tlp_of: HashMap<String, Tlp> = HashMap::new();
    for item in &items {
        if gate(policy, &item.meta).is_none() {
            let id = object_id(&item.object);
            let t = tlp_of.entry(id).or_insert(item.meta.tlp);
            *t = (*t).min(item.meta.tlp);
        }
    }
    let mut out = release_open(policy, key, items);
    // The same SCO may come as several copies (one per TLP of the events that produced it):
    // the recipient gets one, the least restricted (released first wins among equals).
    let mut best: HashMap<String, (usize, Tlp)> = HashMap::new();
    for (i, o) in out.objects.iter().enumerate() {
        let t = stix::object_tlp(o).unwrap_or(Tlp::Red);
        let e = best.entry(object_id(o)).or_insert((i, t));
        if t < e.1 {
            *e = (i, t);
        }
    }
    let keep: HashSet<usize> = best.values().map(|v| v.0).collect();
    let mut i = 0;
    out.objects.retain(|_| {
        i += 1;
        keep.contains(&(i - 1))
    });
    // Close under references, until nothing changes.
    loop {
        let present: HashSet<String> = out.objects.iter().map(object_id).collect();
        let ok =
            |r: &str| stix::tlp_of_marking(r).is_some() || present.contains(r) || held(r).is_some();
        let mut changed = false;
        let mut next = Vec::with_capacity(out.objects.len());
        for mut o in std::mem::take(&mut out.objects) {
            let id = object_id(&o);
            let missing: Vec<(String, String)> = crate::vocab::references(&o)
                .into_iter()
                .filter(|r| !ok(r.id))
                .map(|r| (r.property.clone(), r.id.to_string()))
                .collect();
            if missing.is_empty() {
                next.push(o);
                continue;
            }
            changed = true;
            if report_meta.contains_key(&id)
                && missing.iter().all(|m| m.0 == "object_refs")
                && let Some(list) = o.get_mut("object_refs").and_then(Value::as_array_mut)
            {
                list.retain(|r| r.as_str().is_some_and(&ok));
                if !list.is_empty() {
                    next.push(o);
                    continue;
                }
            }
            out.withheld.push(Withheld {
                id,
                reason: format!(
                    "refers ({}) to {}, which the recipient is not sent",
                    missing[0].0, missing[0].1
                ),
            });
        }
        out.objects = next;
        if !changed {
            break;
        }
    }
    // Reports: marked with the highest TLP among what they still hold.
    for o in out.objects.iter_mut() {
        let id = object_id(o);
        let Some(meta) = report_meta.get(&id) else {
            continue;
        };
        let tlp = o["object_refs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(|r| tlp_of.get(r).copied().or_else(|| held(r)))
            .max()
            .unwrap_or(Tlp::Clear);
        // Never above what the report itself was built at.
        let tlp = tlp.min(meta.tlp);
        o["object_marking_refs"] = serde_json::json!([stix::tlp_marking_id(tlp)]);
    }
    out
}

/// The gate and redaction, without closure under references.
fn release_open(policy: &Policy, key: &PseudonymKey, items: Vec<Shareable>) -> Released {
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
    let redactor = match Redactor::new(&hidden, &old_ids, key) {
        Ok(r) => r,
        Err(e) => {
            // Fail closed: without the automaton nothing can be shown to be free of the values.
            for o in kept {
                out.withheld.push(Withheld {
                    id: object_id(&o),
                    reason: format!("the redaction could not be prepared: {e}"),
                });
            }
            return out;
        }
    };
    let mut objects: Vec<Value> = Vec::with_capacity(kept.len());
    for object in kept {
        match redactor.redact(object) {
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
    for o in objects {
        if redactor.leaks(&o.to_string()) {
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

/// The forms a hidden value takes in released JSON (as is, escaped for JSON, quoted for a
/// pattern, and that escaped for JSON), for the final check.
fn leak_forms(v: &str) -> [String; 4] {
    let json = serde_json::to_string(v).unwrap_or_default();
    let pattern = stix::quote(v);
    let pattern_json = serde_json::to_string(&pattern).unwrap_or_default();
    [
        v.to_string(),
        json.trim_matches('"').to_string(),
        pattern,
        pattern_json.trim_matches('"').to_string(),
    ]
}

/// The quoted pattern literals that stand for a hidden value (`'v'`, and `'v'` escaped as a
/// pattern writes it).
fn literal_forms(v: &str) -> [String; 2] {
    [format!("'{v}'"), format!("'{}'", stix::quote(v))]
}

/// Finds and rewrites the hidden values of one release in time linear in the size of what is
/// released: each object is read once by an automaton over every form of every hidden value
/// (Aho–Corasick), where a scan of every object for every value never finished on 16,901
/// events (issue 12, item 7). `tests::redactor_matches_the_scan_per_value` holds it to the
/// straightforward scan.
struct Redactor<'a> {
    hidden: &'a HashMap<String, Redaction>,
    key: &'a PseudonymKey,
    /// The quoted pattern literals of the hidden values, and for each, the values it stands for.
    literals: Option<AhoCorasick>,
    literal_values: Vec<Vec<&'a str>>,
    /// Every form of a hidden value or value-derived id that must not appear in released text.
    leaks: Option<AhoCorasick>,
}

impl<'a> Redactor<'a> {
    fn new(
        hidden: &'a HashMap<String, Redaction>,
        old_ids: &HashSet<String>,
        key: &'a PseudonymKey,
    ) -> Result<Redactor<'a>, aho_corasick::BuildError> {
        let mut literal_index: HashMap<String, usize> = HashMap::new();
        let mut literal_values: Vec<Vec<&'a str>> = Vec::new();
        let mut leak_needles: HashSet<String> = HashSet::new();
        for v in hidden.keys() {
            for l in literal_forms(v) {
                let i = *literal_index.entry(l).or_insert_with(|| {
                    literal_values.push(Vec::new());
                    literal_values.len() - 1
                });
                if !literal_values[i].contains(&v.as_str()) {
                    literal_values[i].push(v.as_str());
                }
            }
            leak_needles.extend(leak_forms(v).into_iter().filter(|n| !n.is_empty()));
        }
        leak_needles.extend(old_ids.iter().filter(|i| !i.is_empty()).cloned());
        let mut literal_patterns = vec![String::new(); literal_values.len()];
        for (l, i) in literal_index {
            literal_patterns[i] = l;
        }
        // Standard semantics: overlapping search reports every literal wherever it stands.
        let build = |patterns: Vec<String>| -> Result<Option<AhoCorasick>, _> {
            if patterns.is_empty() {
                return Ok(None);
            }
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(patterns)
                .map(Some)
        };
        Ok(Redactor {
            hidden,
            key,
            literals: build(literal_patterns)?,
            literal_values,
            leaks: build(leak_needles.into_iter().collect())?,
        })
    }

    /// Whether `text` holds any hidden value or value-derived id, in any form.
    fn leaks(&self, text: &str) -> bool {
        self.leaks.as_ref().is_some_and(|ac| ac.is_match(text))
    }

    /// The hidden values `v` mentions: a string equal to one, or holding one as a quoted
    /// pattern literal.
    fn mentioned(&self, v: &Value, found: &mut BTreeSet<&'a str>) {
        match v {
            Value::String(s) => {
                if let Some((k, _)) = self.hidden.get_key_value(s.as_str()) {
                    found.insert(k.as_str());
                }
                if let Some(ac) = &self.literals {
                    for m in ac.find_overlapping_iter(s.as_str()) {
                        found.extend(self.literal_values[m.pattern().as_usize()].iter().copied());
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| self.mentioned(i, found)),
            Value::Object(map) => map.values().for_each(|i| self.mentioned(i, found)),
            _ => {}
        }
    }

    /// Redacts one object; `Err(id)` if it must be dropped.
    fn redact(&self, mut o: Value) -> Result<Value, String> {
        let id = object_id(&o);
        let type_ = o
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        // An observable whose value is hidden: dropped, or replaced by its pseudonym.
        if VALUE_SCOS.contains(&type_.as_str())
            && let Some(v) = o.get("value").and_then(Value::as_str)
            && let Some(action) = self.hidden.get(v)
        {
            return match action {
                Redaction::Drop => Err(id),
                Redaction::Pseudonymise => {
                    let p = self.key.pseudonym(v);
                    let mut n = stix::Observable::Domain(p).object(Tlp::Clear);
                    n["object_marking_refs"] = o
                        .get("object_marking_refs")
                        .cloned()
                        .unwrap_or(Value::Array(vec![]));
                    Ok(n)
                }
            };
        }
        // A value counts where it stands whole: a string equal to it, or a quoted pattern
        // literal. (A longer value that merely contains it, 198.51.100.17 for 198.51.100.1, is
        // not rewritten; the final check then withholds the object rather than let it out
        // mangled.)
        let mut present = BTreeSet::new();
        self.mentioned(&o, &mut present);
        if present.is_empty() {
            return Ok(o);
        }
        if present
            .iter()
            .any(|v| self.hidden.get(*v) == Some(&Redaction::Drop))
        {
            return Err(id);
        }
        let (rewrites, whole) = pseudonym_rewrites(&present, self.key);
        rewrite_strings(&mut o, &rewrites, &whole);
        Ok(o)
    }
}

/// The replacements that pseudonymise `present` values: in patterns (where a value stands
/// escaped, and an address becomes a domain name) and as whole strings.
fn pseudonym_rewrites<'v>(
    present: &BTreeSet<&'v str>,
    key: &PseudonymKey,
) -> (Vec<(String, String)>, HashMap<&'v str, String>) {
    let mut rewrites: Vec<(String, String)> = Vec::new();
    let mut whole: HashMap<&str, String> = HashMap::new();
    for v in present {
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
        whole.insert(v, p);
    }
    (rewrites, whole)
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

    /// The straightforward redaction that [`Redactor`] replaces: every object scanned for every
    /// hidden value. Kept as the oracle the automaton must agree with.
    fn scan_mentions(v: &Value, needle: &str) -> bool {
        match v {
            Value::String(s) => {
                s == needle
                    || s.contains(&format!("'{needle}'"))
                    || s.contains(&format!("'{}'", stix::quote(needle)))
            }
            Value::Array(items) => items.iter().any(|i| scan_mentions(i, needle)),
            Value::Object(map) => map.values().any(|i| scan_mentions(i, needle)),
            _ => false,
        }
    }

    fn scan_redact(
        mut o: Value,
        hidden: &HashMap<String, Redaction>,
        key: &PseudonymKey,
    ) -> Result<Value, String> {
        let id = object_id(&o);
        let type_ = o["type"].as_str().unwrap_or("").to_string();
        if VALUE_SCOS.contains(&type_.as_str())
            && let Some(v) = o.get("value").and_then(Value::as_str)
            && let Some(action) = hidden.get(v)
        {
            return match action {
                Redaction::Drop => Err(id),
                Redaction::Pseudonymise => {
                    let mut n = stix::Observable::Domain(key.pseudonym(v)).object(Tlp::Clear);
                    n["object_marking_refs"] = o
                        .get("object_marking_refs")
                        .cloned()
                        .unwrap_or(Value::Array(vec![]));
                    Ok(n)
                }
            };
        }
        let present: BTreeSet<&str> = hidden
            .keys()
            .filter(|v| scan_mentions(&o, v))
            .map(String::as_str)
            .collect();
        if present.is_empty() {
            return Ok(o);
        }
        if present.iter().any(|v| hidden[*v] == Redaction::Drop) {
            return Err(id);
        }
        let (rewrites, whole) = pseudonym_rewrites(&present, key);
        rewrite_strings(&mut o, &rewrites, &whole);
        Ok(o)
    }

    fn scan_leaks(text: &str, hidden: &HashMap<String, Redaction>, old: &HashSet<String>) -> bool {
        hidden
            .keys()
            .flat_map(|v| leak_forms(v))
            .filter(|n| !n.is_empty())
            .any(|n| text.contains(n.as_str()))
            || old.iter().any(|i| text.contains(i.as_str()))
    }

    /// A string as pieces: tokens hidden values are made of, pattern fragments, and (by index)
    /// hidden values themselves, so that values, quoted literals, escapes and overlaps between
    /// values occur often.
    type Pieces = Vec<Result<String, usize>>;

    fn text() -> impl proptest::strategy::Strategy<Value = Pieces> {
        use proptest::prelude::*;
        proptest::collection::vec(
            prop_oneof![
                "(ipv4-addr:value = |url:value = |'|a|1|\\.|\\\\| OR |\\[|\\])".prop_map(Ok),
                (0usize..7).prop_map(Err),
            ],
            0..10,
        )
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
        #[test]
        fn redactor_matches_the_scan_per_value(
            values in proptest::collection::vec(("[a1.'\\\\]{0,4}", proptest::bool::ANY), 1..7),
            objects in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["indicator", "ipv4-addr", "url", "note"]),
                    proptest::option::of(0usize..7),
                    text(),
                    proptest::collection::vec(text(), 0..4),
                    proptest::option::of(0usize..7),
                ),
                1..12,
            ),
        ) {
            let key = PseudonymKey::new(b"k".to_vec());
            let mut hidden: HashMap<String, Redaction> = HashMap::new();
            for (v, drop) in &values {
                let a = if *drop { Redaction::Drop } else { Redaction::Pseudonymise };
                let e = hidden.entry(v.clone()).or_insert(a);
                if a == Redaction::Drop {
                    *e = Redaction::Drop;
                }
            }
            let old_ids: HashSet<String> = hidden
                .keys()
                .flat_map(|v| VALUE_SCOS.map(|t| sco_id(t, &serde_json::json!({ "value": v }))))
                .collect();
            let redactor = Redactor::new(&hidden, &old_ids, &key).unwrap();
            let pick = |i: usize| values[i % values.len()].0.clone();
            let join = |p: Pieces| -> String {
                p.into_iter().map(|x| x.unwrap_or_else(pick)).collect()
            };
            for (n, (type_, value, pattern, labels, id_of)) in objects.into_iter().enumerate() {
                let pattern = join(pattern);
                let labels: Vec<String> = labels.into_iter().map(join).collect();
                let mut o = serde_json::json!({
                    "type": type_, "id": format!("{type_}--{n}"),
                    "value": value.map(pick).unwrap_or_else(|| pattern.clone()),
                    "pattern": pattern, "labels": labels,
                    "nested": {"x": [value.map(pick)]},
                });
                if let Some(i) = id_of {
                    o["sighting_of_ref"] = sco_id("url", &serde_json::json!({ "value": pick(i) })).into();
                }
                let fast = redactor.redact(o.clone());
                let slow = scan_redact(o.clone(), &hidden, &key);
                proptest::prop_assert_eq!(&fast, &slow, "{}", o);
                for t in [o.to_string()].into_iter().chain(fast.ok().map(|v| v.to_string())) {
                    proptest::prop_assert_eq!(
                        redactor.leaks(&t),
                        scan_leaks(&t, &hidden, &old_ids),
                        "{}",
                        t
                    );
                }
            }
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
