//! The STIX vocabulary against the OASIS tools in the pytools virtualenv:
//!
//! - the type table (`vocab::TYPES`) has the required properties of the STIX 2.1 JSON schemas
//!   that ship with stix2-validator, and only reference properties those schemas know;
//! - every STIX 2.1 example that stix2-validator ships imports without loss: each object, each
//!   property, stored and read back as it came;
//! - every STIX 2.0 example imports after conversion, object for object as the OASIS
//!   stix2-elevator's stix_stepper converts it, the conversion recorded with the original, and
//!   the stored result passes stix2-validator as STIX 2.1.

use focal_sharing::import::{
    accept_inbound, default_collection_id, inbound_items, store_converted,
};
use focal_sharing::validate::{Accept, Limits};
use focal_sharing::vocab::{self, Category};
use focal_store::SqliteStore;
use focal_store::sharing::{ObjectQuery, SharingStore, VersionMatch, parse_timestamp_us};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// stix2-validator's package folder in the pytools virtualenv.
fn validator_package() -> PathBuf {
    let lib = focal_testkit::pytools().join("lib");
    std::fs::read_dir(&lib)
        .expect("the pytools virtualenv's lib folder")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages/stix2validator"))
        .find(|p| p.is_dir())
        .expect("stix2validator in the pytools virtualenv (scripts/pytools.sh)")
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)
        .expect("a folder of examples")
        .flatten()
    {
        let p = e.path();
        if p.is_dir() {
            out.extend(json_files(&p));
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).expect("readable")).expect("JSON")
}

fn required_of(schema: &Value) -> BTreeSet<String> {
    let names = |v: &Value| -> BTreeSet<String> {
        v.get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let mut out = names(schema);
    for part in schema["allOf"].as_array().into_iter().flatten() {
        out.extend(names(part));
    }
    // Required in every branch of a oneOf is required.
    if let Some(branches) = schema["oneOf"].as_array()
        && let Some(first) = branches.first()
    {
        let mut common = names(first);
        for b in branches {
            common = common.intersection(&names(b)).cloned().collect();
        }
        out.extend(common);
    }
    out
}

#[test]
fn the_type_table_has_the_required_properties_of_the_oasis_schemas() {
    let schemas = validator_package().join("schemas-2.1/schemas");
    let common: BTreeSet<&str> = ["type", "id", "spec_version", "created", "modified"].into();
    for rule in vocab::TYPES {
        let folder = match rule.category {
            Category::Sdo => "sdos",
            Category::Sro => "sros",
            Category::Sco => "observables",
            Category::Meta => "common",
        };
        let path = schemas.join(folder).join(format!("{}.json", rule.name));
        let schema = read_json(&path);
        let expected: BTreeSet<String> = required_of(&schema)
            .into_iter()
            .filter(|p| !common.contains(p.as_str()))
            .collect();
        let ours: BTreeSet<String> = rule.required.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(ours, expected, "required properties of {}", rule.name);
        let text = schema.to_string();
        for (property, _) in rule.refs {
            assert!(
                text.contains(&format!("\"{property}\"")),
                "{} has no reference property {property} in {}",
                rule.name,
                path.display()
            );
        }
    }
}

/// Imports a file into a fresh store as `focal share import` does, and reads back every stored
/// object version with its conversion record.
fn import_and_read_back(file: &Path) -> Vec<(Value, Option<Value>)> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("focal.db")).unwrap();
    let shared = default_collection_id(&store).unwrap();
    let shared = shared.as_str();
    let bytes = std::fs::read(file).unwrap();
    let inbound = accept_inbound(&store, shared, &bytes, &Limits::default(), Accept::FILE)
        .unwrap_or_else(|e| panic!("{} refused: {e}", file.display()));
    let (objects, conversions): (Vec<_>, Vec<_>) = inbound
        .into_iter()
        .map(|i| (i.object, i.conversion))
        .unzip();
    let items = inbound_items(objects, true);
    let outcome = store_converted(&store, shared, &items, &conversions, Some("oasis")).unwrap();
    assert!(outcome.already_present.is_empty(), "{}", file.display());
    let page = store
        .objects(
            shared,
            &ObjectQuery {
                versions: VersionMatch::All,
                limit: 10_000,
                ..ObjectQuery::default()
            },
        )
        .unwrap();
    page.objects
        .iter()
        .map(|o| {
            let conversion = store
                .conversion(shared, &o.id, o.version_us)
                .unwrap()
                .map(|c| serde_json::from_str(&c).unwrap());
            (serde_json::from_str(&o.body).unwrap(), conversion)
        })
        .collect()
}

/// Objects by (id, version), so that every version is compared.
fn by_version(objects: impl IntoIterator<Item = Value>) -> BTreeMap<(String, String), Value> {
    objects
        .into_iter()
        .map(|o| {
            let version = o["modified"].as_str().unwrap_or_default().to_string();
            ((o["id"].as_str().unwrap().to_string(), version), o)
        })
        .collect()
}

#[test]
fn the_oasis_stix_2_1_examples_import_without_loss() {
    let files = json_files(&validator_package().join("schemas-2.1/examples"));
    assert!(files.len() >= 8, "{files:?}");
    let mut types = BTreeSet::new();
    for file in files {
        let input = read_json(&file);
        let sent: Vec<Value> = match input["type"].as_str() {
            Some("bundle") => input["objects"].as_array().unwrap().clone(),
            _ => vec![input.clone()],
        };
        let stored = import_and_read_back(&file);
        assert!(
            stored.iter().all(|(_, c)| c.is_none()),
            "{}: nothing converted",
            file.display()
        );
        let stored = by_version(stored.into_iter().map(|s| s.0));
        let sent = by_version(sent);
        assert_eq!(stored.len(), sent.len(), "{}", file.display());
        for (key, object) in &sent {
            assert_eq!(stored.get(key), Some(object), "{} {key:?}", file.display());
            types.insert(object["type"].as_str().unwrap().to_string());
        }
    }
    assert!(
        types.len() >= 12,
        "the examples cover many types: {types:?}"
    );
}

fn stix2_validator_errors(objects: &[Value]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stored.json");
    let bundle = json!({"type": "bundle", "id": "bundle--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "objects": objects});
    std::fs::write(&path, serde_json::to_vec_pretty(&bundle).unwrap()).unwrap();
    let out = Command::new(focal_testkit::pytool("stix2_validator"))
        .args(["--version", "2.1"])
        .arg(&path)
        .output()
        .expect("running stix2_validator");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() && !text.contains("[X]") {
        String::new()
    } else {
        text
    }
}

#[test]
fn the_oasis_stix_2_0_examples_import_as_the_stepper_converts_them() {
    let files = json_files(&validator_package().join("schemas-2.0/examples"));
    assert!(files.len() >= 6, "{files:?}");
    let stepper = focal_testkit::workspace_root().join("tests/stix/step_20.py");
    for file in files {
        let input = read_json(&file);
        assert_eq!(input["spec_version"], "2.0");
        let out = Command::new(focal_testkit::pytool("python"))
            .arg(&stepper)
            .arg(&file)
            .output()
            .expect("running the stepper (stix2-elevator in pytools)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let reference: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "the stepper's JSON for {}: {e}\nstdout: {}\nstderr: {}",
                file.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let reference = by_version(reference["objects"].as_array().unwrap().clone());
        let stored = import_and_read_back(&file);
        let originals: BTreeMap<String, Value> = input["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| (o["id"].as_str().unwrap().to_string(), o.clone()))
            .collect();
        for (object, conversion) in &stored {
            let conversion = conversion.as_ref().expect("a conversion record");
            assert_eq!(conversion["from"], "2.0");
            assert_eq!(
                conversion["original"],
                originals[object["id"].as_str().unwrap()],
                "the original is kept"
            );
            assert!(!conversion["changes"].as_array().unwrap().is_empty());
        }
        let objects: Vec<Value> = stored.into_iter().map(|s| s.0).collect();
        let ours = by_version(objects.clone());
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            reference.keys().collect::<Vec<_>>(),
            "{}",
            file.display()
        );
        for (key, theirs) in &reference {
            let mine = &ours[key];
            // Patterns are printed by each tool's own printer: compare what they mean.
            if let (Some(a), Some(b)) = (mine["pattern"].as_str(), theirs["pattern"].as_str()) {
                assert_eq!(
                    focal_sharing::pattern::parse(a).unwrap(),
                    focal_sharing::pattern::parse(b).unwrap(),
                    "{key:?}"
                );
            }
            let strip = |o: &Value| {
                let mut o = o.clone();
                o.as_object_mut().unwrap().remove("pattern");
                o
            };
            assert_eq!(strip(mine), strip(theirs), "{} {key:?}", file.display());
        }
        let errors = stix2_validator_errors(&objects);
        assert!(errors.is_empty(), "{}: {errors}", file.display());
        // Stored once: the version of each object is that of the original.
        for o in &objects {
            let original = &originals[o["id"].as_str().unwrap()];
            assert_eq!(
                parse_timestamp_us(o["modified"].as_str().unwrap()),
                parse_timestamp_us(original["modified"].as_str().unwrap())
            );
        }
    }
}

/// A GREEN object of each SDO and SRO type with its required properties, made from the table.
fn one_of_each_sdo_and_sro() -> Vec<Value> {
    let identity = "identity--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061";
    let sco = "ipv4-addr--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0062";
    let green = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
    let mut out = vec![
        json!({"type": "ipv4-addr", "spec_version": "2.1", "id": sco, "value": "198.51.100.7",
        "object_marking_refs": [green]}),
    ];
    for (n, rule) in vocab::TYPES
        .iter()
        .filter(|r| matches!(r.category, Category::Sdo | Category::Sro))
        .enumerate()
    {
        let id = if rule.name == "identity" {
            identity.to_string()
        } else {
            format!("{}--0c7b5b88-8ff7-4a4d-aa9d-{:012x}", rule.name, 0x100 + n)
        };
        let mut o = json!({"type": rule.name, "spec_version": "2.1", "id": id,
            "created": "2026-11-23T10:00:00.000Z", "modified": "2026-11-23T10:00:00.000Z",
            "created_by_ref": identity, "object_marking_refs": [green]});
        for (property, kind) in rule.required {
            o[*property] = match (rule.name, *property, kind) {
                ("indicator", "pattern", _) => json!("[ipv4-addr:value = '198.51.100.7']"),
                ("indicator", "pattern_type", _) => json!("stix"),
                ("opinion", "opinion", _) => json!("agree"),
                ("grouping", "context", _) => json!("suspicious-activity"),
                ("relationship", "relationship_type", _) => json!("related-to"),
                ("observed-data", "object_refs", _) => json!([sco]),
                (_, _, vocab::Kind::Text) => json!(format!("{} {property}", rule.name)),
                (_, _, vocab::Kind::Timestamp) => json!("2026-11-23T10:00:00.000Z"),
                (_, _, vocab::Kind::Bool) => json!(false),
                (_, _, vocab::Kind::Integer(lo, _)) => json!(lo),
                (_, _, vocab::Kind::List) => json!(["x"]),
                (_, _, vocab::Kind::Ref) => json!(identity),
                (_, _, vocab::Kind::Refs) => json!([identity]),
                (_, _, vocab::Kind::Object) => json!({}),
            };
        }
        for property in rule.one_of.first().copied().unwrap_or_default() {
            o[*property] = match *property {
                "result" => json!("malicious"),
                "region" => json!("western-europe"),
                "object_refs" => json!([sco]),
                _ => json!("x"),
            };
        }
        if rule.name == "malware" {
            o["name"] = json!("a family");
            o["is_family"] = json!(true);
        }
        out.push(o);
    }
    out
}

#[test]
fn every_sdo_and_sro_type_is_validated_stored_and_relayed_whole() {
    let objects = one_of_each_sdo_and_sro();
    assert_eq!(objects.len(), 1 + 19 + 2);
    // Valid for the OASIS validator and for Focal.
    let errors = stix2_validator_errors(&objects);
    assert!(errors.is_empty(), "{errors}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("all.json");
    std::fs::write(
        &file,
        serde_json::to_vec(&json!({"type": "bundle", "id": "bundle--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0060", "objects": objects})).unwrap(),
    )
    .unwrap();
    let stored = by_version(import_and_read_back(&file).into_iter().map(|s| s.0));
    assert_eq!(stored, by_version(objects.clone()));
    // Relayed by the choke point to a GREEN peer unchanged (each is GREEN, and what each refers
    // to is GREEN too).
    let items = inbound_items(objects.clone(), false);
    let released = focal_sharing::release(
        &focal_sharing::Policy::default(),
        &focal_sharing::PseudonymKey::new(vec![7; 32]),
        items,
    );
    assert!(released.withheld.is_empty(), "{:?}", released.withheld);
    assert_eq!(by_version(released.objects), by_version(objects));
}
