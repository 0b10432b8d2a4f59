//! STIX 2.1 objects as Focal emits them.
//!
//! Hand-written rather than taken from a crate: no maintained Rust crate covers STIX 2.1 with
//! the TLP 2.0 extension markings and the deterministic SCO ids (the few that exist are
//! unmaintained drafts of 2.0 or 2.1 with the TLP 1.0 markings only). Focal emits a small, fixed
//! set of object types, so plain `serde` structs are the whole job. Objects received from peers
//! are kept as JSON values (see [`crate::validate`]), never re-serialised through these types,
//! so nothing a peer sent is silently dropped.

use focal_model::Tlp;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The namespace of deterministic SCO ids (STIX 2.1 §2.9). Used for SCOs only: the spec forbids
/// it for any other object.
pub const SCO_NAMESPACE: Uuid = Uuid::from_u128(0x00ab_edb4_aa42_466c_9c01_fed2_3315_a9b7);

/// Focal's own namespace for the ids of SDOs and SROs it derives from events, so exporting the
/// same event twice gives the same objects (and a peer receiving both stores one).
pub const FOCAL_STIX_NAMESPACE: Uuid = Uuid::from_u128(0x5d0c_27a1_9e4b_4f3c_8a61_2b7e_90c4_d1f8);

/// The TLP 2.0 extension definition (OASIS cti-stix-common-objects).
pub const TLP2_EXTENSION: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// The official ids of the five TLP 2.0 marking definitions, from the OASIS repository
/// `cti-stix-common-objects` (several public projects hard-code wrong ones).
pub fn tlp_marking_id(tlp: Tlp) -> &'static str {
    match tlp {
        Tlp::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        Tlp::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        Tlp::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        Tlp::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        Tlp::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    }
}

/// TLP 1.0 marking ids (built into STIX 2.1), so markings from older peers are understood.
const TLP1_MARKINGS: [(&str, Tlp); 4] = [
    (
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        Tlp::Clear,
    ),
    (
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        Tlp::Green,
    ),
    (
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
        Tlp::Amber,
    ),
    (
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
        Tlp::Red,
    ),
];

/// The TLP a marking-definition id stands for (TLP 2.0 or 1.0), if it is one.
pub fn tlp_of_marking(id: &str) -> Option<Tlp> {
    Tlp::ALL
        .into_iter()
        .find(|t| tlp_marking_id(*t) == id)
        .or_else(|| TLP1_MARKINGS.iter().find(|m| m.0 == id).map(|m| m.1))
}

/// The most restrictive TLP among an object's `object_marking_refs`; `None` if it has none.
pub fn object_tlp(object: &Value) -> Option<Tlp> {
    // Granular markings count too: a GREEN object with a RED marking on one property is RED
    // as a whole, since Focal shares objects whole.
    let object_level = object
        .get("object_marking_refs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let granular = object
        .get("granular_markings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|g| g.get("marking_ref"));
    object_level
        .chain(granular)
        .filter_map(|r| r.as_str().and_then(tlp_of_marking))
        .max()
}

/// What a marking-definition means for sharing, as far as Focal can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkingSense {
    /// A TLP level: an official TLP 2.0 or 1.0 id, the TLP 2.0 extension, `definition_type:
    /// "tlp"` (STIX 2.0 style, or OpenCTI's `"TLP"` with `{"TLP": "TLP:RED"}`), or a statement
    /// that names a TLP level (`"TLP:RED"`).
    Tlp(Tlp),
    /// A statement that names no TLP (a copyright or terms-of-use notice): relayed with the
    /// object, no limit on who may receive it.
    Statement,
    /// Anything else (an unknown definition type or extension, PAP, a reference to a definition
    /// this node does not have): the object is treated as TLP:RED for sharing.
    Unknown,
}

/// The most restrictive `TLP:<LEVEL>` named in free text (`"TLP:RED"`, `"tlp:amber+strict"`).
pub fn tlp_named_in(text: &str) -> Option<Tlp> {
    let upper = text.to_ascii_uppercase();
    let mut found = None;
    for (i, _) in upper.match_indices("TLP:") {
        let rest = upper[i + 4..].trim_start();
        // Longest spellings first, so AMBER+STRICT is not read as AMBER.
        let level = [
            "AMBER+STRICT",
            "AMBER-STRICT",
            "AMBER_STRICT",
            "CLEAR",
            "WHITE",
            "GREEN",
            "AMBER",
            "YELLOW",
            "RED",
        ]
        .into_iter()
        .find(|l| rest.starts_with(l))
        .and_then(|l| l.parse::<Tlp>().ok());
        found = found.max(level);
    }
    found
}

/// Interprets a marking-definition object. Only what is recognised lowers the bar: anything
/// else is [`MarkingSense::Unknown`], which callers treat as TLP:RED (fail closed).
pub fn interpret_marking(definition: &Value) -> MarkingSense {
    if let Some(t) = definition
        .get("id")
        .and_then(Value::as_str)
        .and_then(tlp_of_marking)
    {
        return MarkingSense::Tlp(t);
    }
    if let Some(ext) = definition.get("extensions").and_then(Value::as_object) {
        // The TLP 2.0 extension under any id (some tools mint their own definition ids).
        if let Some(level) = ext
            .get(TLP2_EXTENSION)
            .and_then(|e| e.get("tlp_2_0"))
            .and_then(Value::as_str)
        {
            return level
                .parse()
                .map(MarkingSense::Tlp)
                .unwrap_or(MarkingSense::Unknown);
        }
        if !ext.is_empty() {
            return MarkingSense::Unknown;
        }
    }
    let kind = definition
        .get("definition_type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let body = definition.get("definition");
    // A key looked up case-insensitively (`tlp`, OpenCTI's `TLP`).
    let field = |name: &str| {
        body.and_then(Value::as_object).and_then(|m| {
            m.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_str())
        })
    };
    match kind.as_str() {
        "tlp" => field("tlp")
            .and_then(|t| t.parse().ok())
            .map(MarkingSense::Tlp)
            .unwrap_or(MarkingSense::Unknown),
        "statement" => {
            let statement = field("statement").unwrap_or_default();
            let name = definition
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match tlp_named_in(statement).max(tlp_named_in(name)) {
                Some(t) => MarkingSense::Tlp(t),
                None => MarkingSense::Statement,
            }
        }
        _ => MarkingSense::Unknown,
    }
}

/// Every marking-definition id an object refers to (object-level and granular).
pub fn marking_refs(object: &Value) -> Vec<&str> {
    let object_level = object
        .get("object_marking_refs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let granular = object
        .get("granular_markings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|g| g.get("marking_ref"));
    object_level
        .chain(granular)
        .filter_map(Value::as_str)
        .collect()
}

/// An object's TLP from all its markings, each interpreted by `sense`: the most restrictive
/// level named, TLP:RED if any marking cannot be interpreted. Returns the TLP (`None` if no
/// marking names one) and the ids of the markings that could not be interpreted.
pub fn interpreted_tlp(
    object: &Value,
    sense: &dyn Fn(&str) -> MarkingSense,
) -> (Option<Tlp>, Vec<String>) {
    let mut tlp = None;
    let mut unknown = Vec::new();
    for r in marking_refs(object) {
        match tlp_of_marking(r)
            .map(MarkingSense::Tlp)
            .unwrap_or_else(|| sense(r))
        {
            MarkingSense::Tlp(t) => tlp = tlp.max(Some(t)),
            MarkingSense::Statement => {}
            MarkingSense::Unknown => {
                tlp = Some(Tlp::Red);
                if !unknown.iter().any(|u| u == r) {
                    unknown.push(r.to_string());
                }
            }
        }
    }
    (tlp, unknown)
}

/// A TLP 2.0 marking-definition object exactly as OASIS publishes it.
pub fn tlp_marking_definition(tlp: Tlp) -> Value {
    let level = match tlp {
        Tlp::Clear => "clear",
        Tlp::Green => "green",
        Tlp::Amber => "amber",
        Tlp::AmberStrict => "amber+strict",
        Tlp::Red => "red",
    };
    serde_json::json!({
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": tlp_marking_id(tlp),
        "created": "2022-10-01T00:00:00.000Z",
        "name": tlp.label(),
        "extensions": {
            TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": level}
        }
    })
}

/// A STIX timestamp: RFC 3339 UTC with exactly millisecond precision, as the spec requires for
/// `created` and `modified` (and allows everywhere else).
pub fn timestamp(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// JSON text with object keys sorted and no whitespace: RFC 8785 (JCS) for the values SCO ids are
/// computed from, which are strings, integers and objects of them.
fn canonical_json(value: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(map) => {
                let sorted: BTreeMap<&String, Value> =
                    map.iter().map(|(k, v)| (k, sort(v))).collect();
                serde_json::to_value(sorted).unwrap_or(Value::Null)
            }
            Value::Array(items) => Value::Array(items.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(value).to_string()
}

/// The deterministic id of an SCO from its ID-contributing properties (STIX 2.1 §2.9).
pub fn sco_id(type_: &str, contributing: &Value) -> String {
    format!(
        "{type_}--{}",
        Uuid::new_v5(&SCO_NAMESPACE, canonical_json(contributing).as_bytes())
    )
}

/// An id for an SDO or SRO derived from a stable name, in Focal's namespace.
pub fn derived_id(type_: &str, name: &str) -> String {
    format!(
        "{type_}--{}",
        Uuid::new_v5(
            &FOCAL_STIX_NAMESPACE,
            format!("{type_}\x1f{name}").as_bytes()
        )
    )
}

/// File hash algorithms in the order the spec picks the one that contributes to a file's id.
const HASH_ORDER: [&str; 4] = ["MD5", "SHA-1", "SHA-256", "SHA-512"];

/// A cyber-observable Focal emits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observable {
    Ipv4(String),
    Ipv6(String),
    Domain(String),
    Url(String),
    /// File hashes by STIX algorithm name (`MD5`, `SHA-1`, `SHA-256`, `SHA-512`).
    File(BTreeMap<String, String>),
}

impl Observable {
    pub fn type_name(&self) -> &'static str {
        match self {
            Observable::Ipv4(_) => "ipv4-addr",
            Observable::Ipv6(_) => "ipv6-addr",
            Observable::Domain(_) => "domain-name",
            Observable::Url(_) => "url",
            Observable::File(_) => "file",
        }
    }

    /// The SCO object, with its deterministic id and a marking.
    pub fn object(&self, tlp: Tlp) -> Value {
        let (contributing, mut object) = match self {
            Observable::Ipv4(v)
            | Observable::Ipv6(v)
            | Observable::Domain(v)
            | Observable::Url(v) => {
                let c = serde_json::json!({ "value": v });
                (c.clone(), c)
            }
            Observable::File(hashes) => {
                let chosen = HASH_ORDER
                    .iter()
                    .find_map(|alg| hashes.get_key_value(*alg))
                    .or_else(|| hashes.iter().next());
                let c = match chosen {
                    Some((alg, h)) => serde_json::json!({ "hashes": { alg.clone(): h } }),
                    None => serde_json::json!({}),
                };
                (c, serde_json::json!({ "hashes": hashes }))
            }
        };
        let map = object.as_object_mut().expect("built as an object");
        map.insert("type".into(), self.type_name().into());
        map.insert("spec_version".into(), "2.1".into());
        map.insert("id".into(), sco_id(self.type_name(), &contributing).into());
        map.insert(
            "object_marking_refs".into(),
            serde_json::json!([tlp_marking_id(tlp)]),
        );
        object
    }

    /// The STIX pattern comparison that matches this observable.
    pub fn comparison(&self) -> String {
        match self {
            Observable::File(hashes) => {
                let parts: Vec<String> = hashes
                    .iter()
                    .map(|(alg, h)| format!("file:hashes.'{alg}' = '{}'", quote(h)))
                    .collect();
                parts.join(" OR ")
            }
            Observable::Ipv4(v)
            | Observable::Ipv6(v)
            | Observable::Domain(v)
            | Observable::Url(v) => {
                format!("{}:value = '{}'", self.type_name(), quote(v))
            }
        }
    }
}

/// Escapes a string for a STIX pattern literal (backslash and single quote).
pub fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// A pattern matching any of the observables: one observation expression each, joined by OR.
pub fn pattern(observables: &[Observable]) -> String {
    observables
        .iter()
        .map(|o| format!("[{}]", o.comparison()))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// Properties every SDO and SRO carries.
#[derive(Debug, Clone, Serialize)]
pub struct Common {
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub spec_version: &'static str,
    pub id: String,
    pub created: String,
    pub modified: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by_ref: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub object_marking_refs: Vec<String>,
}

impl Common {
    pub fn new(type_: &'static str, id: String, at: Timestamp, tlp: Option<Tlp>) -> Common {
        Common {
            type_,
            spec_version: "2.1",
            id,
            created: timestamp(at),
            modified: timestamp(at),
            created_by_ref: None,
            labels: Vec::new(),
            object_marking_refs: tlp
                .map(|t| vec![tlp_marking_id(t).to_string()])
                .unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    #[serde(flatten)]
    pub common: Common,
    pub name: String,
    pub identity_class: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_information: Option<String>,
}

impl Identity {
    /// A node's identity as kept in its settings: its own random id, made at `init`, with the
    /// real time it was made (`created`) and last renamed (`modified`).
    pub fn stored(
        id: String,
        name: &str,
        contact: Option<String>,
        created: Timestamp,
        modified: Timestamp,
        catalogue_tlp: Tlp,
    ) -> Identity {
        // Marked in its body (TLP:CLEAR unless the node says otherwise), not only in its local
        // metadata: a recipient reads an unmarked object as AMBER and never passes it on, so the
        // origin's identity stopped at the first hop and everything referring to it
        // (`created_by_ref`, `where_sighted_refs`) was withheld further on (found by the
        // five-node ring in crates/focal/tests/federation_five.rs).
        let mut common = Common::new("identity", id, created, Some(catalogue_tlp));
        common.modified = timestamp(modified);
        Identity {
            common,
            name: name.to_string(),
            identity_class: "organization",
            contact_information: contact,
        }
    }

    /// The TLP of the node's public catalogue objects (its identity and the malware families it
    /// names): the one its identity is marked with.
    pub fn catalogue_tlp(&self) -> Tlp {
        Tlp::ALL
            .into_iter()
            .find(|t| {
                self.common
                    .object_marking_refs
                    .iter()
                    .any(|m| m == tlp_marking_id(*t))
            })
            .unwrap_or(Tlp::Clear)
    }

    /// An identity derived from a name alone (for tests and tools that need a stable one; a
    /// node uses the one in its settings, [`crate::settings::load`]).
    pub fn node(name: &str) -> Identity {
        // A fixed, real date (never 1970), so such an identity is the same on every export.
        let at = Timestamp::from_second(1_767_225_600).unwrap_or(Timestamp::UNIX_EPOCH);
        Identity {
            common: Common::new(
                "identity",
                derived_id("identity", name),
                at,
                Some(Tlp::Clear),
            ),
            name: name.to_string(),
            identity_class: "organization",
            contact_information: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Indicator {
    #[serde(flatten)]
    pub common: Common,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub indicator_types: Vec<&'static str>,
    pub pattern: String,
    pub pattern_type: &'static str,
    pub valid_from: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Malware {
    #[serde(flatten)]
    pub common: Common,
    pub name: String,
    pub is_family: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ObservedData {
    #[serde(flatten)]
    pub common: Common,
    pub first_observed: String,
    pub last_observed: String,
    pub number_observed: u32,
    pub object_refs: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sighting {
    #[serde(flatten)]
    pub common: Common,
    pub sighting_of_ref: String,
    pub first_seen: String,
    pub last_seen: String,
    pub count: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub observed_data_refs: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub where_sighted_refs: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Relationship {
    #[serde(flatten)]
    pub common: Common,
    pub relationship_type: &'static str,
    pub source_ref: String,
    pub target_ref: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub common: Common,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub report_types: Vec<&'static str>,
    pub published: String,
    pub object_refs: Vec<String>,
}

/// Serialises one of the structs above (infallible for them: plain strings and numbers).
pub fn to_value<T: Serialize>(object: &T) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

/// A bundle around objects. Its id is random: a bundle is a transport envelope, not an object.
pub fn bundle(objects: Vec<Value>) -> Value {
    serde_json::json!({
        "type": "bundle",
        "id": format!("bundle--{}", random_uuid()),
        "objects": objects,
    })
}

/// A version-4 UUID from the operating system's random source.
pub fn random_uuid() -> Uuid {
    let mut bytes = [0u8; 16];
    // Without an OS random source nothing secure can run; a time-based fallback keeps ids
    // unique, which is all a bundle or status id needs.
    if getrandom::fill(&mut bytes).is_err() {
        let now = Timestamp::now().as_nanosecond() as u128;
        bytes = now.to_be_bytes();
    }
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors produced with the OASIS python-stix2 library (see docs/SHARING.md).
    #[test]
    fn sco_ids_match_the_reference_implementation() {
        let cases = [
            (
                Observable::Ipv4("198.51.100.7".into()),
                "ipv4-addr--12592121-be4c-5a93-a813-5a5af16e50db",
            ),
            (
                Observable::Domain("c2.example.net".into()),
                "domain-name--5e525b76-acd9-5c9b-ac79-afa42fa54ca7",
            ),
            (
                Observable::Url("http://bad.example/x".into()),
                "url--c91f2d4e-cbca-5831-a1e6-f899a8c88007",
            ),
            (
                Observable::Ipv6("2001:db8::1".into()),
                "ipv6-addr--6469e3a9-b053-5e34-a025-9396ae051d26",
            ),
        ];
        for (o, id) in cases {
            assert_eq!(o.object(Tlp::Clear)["id"], id, "{o:?}");
        }
        let mut hashes = BTreeMap::new();
        hashes.insert(
            "SHA-256".to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".to_string(),
        );
        hashes.insert(
            "MD5".to_string(),
            "d41d8cd98f00b204e9800998ecf8427e".to_string(),
        );
        assert_eq!(
            Observable::File(hashes).object(Tlp::Clear)["id"],
            "file--02fff920-f614-527c-81d1-6353633a6d21"
        );
        assert_eq!(
            sco_id("file", &serde_json::json!({"name": "a.exe"})),
            "file--c10ebc4d-e065-5ec7-93e4-fa1fd2bae072"
        );
    }

    #[test]
    fn markings_round_trip_and_timestamps_have_milliseconds() {
        for t in Tlp::ALL {
            let def = tlp_marking_definition(t);
            assert_eq!(tlp_of_marking(def["id"].as_str().unwrap()), Some(t));
            let obj = serde_json::json!({"object_marking_refs": [def["id"]]});
            assert_eq!(object_tlp(&obj), Some(t));
        }
        assert_eq!(
            tlp_marking_id(Tlp::AmberStrict),
            "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
        );
        let ts: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        assert_eq!(timestamp(ts), "2026-11-23T10:00:00.000Z");
        let ts: Timestamp = "2026-11-23T10:00:00.123456Z".parse().unwrap();
        assert_eq!(timestamp(ts), "2026-11-23T10:00:00.123Z");
    }

    #[test]
    fn markings_are_interpreted_or_fail_closed() {
        let def = |v: Value| interpret_marking(&v);
        use MarkingSense::{Statement, Unknown};
        use focal_model::Tlp as T;
        assert_eq!(
            def(serde_json::json!({"definition_type": "tlp", "definition": {"tlp": "red"}})),
            MarkingSense::Tlp(T::Red)
        );
        // STIX 2.0's TLP 1.0 words, OpenCTI's upper-case type and key.
        assert_eq!(
            def(serde_json::json!({"definition_type": "tlp", "definition": {"tlp": "white"}})),
            MarkingSense::Tlp(T::Clear)
        );
        assert_eq!(
            def(
                serde_json::json!({"definition_type": "TLP", "definition": {"TLP": "TLP:AMBER+STRICT"}})
            ),
            MarkingSense::Tlp(T::AmberStrict)
        );
        assert_eq!(
            def(
                serde_json::json!({"definition_type": "statement", "definition": {"statement": "tlp:red, do not forward"}})
            ),
            MarkingSense::Tlp(T::Red)
        );
        assert_eq!(
            def(
                serde_json::json!({"definition_type": "statement", "definition": {"statement": "Copyright 2026 Example"}})
            ),
            Statement
        );
        assert_eq!(
            def(
                serde_json::json!({"extensions": {TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": "green"}}})
            ),
            MarkingSense::Tlp(T::Green)
        );
        assert_eq!(
            def(serde_json::json!({"definition_type": "PAP", "definition": {"PAP": "PAP:CLEAR"}})),
            Unknown
        );
        assert_eq!(
            def(serde_json::json!({"definition_type": "tlp", "definition": {"tlp": "purple"}})),
            Unknown
        );
        assert_eq!(
            def(
                serde_json::json!({"extensions": {"extension-definition--00000000-0000-4000-8000-000000000000": {}}})
            ),
            Unknown
        );
        // An object with a marking nobody can read is RED, whatever else it carries.
        let o = serde_json::json!({"object_marking_refs": [tlp_marking_id(T::Clear), "marking-definition--x"]});
        let (tlp, unknown) = interpreted_tlp(&o, &|_| Unknown);
        assert_eq!(tlp, Some(T::Red));
        assert_eq!(unknown, vec!["marking-definition--x".to_string()]);
    }

    #[test]
    fn patterns_quote_their_literals() {
        let p = pattern(&[
            Observable::Url("http://x/'a\\".into()),
            Observable::Ipv4("10.0.0.0/8".into()),
        ]);
        assert_eq!(
            p,
            r"[url:value = 'http://x/\'a\\'] OR [ipv4-addr:value = '10.0.0.0/8']"
        );
    }
}
