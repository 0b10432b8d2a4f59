//! Focal events → STIX 2.1 objects (with the metadata the policy needs), and outbound bundles.
//!
//! One event becomes: the observables it names (SCOs with deterministic ids), an `indicator`
//! whose pattern matches the event's own indicator values, an `observed-data` holding the
//! observables, a `sighting` of the indicator by this node, and, when the event names a malware
//! family, a `malware` object and an `indicates` relationship. Ids of the SDOs and SROs are
//! derived from the event id, so exporting an event twice gives the same objects: a peer that
//! receives both keeps one. Constituents, feed names, comments and raw lines are never emitted.

use crate::policy::{Policy, PseudonymKey, Released, Sensitive, ShareMeta, Shareable, release};
use crate::stix::{
    self, Common, Identity, Indicator, Malware, Observable, ObservedData, Relationship, Report,
    Sighting,
};
use focal_model::{ClassificationType, Event, Tlp};
use jiff::Timestamp;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// `indicator_types` (STIX open vocabulary) for an RSIT classification.
fn indicator_types(t: ClassificationType) -> Vec<&'static str> {
    use focal_model::Taxonomy::*;
    match t.as_str() {
        "infected-system" => return vec!["compromised"],
        "c2-server" | "malware-distribution" | "malware-configuration" | "phishing" => {
            return vec!["malicious-activity"];
        }
        "scanner" | "brute-force" | "exploit" | "ids-alert" => return vec!["anomalous-activity"],
        _ => {}
    }
    match t.taxonomy() {
        MaliciousCode | Fraud | Intrusions | AbusiveContent => vec!["malicious-activity"],
        InformationGathering | IntrusionAttempts | Availability => vec!["anomalous-activity"],
        Vulnerable => vec!["compromised"],
        _ => vec!["unknown"],
    }
}

fn ip_observable(ip: &str, v4: bool) -> Observable {
    if v4 {
        Observable::Ipv4(ip.to_string())
    } else {
        Observable::Ipv6(ip.to_string())
    }
}

/// IntelMQ's file-hash fields, found in `extra` when a feed carries them.
const HASH_FIELDS: [(&str, &str); 3] = [
    ("malware.hash.md5", "MD5"),
    ("malware.hash.sha1", "SHA-1"),
    ("malware.hash.sha256", "SHA-256"),
];

/// The observables of an event, each with the event field it came from; the first group is
/// what the event indicates (it goes into the pattern), the second is context.
/// Observables with the event field each came from.
type Named = Vec<(String, Observable)>;

fn observables(e: &Event) -> (Named, Named) {
    let mut indicated = Vec::new();
    let mut context = Vec::new();
    if let Some(ip) = e.source_ip {
        indicated.push((
            "source.ip".into(),
            ip_observable(&ip.to_string(), ip.is_ipv4()),
        ));
    } else if let Some(net) = e.source_network {
        indicated.push((
            "source.network".into(),
            ip_observable(&net.to_string(), matches!(net, ipnet::IpNet::V4(_))),
        ));
    }
    if let Some(fqdn) = &e.source_fqdn {
        indicated.push(("source.fqdn".into(), Observable::Domain(fqdn.clone())));
    }
    if let Some(url) = &e.source_url {
        indicated.push(("source.url".into(), Observable::Url(url.clone())));
    }
    let mut hashes = BTreeMap::new();
    for (field, alg) in HASH_FIELDS {
        if let Some(Value::String(h)) = e.extra.get(field)
            && !h.is_empty()
            && h.bytes().all(|b| b.is_ascii_hexdigit())
        {
            hashes.insert(alg.to_string(), h.to_ascii_lowercase());
        }
    }
    if !hashes.is_empty() {
        indicated.push(("malware.hash".into(), Observable::File(hashes)));
    }
    if let Some(ip) = e.destination_ip {
        context.push((
            "destination.ip".into(),
            ip_observable(&ip.to_string(), matches!(ip, IpAddr::V4(_))),
        ));
    }
    if let Some(fqdn) = &e.destination_fqdn {
        context.push(("destination.fqdn".into(), Observable::Domain(fqdn.clone())));
    }
    (indicated, context)
}

fn sensitive_values(field: &str, o: &Observable) -> Vec<Sensitive> {
    match o {
        Observable::Ipv4(v) | Observable::Ipv6(v) | Observable::Domain(v) | Observable::Url(v) => {
            vec![Sensitive {
                field: field.to_string(),
                value: v.clone(),
            }]
        }
        Observable::File(h) => h
            .values()
            .map(|v| Sensitive {
                field: field.to_string(),
                value: v.clone(),
            })
            .collect(),
    }
}

/// The STIX objects of one event, each with the event's policy metadata. Empty if the event
/// names no observable (nothing to share).
pub fn event_objects(e: &Event, node: &Identity) -> Vec<Shareable> {
    let (indicated, context) = observables(e);
    if indicated.is_empty() && context.is_empty() {
        return Vec::new();
    }
    let tlp = e.tlp;
    let key = e.id.to_string();
    let seen = e.effective_time();
    let observed = e.time_observation;
    let meta = ShareMeta {
        tlp,
        classification_type: Some(e.classification_type.as_str().to_string()),
        constituent: e.constituent.as_deref().map(str::to_string),
        sensitive: indicated
            .iter()
            .chain(context.iter())
            .flat_map(|(f, o)| sensitive_values(f, o))
            .collect(),
        // Events made from peers' indicators keep the limits of foreign data.
        foreign: e.feed_name.starts_with("peer:"),
        uninterpreted_markings: Vec::new(),
    };
    let common = |type_: &'static str| {
        let mut c = Common::new(type_, stix::derived_id(type_, &key), observed, Some(tlp));
        c.created_by_ref = Some(node.common.id.clone());
        c
    };
    let mut objects: Vec<Value> = Vec::new();
    let mut sco_ids = Vec::new();
    for (_, o) in indicated.iter().chain(context.iter()) {
        let sco = o.object(tlp);
        sco_ids.push(sco["id"].as_str().unwrap_or_default().to_string());
        objects.push(sco);
    }
    let mut observed_data = ObservedData {
        common: common("observed-data"),
        first_observed: stix::timestamp(seen),
        last_observed: stix::timestamp(seen),
        number_observed: 1,
        object_refs: sco_ids,
    };
    observed_data.common.labels = labels(e);
    let observed_id = observed_data.common.id.clone();
    objects.push(stix::to_value(&observed_data));
    let malware_name = e.malware_name.clone();
    if !indicated.is_empty() {
        let obs: Vec<Observable> = indicated.iter().map(|(_, o)| o.clone()).collect();
        let mut indicator = Indicator {
            common: common("indicator"),
            name: match &malware_name {
                Some(m) => format!("{} ({m})", e.classification_type.as_str()),
                None => e.classification_type.as_str().to_string(),
            },
            description: None,
            indicator_types: indicator_types(e.classification_type),
            pattern: stix::pattern(&obs),
            pattern_type: "stix",
            valid_from: stix::timestamp(seen),
        };
        indicator.common.labels = labels(e);
        let indicator_id = indicator.common.id.clone();
        objects.push(stix::to_value(&indicator));
        let sighting = Sighting {
            common: common("sighting"),
            sighting_of_ref: indicator_id.clone(),
            first_seen: stix::timestamp(seen),
            last_seen: stix::timestamp(seen),
            count: 1,
            observed_data_refs: vec![observed_id],
            where_sighted_refs: vec![node.common.id.clone()],
        };
        objects.push(stix::to_value(&sighting));
        if let Some(name) = malware_name {
            // One malware object per family and node (only its creator may version it),
            // whichever event names it, created when the node's identity was made (real, and
            // the same on every export) and versioned with it: a new catalogue TLP makes a new
            // version of the identity, and so of every family, which peers then replace.
            let created = node
                .common
                .created
                .parse()
                .unwrap_or_else(|_| Timestamp::now());
            let mut m = Common::new(
                "malware",
                stix::derived_id("malware", &format!("{}\x1f{name}", node.common.id)),
                created,
                Some(node.catalogue_tlp()),
            );
            m.modified = node.common.modified.clone();
            m.created_by_ref = Some(node.common.id.clone());
            let malware = Malware {
                common: m,
                name,
                is_family: true,
            };
            let rel = Relationship {
                common: common("relationship"),
                relationship_type: "indicates",
                source_ref: indicator_id,
                target_ref: malware.common.id.clone(),
            };
            objects.push(stix::to_value(&malware));
            objects.push(stix::to_value(&rel));
        }
    }
    objects
        .into_iter()
        .map(|object| {
            // A malware family is a public catalogue entry (its name, no victim, marked in its
            // body): the node's catalogue TLP (CLEAR unless configured), whichever events name
            // it, so every relationship a reader may see to it has its target.
            let m = if object["type"] == "malware" {
                ShareMeta {
                    tlp: node.catalogue_tlp(),
                    ..ShareMeta::clear()
                }
            } else {
                meta.clone()
            };
            Shareable { object, meta: m }
        })
        .collect()
}

fn labels(e: &Event) -> Vec<String> {
    vec![
        e.taxonomy().as_str().to_string(),
        e.classification_type.as_str().to_string(),
    ]
}

/// A `report` (STIX's name for an incident summary) over the objects of some events, marked with
/// the most restrictive TLP among them. `id_seed` makes its id stable (e.g. the incident id).
pub fn report_objects(
    id_seed: &str,
    name: &str,
    description: Option<&str>,
    published: Timestamp,
    events: &[Event],
    node: &Identity,
) -> Vec<Shareable> {
    let mut items: Vec<Shareable> = events.iter().flat_map(|e| event_objects(e, node)).collect();
    if items.is_empty() {
        return items;
    }
    let tlp = events.iter().map(|e| e.tlp).max().unwrap_or_default();
    let constituents: Vec<&str> = events
        .iter()
        .filter_map(|e| e.constituent.as_deref())
        .collect();
    let mut refs: Vec<String> = Vec::new();
    for i in &items {
        if let Some(id) = i.object["id"].as_str()
            && !refs.iter().any(|r| r == id)
        {
            refs.push(id.to_string());
        }
    }
    let mut common = Common::new(
        "report",
        stix::derived_id("report", id_seed),
        published,
        Some(tlp),
    );
    common.created_by_ref = Some(node.common.id.clone());
    let report = Report {
        common,
        name: name.to_string(),
        description: description.map(str::to_string),
        report_types: vec!["threat-report"],
        published: stix::timestamp(published),
        object_refs: refs,
    };
    let meta = ShareMeta {
        tlp,
        // One type only if every event has it; a mixed report is gated by its parts, whose
        // withheld objects are then cut from its references.
        classification_type: match events.first() {
            Some(first)
                if events
                    .iter()
                    .all(|e| e.classification_type == first.classification_type) =>
            {
                Some(first.classification_type.as_str().to_string())
            }
            _ => None,
        },
        // A report spans events; it concerns one constituent only if all of them do.
        constituent: match constituents.first() {
            Some(c)
                if constituents.len() == events.len() && constituents.iter().all(|x| x == c) =>
            {
                Some(c.to_string())
            }
            _ => None,
        },
        sensitive: items
            .iter()
            .flat_map(|i| i.meta.sensitive.clone())
            .collect(),
        // Built from a peer's events, it is bound by the rules for what peers sent.
        foreign: items.iter().any(|i| i.meta.foreign),
        uninterpreted_markings: Vec::new(),
    };
    items.push(Shareable {
        object: stix::to_value(&report),
        meta,
    });
    items
}

/// The node's identity (at its catalogue TLP, CLEAR unless configured) and the TLP marking
/// definitions (TLP:CLEAR), as shareables.
pub fn node_objects(node: &Identity) -> Vec<Shareable> {
    let mut v = vec![Shareable {
        object: stix::to_value(node),
        meta: ShareMeta {
            tlp: node.catalogue_tlp(),
            ..ShareMeta::clear()
        },
    }];
    for t in Tlp::ALL {
        v.push(Shareable {
            object: stix::tlp_marking_definition(t),
            meta: ShareMeta::clear(),
        });
    }
    v
}

/// An outbound bundle: `items` through the policy (the choke point), plus the node identity and
/// the marking definitions the released objects use. Duplicate objects (the same malware named
/// by several events) appear once.
pub fn outbound_bundle(
    policy: &Policy,
    key: &PseudonymKey,
    node: &Identity,
    items: Vec<Shareable>,
) -> (Value, Released) {
    let mut all = node_objects(node);
    all.extend(items);
    let mut released = release(policy, key, all);
    let mut seen = std::collections::HashSet::new();
    released
        .objects
        .retain(|o| seen.insert(o["id"].to_string()));
    // Keep only the marking definitions something refers to.
    let used: std::collections::HashSet<String> = released
        .objects
        .iter()
        .filter_map(|o| o.get("object_marking_refs").and_then(Value::as_array))
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    released.objects.retain(|o| {
        o["type"] != "marking-definition" || o["id"].as_str().is_some_and(|id| used.contains(id))
    });
    (stix::bundle(released.objects.clone()), released)
}
