//! Property: over random events, markings and policies, nothing leaves above the recipient's
//! clearance (and never TLP:RED), AMBER+STRICT reaches only its constituent, filtered types stay
//! home, and no redacted value (nor an id derived from it) appears anywhere in what is released.

mod common;

use focal_model::Tlp;
use focal_sharing::export::{event_objects, outbound_bundle};
use focal_sharing::policy::gate;
use focal_sharing::stix::{Identity, object_tlp, sco_id};
use focal_sharing::{Policy, PseudonymKey, Redaction};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashSet};

const TYPES: [&str; 5] = [
    "infected-system",
    "c2-server",
    "phishing",
    "scanner",
    "ddos",
];
const FIELDS: [&str; 4] = ["source.ip", "source.fqdn", "source.url", "destination.ip"];

fn arb_tlp() -> impl Strategy<Value = Tlp> {
    prop::sample::select(Tlp::ALL.to_vec())
}

/// (type, ip, fqdn?, url?, destination?, tlp, constituent). Values come from small pools so
/// that events share observables, the case where redaction is easiest to get wrong.
fn arb_event() -> impl Strategy<Value = focal_model::Event> {
    (
        0..TYPES.len(),
        0u8..6,
        prop::option::of(0u8..4),
        prop::option::of(0u8..3),
        prop::option::of(0u8..6),
        arb_tlp(),
        prop::option::of(prop::sample::select(vec!["acme", "globex"])),
        any::<bool>(),
    )
        .prop_map(|(t, ip, fqdn, url, dst, tlp, constituent, v6)| {
            let ip = if v6 {
                format!("2001:db8::{}", ip + 1)
            } else {
                format!("198.51.100.{}", ip + 1)
            };
            let fqdn = fqdn.map(|n| format!("host{n}x.example.org"));
            let url = url.map(|n| format!("http://site{n}x.example.com/p"));
            let dst = dst.map(|n| format!("203.0.113.{}", n + 101));
            let mut fields: Vec<(&str, &str)> = vec![("source.ip", &ip)];
            if let Some(f) = &fqdn {
                fields.push(("source.fqdn", f));
            }
            if let Some(u) = &url {
                fields.push(("source.url", u));
            }
            if let Some(d) = &dst {
                fields.push(("destination.ip", d));
            }
            if let Some(c) = constituent {
                fields.push(("constituent", c));
            }
            common::event(TYPES[t], &fields, tlp)
        })
}

fn arb_policy() -> impl Strategy<Value = Policy> {
    (
        arb_tlp(),
        prop::option::of(prop::sample::select(vec!["acme", "globex"])),
        prop::collection::btree_map(prop::sample::select(FIELDS.to_vec()), any::<bool>(), 0..4),
        prop::option::of(prop::collection::btree_set(
            prop::sample::select(vec![
                "infected-system",
                "malicious-code",
                "fraud",
                "scanner",
            ]),
            1..3,
        )),
    )
        .prop_map(|(max_tlp, constituent, redact, types)| Policy {
            max_tlp,
            constituent: constituent.map(str::to_string),
            redact: redact
                .into_iter()
                .map(|(f, drop)| {
                    (
                        f.to_string(),
                        if drop {
                            Redaction::Drop
                        } else {
                            Redaction::Pseudonymise
                        },
                    )
                })
                .collect::<BTreeMap<_, _>>(),
            types: types.map(|s| s.into_iter().map(str::to_string).collect()),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn nothing_leaves_that_the_policy_keeps_home(events in prop::collection::vec(arb_event(), 1..8), policy in arb_policy()) {
        let node = Identity::node("node");
        let key = PseudonymKey::new(b"k".to_vec());
        let items: Vec<_> = events.iter().flat_map(|e| event_objects(e, &node)).collect();
        // Ids an object may legitimately carry: those of the events the gate lets through.
        let mut allowed_ids: HashSet<String> = HashSet::new();
        let mut hidden: Vec<String> = Vec::new();
        for i in &items {
            if gate(&policy, &i.meta).is_none() {
                allowed_ids.insert(i.object["id"].as_str().unwrap().to_string());
            }
            for s in &i.meta.sensitive {
                if policy.redact.contains_key(&s.field) {
                    hidden.push(s.value.clone());
                }
            }
        }
        let (bundle, released) = outbound_bundle(&policy, &key, &node, items);
        let text = bundle.to_string();
        for o in &released.objects {
            let id = o["id"].as_str().unwrap();
            let type_ = o["type"].as_str().unwrap();
            if type_ == "identity" || type_ == "marking-definition" {
                continue;
            }
            let tlp = object_tlp(o).expect("every emitted object is marked");
            prop_assert!(tlp != Tlp::Red, "TLP:RED left: {o}");
            prop_assert!(tlp <= policy.max_tlp, "{tlp} above {}: {o}", policy.max_tlp);
            let pseudonym = type_ == "domain-name" && o["value"].as_str().unwrap().ends_with(".pseudonym.invalid");
            prop_assert!(pseudonym || allowed_ids.contains(id), "{id} came from an event the gate refuses");
            if tlp == Tlp::AmberStrict {
                prop_assert!(policy.constituent.is_some());
            }
        }
        for v in &hidden {
            prop_assert!(!text.contains(v.as_str()), "redacted value {v} leaked");
            for t in ["ipv4-addr", "ipv6-addr", "domain-name", "url"] {
                let derived = sco_id(t, &serde_json::json!({"value": v}));
                prop_assert!(!text.contains(&derived), "id {derived} derived from {v} leaked");
            }
        }
    }
}
