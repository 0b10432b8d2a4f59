//! Every bundle Focal emits passes the OASIS stix2-validator with no errors.

mod common;

use focal_model::Tlp;
use focal_sharing::export::{event_objects, outbound_bundle, report_objects};
use focal_sharing::stix::Identity;
use focal_sharing::{Policy, PseudonymKey, Redaction};
use std::process::Command;

fn validate(name: &str, bundle: &serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(bundle).unwrap()).unwrap();
    let out = Command::new(focal_testkit::pytool("stix2_validator"))
        .args(["--version", "2.1"])
        .arg(&path)
        .output()
        .expect("running stix2_validator (scripts/pytools.sh installs it)");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !text.contains("[X]"),
        "stix2-validator refused the {name} bundle (rc {:?}):\n{text}\n{}",
        out.status.code(),
        serde_json::to_string_pretty(bundle).unwrap()
    );
}

fn policies() -> Vec<(&'static str, Policy)> {
    let mut pseudo = Policy {
        max_tlp: Tlp::Amber,
        ..Policy::default()
    };
    for f in ["source.ip", "source.fqdn", "destination.ip"] {
        pseudo.redact.insert(f.into(), Redaction::Pseudonymise);
    }
    let mut drop = Policy {
        max_tlp: Tlp::Amber,
        ..Policy::default()
    };
    drop.redact.insert("source.ip".into(), Redaction::Drop);
    drop.redact.insert("source.url".into(), Redaction::Drop);
    vec![
        (
            "clear",
            Policy {
                max_tlp: Tlp::Clear,
                ..Policy::default()
            },
        ),
        (
            "amber-strict-acme",
            Policy {
                max_tlp: Tlp::AmberStrict,
                constituent: Some("acme".into()),
                ..Policy::default()
            },
        ),
        ("pseudonymised", pseudo),
        ("dropped", drop),
    ]
}

#[test]
fn exported_events_and_reports_are_valid_stix() {
    let node = Identity::node("CERT Example");
    let key = PseudonymKey::new(b"test key".to_vec());
    let events = common::sample_events();
    for (name, policy) in policies() {
        let items = events
            .iter()
            .flat_map(|e| event_objects(e, &node))
            .collect();
        let (bundle, released) = outbound_bundle(&policy, &key, &node, items);
        assert!(
            released.objects.iter().any(|o| o["type"] == "indicator"),
            "{name}: no indicator left"
        );
        validate(name, &bundle);
        let report = report_objects(
            "incident-1",
            "Incident 1",
            Some("two events"),
            "2026-11-24T00:00:00Z".parse().unwrap(),
            &events[1..4],
            &node,
        );
        let (bundle, released) = outbound_bundle(&policy, &key, &node, report);
        if policy.max_tlp >= Tlp::Green {
            assert!(
                released.objects.iter().any(|o| o["type"] == "report"),
                "{name}: report withheld"
            );
        }
        validate(&format!("{name}-report"), &bundle);
    }
}
