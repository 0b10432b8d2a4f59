//! `focal frameworks`, `assess`, `risks` and `vulns` driven through the real binary on a real
//! SQLite data folder: the demo's national (64/211) and organisational (57/239) assessments end
//! to end, refusals with the file and place named, the exposure query, reports and audit.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn focal(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_focal"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env("FOCAL_LOG", "warn")
        .env("FOCAL_ACTOR", "tester")
        .output()
        .expect("the focal binary runs")
}

fn ok(data: &Path, args: &[&str]) -> String {
    let out = focal(data, args);
    assert!(
        out.status.success(),
        "focal {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn json(data: &Path, args: &[&str]) -> Value {
    let mut with_json = vec!["--json"];
    with_json.extend_from_slice(args);
    let text = ok(data, &with_json);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("focal {args:?} printed invalid JSON ({e}): {text}"))
}

fn fails(data: &Path, args: &[&str]) -> String {
    let out = focal(data, args);
    assert!(!out.status.success(), "focal {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn items(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c["item"].as_str().unwrap().to_string())
        .collect()
}

fn fresh() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["init", "--admin-password", "a-long-password"]);
    (dir, data)
}

#[test]
fn the_demo_runs_a_national_and_an_organisational_assessment_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = json(&data, &["demo", "--no-serve"]);
    let ids: Vec<i64> = out["assessments"]["assessments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2, 3, 4]);
    let list = json(&data, &["assess", "list", "--status", "completed"]);
    assert_eq!(list.as_array().unwrap().len(), 4);
    assert_eq!(list[0]["subject"]["kind"], "country");
    assert_eq!(list[2]["subject"]["kind"], "organisation");
    assert_eq!(list[1]["based_on"], 1);

    // 64/211: the reassessment changed exactly items 4, 5d, 7, 12 (up) and 16 (down).
    let c = json(&data, &["assess", "compare", "2"]);
    assert_eq!(items(&c["improved"]), ["4", "5d", "7", "12"]);
    assert_eq!(items(&c["regressed"]), ["16"]);
    assert!(c["other_changes"].as_array().unwrap().is_empty());
    // 57/239: f, h, i up; a down.
    let c = json(&data, &["assess", "compare", "4", "3"]);
    assert_eq!((c["from"].as_i64(), c["to"].as_i64()), (Some(3), Some(4)));
    assert_eq!(items(&c["improved"]), ["f", "h", "i"]);
    assert_eq!(items(&c["regressed"]), ["a"]);

    // The 57/239 scores, by hand: first a, c, g partial (0.5 each), b, d, e yes (1 each),
    // f, h, i no: (1.5 + 3) / 9 = 50.0; then a no, f and h partial, i yes: c, f, g, h partial
    // (0.5 x 4) and b, d, e, i yes (4): 6 / 9 = 66.7.
    let first = json(&data, &["assess", "score", "3"]);
    assert!((first["overall"].as_f64().unwrap() - 50.0).abs() < 1e-9);
    let second = json(&data, &["assess", "score", "4"]);
    assert!((second["overall"].as_f64().unwrap() - 6.0 / 9.0 * 100.0).abs() < 1e-9);

    // Completed assessments are frozen.
    let err = fails(&data, &["assess", "answer", "4", "a", "yes"]);
    assert!(err.contains("completed"), "{err}");

    // The demo's assets against the OSV and CSAF examples: exactly these findings.
    let findings = json(&data, &["vulns", "findings"]);
    let mut got: Vec<(String, String)> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["asset"].as_str().unwrap().to_string(),
                f["vuln_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("api-gateway".to_string(), "CVE-2014-3616".to_string()),
            ("api-gateway".into(), "CVE-2020-25574".into()),
            ("converter".into(), "CVE-2022-27193".into()),
            ("pdf-service".into(), "CVE-2021-29421".into()),
            ("web-portal".into(), "CVE-2020-28498".into()),
        ]
    );

    // The report is one standalone HTML page with its charts inline.
    let html = ok(&data, &["assess", "export", "2", "--format", "html"]);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<svg"), "a chart");
    assert!(html.contains("Compared with assessment #1"));
    assert!(
        html.contains("Summary of the source"),
        "64/211 items are summaries"
    );
    assert!(!html.contains("<script"), "no script, nothing fetched");
    let report = json(&data, &["assess", "export", "4", "--format", "json"]);
    assert_eq!(report["trend"].as_array().unwrap().len(), 2);
    assert_eq!(
        items(&report["comparison_with_previous"]["regressed"]),
        ["a"]
    );
    let risk = ok(&data, &["risks", "export", "--format", "html"]);
    assert!(risk.contains("Heat map") && risk.contains("<svg"));
}

#[test]
fn malformed_framework_files_are_refused_naming_file_and_path() {
    let (dir, data) = fresh();
    let text = std::fs::read_to_string(repo().join("frameworks/un-ares-57-239.toml"))
        .unwrap()
        .replacen("id = \"c\"", "id = \"a\"", 1);
    let file = dir.path().join("mine.toml");
    std::fs::write(&file, text).unwrap();
    let err = fails(&data, &["frameworks", "validate", file.to_str().unwrap()]);
    assert!(
        err.contains("mine.toml: sections[0].items[2].id: duplicate item id \"a\""),
        "{err}"
    );
    let err = fails(&data, &["frameworks", "add", file.to_str().unwrap()]);
    assert!(err.contains("duplicate item id"), "{err}");
    assert_eq!(
        json(&data, &["frameworks", "list"])
            .as_array()
            .unwrap()
            .len(),
        6
    );

    // A good file of one's own is added, listed and usable; a shipped id and version is not
    // taken over.
    let own = std::fs::read_to_string(repo().join("frameworks/un-ares-57-239.toml"))
        .unwrap()
        .replace("id = \"un-ares-57-239\"", "id = \"our-own\"");
    std::fs::write(&file, own).unwrap();
    assert_eq!(
        json(&data, &["frameworks", "add", file.to_str().unwrap()])["added"],
        true
    );
    assert_eq!(
        json(&data, &["frameworks", "list"])
            .as_array()
            .unwrap()
            .len(),
        7
    );
    let h = json(
        &data,
        &["assess", "new", "--framework", "our-own", "--subject", "Us"],
    );
    assert_eq!(h["assessment"]["framework_id"], "our-own");
    let shipped = dir.path().join("shipped.toml");
    std::fs::copy(repo().join("frameworks/itu-gci.toml"), &shipped).unwrap();
    let err = fails(&data, &["frameworks", "add", shipped.to_str().unwrap()]);
    assert!(err.contains("shipped"), "{err}");
}

#[test]
fn answers_evidence_and_the_audit_trail() {
    let (dir, data) = fresh();
    ok(
        &data,
        &[
            "assess",
            "new",
            "--framework",
            "nist-csf-2.0",
            "--subject",
            "Acme",
        ],
    );
    let evidence = dir.path().join("policy.txt");
    std::fs::write(&evidence, "our access policy").unwrap();
    let a = json(
        &data,
        &[
            "assess",
            "answer",
            "1",
            "PR.AA",
            "repeatable",
            "--evidence",
            "SSO everywhere",
            "--link",
            "https://intranet.example/policy",
            "--file",
            evidence.to_str().unwrap(),
            "--owner",
            "it",
            "--target",
            "adaptive",
            "--target-date",
            "2027-06-30",
        ],
    );
    assert_eq!(a["files"][0]["size"], 17);
    let err = fails(&data, &["assess", "answer", "1", "PR.AA", "tier-9"]);
    assert!(
        err.contains("answer: \"tier-9\" is not on the scale"),
        "{err}"
    );
    let err = fails(
        &data,
        &["assess", "answer", "1", "PR.AA", "--link", "ftp://x"],
    );
    assert!(err.contains("link"), "{err}");
    let card = json(&data, &["assess", "score", "1"]);
    let gap = card["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["item"] == "PR.AA")
        .unwrap()
        .clone();
    assert_eq!(gap["target"], "adaptive");
    assert_eq!(gap["owner"], "it");
    ok(&data, &["assess", "complete", "1", "--due", "2027-01-15"]);
    let due = json(&data, &["assess", "due", "--within", "100000"]);
    assert_eq!(due[0]["due"], "2027-01-15");
    let audit = json(&data, &["audit", "list", "--subject", "assessment:1"]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "assessment.create",
            "assessment.answer",
            "assessment.evidence_file",
            "assessment.complete"
        ]
    );
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == "user:tester")
    );
    ok(&data, &["audit", "verify"]);
}

#[test]
fn advisories_assets_exposure_and_findings_to_closure() {
    let (dir, data) = fresh();
    let csv = dir.path().join("assets.csv");
    std::fs::write(
        &csv,
        "id,name,organisation,constituent,owner,criticality,software\n\
         a1,Shop,Org A,org-1,ops,high,pkg:npm/elliptic@6.5.3\n\
         a2,Blog,Org B,,ops,low,pkg:npm/elliptic@6.5.4\n\
         a3,Wiki,Org C,org-3,,medium,pkg:npm/elliptic\n",
    )
    .unwrap();
    ok(&data, &["risks", "assets", "import", csv.to_str().unwrap()]);
    // The query advisories use to reach constituents: who runs this product?
    let e = json(&data, &["risks", "exposure", "pkg:npm/elliptic"]);
    assert_eq!(e.as_array().unwrap().len(), 3);
    let e = json(
        &data,
        &[
            "risks",
            "exposure",
            "pkg:npm/elliptic",
            "--versions",
            "vers:npm/<6.5.4",
        ],
    );
    let orgs: Vec<&str> = e
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["organisation"].as_str().unwrap())
        .collect();
    // a3 runs an unknown version: it may be exposed.
    assert_eq!(orgs, ["Org A", "Org C"]);

    let examples = repo().join("crates/focal-assessment/tests/data/osv");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"id\": \"X\", \"modified\": \"2024-01-01T00:00:00Z\", \"affected\": [{\"versions\": 3}]}").unwrap();
    let out = focal(
        &data,
        &[
            "vulns",
            "import",
            examples.join("GHSA-r9p9-mrjm-926w.json").to_str().unwrap(),
            bad.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.json: affected[0].versions"), "{err}");
    // The good file was imported and matched anyway.
    let f = json(&data, &["vulns", "findings"]);
    let assets: Vec<&str> = f
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["asset"].as_str().unwrap())
        .collect();
    assert_eq!(assets.len(), 2);
    assert!(assets.contains(&"a1") && assets.contains(&"a3"));
    let id = f
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["asset"] == "a1")
        .unwrap()["id"]
        .as_i64()
        .unwrap();

    // Fixed by upgrading: re-importing the inventory resolves the finding.
    std::fs::write(
        &csv,
        "id,name,organisation,constituent,owner,criticality,software\n\
         a1,Shop,Org A,org-1,ops,high,pkg:npm/elliptic@6.5.4\n",
    )
    .unwrap();
    ok(&data, &["risks", "assets", "import", csv.to_str().unwrap()]);
    let all = json(&data, &["vulns", "findings", "--all"]);
    let f = all
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id)
        .unwrap();
    assert_eq!(f["status"], "resolved");
    // A person accepts the other one, with a reason, linked to a risk.
    let r = json(
        &data,
        &[
            "risks",
            "add",
            "--title",
            "Wiki exposure",
            "--asset",
            "a3",
            "--likelihood",
            "2",
            "--impact",
            "3",
            "--treatment",
            "accept",
            "--control",
            "nist-csf-2.0:PR.PS",
        ],
    );
    let risk = r["risk"]["id"].as_i64().unwrap().to_string();
    let other = all
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["asset"] == "a3")
        .unwrap()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let g = json(
        &data,
        &[
            "vulns",
            "finding",
            &other,
            "--status",
            "accepted",
            "--resolution",
            "internal only",
            "--risk",
            &risk,
        ],
    );
    assert_eq!(g["status"], "accepted");
    let err = fails(
        &data,
        &["vulns", "finding", &other, "--status", "in_progress"],
    );
    assert!(err.contains("can move to open"), "{err}");
    let err = fails(
        &data,
        &[
            "risks",
            "add",
            "--title",
            "x",
            "--likelihood",
            "2",
            "--impact",
            "3",
            "--treatment",
            "accept",
            "--control",
            "nist-csf-2.0:XX.YY",
        ],
    );
    assert!(err.contains("no item"), "{err}");
    assert!(
        json(&data, &["vulns", "findings"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    ok(&data, &["audit", "verify"]);
}
