//! Property: over random object graphs (identities, indicators, malware, observables,
//! observed-data, relationships, sightings, reports), random TLPs, constituents and origins,
//! random policies and random sets of objects the recipient already holds, what
//! `policy::release_closed` lets out dangles nowhere (every reference is released with it, held,
//! or a TLP marking definition) and holds nothing above the recipient's clearance, nor RED.

use focal_model::Tlp;
use focal_sharing::policy::{ShareMeta, Shareable, release_closed};
use focal_sharing::stix::{object_tlp, tlp_marking_id, tlp_of_marking};
use focal_sharing::vocab::references;
use focal_sharing::{Policy, PseudonymKey};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

const KINDS: [&str; 8] = [
    "identity",
    "indicator",
    "malware",
    "ipv4-addr",
    "observed-data",
    "relationship",
    "sighting",
    "report",
];

fn arb_tlp() -> impl Strategy<Value = Tlp> {
    prop::sample::select(Tlp::ALL.to_vec())
}

/// One node of the graph: its kind, TLP, constituent, origin, and picks (indexes, taken modulo
/// the objects before it) for its references.
type Spec = (usize, Tlp, Option<&'static str>, bool, Vec<usize>, bool);

fn arb_spec() -> impl Strategy<Value = Spec> {
    (
        0..KINDS.len(),
        arb_tlp(),
        prop::option::of(prop::sample::select(vec!["acme", "globex"])),
        any::<bool>(),
        prop::collection::vec(0usize..1000, 1..5),
        any::<bool>(),
    )
}

fn id(kind: &str, n: usize) -> String {
    format!("{kind}--00000000-0000-4000-8000-{n:012x}")
}

/// Builds the objects; each refers only to objects made before it, of the right kind where the
/// spec cares (a sighting of an indicator, an observed-data of observables).
fn graph(specs: &[Spec]) -> Vec<Shareable> {
    let mut out: Vec<Shareable> = Vec::new();
    for (n, (k, tlp, constituent, foreign, picks, by_creator)) in specs.iter().enumerate() {
        let kind = KINDS[*k];
        let before = |want: &[&str]| -> Vec<String> {
            let pool: Vec<&Shareable> = out
                .iter()
                .filter(|s| want.iter().any(|w| s.object["type"] == *w))
                .collect();
            if pool.is_empty() {
                return Vec::new();
            }
            let mut v: Vec<String> = picks
                .iter()
                .map(|p| {
                    pool[p % pool.len()].object["id"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect();
            v.sort();
            v.dedup();
            v
        };
        let mut o = json!({"type": kind, "id": id(kind, n), "spec_version": "2.1",
            "object_marking_refs": [tlp_marking_id(*tlp)]});
        let all = [
            "identity",
            "indicator",
            "malware",
            "ipv4-addr",
            "observed-data",
        ];
        match kind {
            "observed-data" => {
                let r = before(&["ipv4-addr"]);
                if r.is_empty() {
                    continue;
                }
                o["object_refs"] = json!(r);
            }
            "relationship" => {
                let r = before(&all);
                if r.is_empty() {
                    continue;
                }
                o["source_ref"] = json!(r[0]);
                o["target_ref"] = json!(r[r.len() - 1]);
                // Now and then an endpoint neither sent nor held (the recipient lacks it).
                if picks[0] % 5 == 0 {
                    o["target_ref"] = json!(id("malware", 50_000));
                }
            }
            "sighting" => {
                let i = before(&["indicator"]);
                if i.is_empty() {
                    continue;
                }
                o["sighting_of_ref"] = json!(i[0]);
                let mut w = before(&["identity"]);
                if picks[0] % 3 == 0 {
                    w.push(id("identity", 50_001));
                }
                if !w.is_empty() {
                    o["where_sighted_refs"] = json!(w);
                }
                let d = before(&["observed-data"]);
                if !d.is_empty() {
                    o["observed_data_refs"] = json!(d);
                }
            }
            "report" => {
                let r = before(&all);
                if r.is_empty() {
                    continue;
                }
                o["object_refs"] = json!(r);
            }
            _ => {}
        }
        if *by_creator
            && kind != "ipv4-addr"
            && let Some(creator) = before(&["identity"]).first()
        {
            o["created_by_ref"] = json!(creator);
        }
        out.push(Shareable {
            object: o,
            meta: ShareMeta {
                tlp: *tlp,
                constituent: constituent.map(str::to_string),
                foreign: *foreign,
                ..ShareMeta::clear()
            },
        });
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn nothing_released_dangles_or_exceeds_clearance(
        specs in prop::collection::vec(arb_spec(), 1..40),
        max_tlp in arb_tlp(),
        constituent in prop::option::of(prop::sample::select(vec!["acme", "globex"])),
        held_picks in prop::collection::vec((0usize..1000, arb_tlp()), 0..6),
    ) {
        let items = graph(&specs);
        let policy = Policy {
            max_tlp,
            constituent: constituent.map(str::to_string),
            ..Policy::default()
        };
        // Objects the recipient already holds (made elsewhere, not in this release).
        let held: HashMap<String, Tlp> = held_picks
            .iter()
            .map(|(p, t)| (id("indicator", 10_000 + p % 4), *t))
            .collect();
        let mut items = items;
        // Some objects refer to held ones.
        for (i, item) in items.iter_mut().enumerate() {
            if item.object["type"] == "report" && !held.is_empty() {
                let extra = held.keys().nth(i % held.len()).unwrap().clone();
                item.object["object_refs"].as_array_mut().unwrap().push(json!(extra));
            }
        }
        let given: HashMap<String, ShareMeta> = items
            .iter()
            .map(|i| (i.object["id"].as_str().unwrap().to_string(), i.meta.clone()))
            .collect();
        let key = PseudonymKey::new(b"k".to_vec());
        let out = release_closed(&policy, &key, items, &|r| held.get(r).copied());
        let released: HashSet<&str> = out.objects.iter().filter_map(|o| o["id"].as_str()).collect();
        for o in &out.objects {
            for r in references(o) {
                prop_assert!(
                    released.contains(r.id) || held.contains_key(r.id) || tlp_of_marking(r.id).is_some(),
                    "{} dangles: {} -> {}", o["id"], r.path, r.id
                );
            }
            let tlp = object_tlp(o).unwrap_or(Tlp::Red);
            prop_assert!(tlp != Tlp::Red && tlp <= max_tlp, "{} marked {tlp} for {max_tlp}", o["id"]);
            let meta = &given[o["id"].as_str().unwrap()];
            if o["type"] != "report" {
                prop_assert!(meta.tlp != Tlp::Red && meta.tlp <= max_tlp);
            }
            if meta.tlp == Tlp::AmberStrict && o["type"] != "report" {
                prop_assert!(!meta.foreign && meta.constituent == policy.constituent);
            }
        }
    }
}

/// The case of the issue: a GREEN reader, relationships from GREEN events to a family first
/// seen in an AMBER event, and an incident report over mixed TLPs.
#[test]
fn a_report_over_mixed_tlps_is_narrowed_and_re_marked() {
    let item = |o: Value, tlp: Tlp| Shareable {
        object: o,
        meta: ShareMeta {
            tlp,
            ..ShareMeta::clear()
        },
    };
    let green = json!({"type": "indicator", "id": id("indicator", 1),
        "object_marking_refs": [tlp_marking_id(Tlp::Green)]});
    let red = json!({"type": "indicator", "id": id("indicator", 2),
        "object_marking_refs": [tlp_marking_id(Tlp::Red)]});
    let report = json!({"type": "report", "id": id("report", 3),
        "object_refs": [id("indicator", 1), id("indicator", 2)],
        "object_marking_refs": [tlp_marking_id(Tlp::Red)]});
    let out = release_closed(
        &Policy::default(),
        &PseudonymKey::new(b"k".to_vec()),
        vec![
            item(green, Tlp::Green),
            item(red, Tlp::Red),
            item(report, Tlp::Red),
        ],
        &|_| None,
    );
    let report = out
        .objects
        .iter()
        .find(|o| o["type"] == "report")
        .expect("the report is exported");
    assert_eq!(report["object_refs"], json!([id("indicator", 1)]));
    assert_eq!(
        report["object_marking_refs"],
        json!([tlp_marking_id(Tlp::Green)])
    );
}
