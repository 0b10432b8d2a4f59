//! Version-range matching on real advisories: the OSV schema's own examples and a CSAF 2.0
//! example of the OASIS CSAF TC (see tests/data/ATTRIBUTION.md), plus one CSAF document written
//! for these tests to cover `vers` ranges, purl helpers and relationships.

use focal_assessment::advisory::{self, Advisory, Rating, Verdict};
use focal_assessment::matching::{SoftwareIndex, StoredRecord, match_all};
use focal_assessment::risk::Installed;
use focal_assessment::software::Software;

fn load(path: &str) -> Advisory {
    let full = format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&full).unwrap();
    let mut list = advisory::parse(path, &bytes).unwrap();
    assert_eq!(list.len(), 1);
    list.remove(0)
}

/// The verdict of the advisory for one installed package (the best over its records).
fn check(a: &Advisory, spec: &str) -> Verdict {
    let s = Software::parse(spec).unwrap();
    let verdicts: Vec<Verdict> = a.records.iter().map(|r| advisory::verdict(r, &s)).collect();
    if verdicts.contains(&Verdict::Affected) {
        Verdict::Affected
    } else if verdicts.contains(&Verdict::VersionUnknown) {
        Verdict::VersionUnknown
    } else {
        Verdict::NotAffected
    }
}

use Verdict::{Affected, NotAffected, VersionUnknown};

#[test]
fn npm_introduced_zero_fixed() {
    let a = load("osv/GHSA-r9p9-mrjm-926w.json");
    assert_eq!(a.records.len(), 1);
    assert_eq!(a.records[0].vuln_id, "CVE-2020-28498");
    assert_eq!(check(&a, "pkg:npm/elliptic@6.5.3"), Affected);
    assert_eq!(check(&a, "pkg:npm/elliptic@0.1.0"), Affected);
    assert_eq!(check(&a, "pkg:npm/elliptic@6.5.4"), NotAffected);
    assert_eq!(check(&a, "pkg:npm/elliptic@6.10.0"), NotAffected);
    assert_eq!(check(&a, "pkg:npm/elliptic-other@6.5.3"), NotAffected);
    assert_eq!(check(&a, "pkg:npm/elliptic"), VersionUnknown);
    // CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:N/A:N has base score 6.8.
    assert_eq!(a.severity.cvss_score, Some(6.8));
    assert_eq!(a.severity.rating, Rating::Medium);
}

#[test]
fn crates_semver_range_and_a_word_for_severity() {
    let a = load("osv/RUSTSEC-2019-0033.json");
    assert_eq!(check(&a, "pkg:cargo/http@0.1.19"), Affected);
    assert_eq!(check(&a, "pkg:cargo/http@0.1.20"), NotAffected);
    assert_eq!(check(&a, "pkg:cargo/http@0.2.0"), NotAffected);
    // The first CVE alias names the vulnerability.
    assert_eq!(a.records[0].vuln_id, "CVE-2020-25574");
    // No CVSS vector: the ecosystem's own word.
    assert_eq!(a.severity.rating, Rating::High);
    assert_eq!(a.severity.cvss_score, None);
}

#[test]
fn pypi_ranges_follow_pep_440_and_names_are_normalised() {
    let a = load("osv/PYSEC-2021-XXXX.json");
    assert_eq!(check(&a, "pkg:pypi/pikepdf@2.8.0.post2"), Affected);
    assert_eq!(check(&a, "pkg:pypi/PikePDF@2.9.2"), Affected);
    // A pre-release of the fixed version comes before it in PEP 440.
    assert_eq!(check(&a, "pkg:pypi/pikepdf@2.10.0rc1"), Affected);
    assert_eq!(check(&a, "pkg:pypi/pikepdf@2.10.0"), NotAffected);
    assert_eq!(check(&a, "pkg:pypi/pikepdf@2.7.9"), NotAffected);
    // The GIT range is not evaluated, but the ECOSYSTEM range covers it: nothing unmatchable.
    assert!(a.unmatchable.is_empty(), "{:?}", a.unmatchable);
}

#[test]
fn debian_versions_compare_as_dpkg_does_within_one_release() {
    let a = load("osv/DSA-3029-1.json");
    assert_eq!(
        check(&a, "pkg:deb/debian/nginx@1.2.1-2.2+wheezy2?distro=wheezy"),
        Affected
    );
    assert_eq!(
        check(&a, "pkg:deb/debian/nginx@1.2.1-2.2+wheezy3?distro=debian-7"),
        NotAffected
    );
    // wheezy10 is later than wheezy3 for dpkg (a text comparison would say earlier).
    assert_eq!(
        check(&a, "pkg:deb/debian/nginx@1.2.1-2.2+wheezy10?distro=7"),
        NotAffected
    );
    // An epoch outranks everything after it (a natural ordering would put 1:1.0 before 1.2.1).
    assert_eq!(
        check(&a, "pkg:deb/debian/nginx@1:1.0-1?distro=wheezy"),
        NotAffected
    );
    // The advisory speaks for Debian 7 only.
    assert_eq!(
        check(&a, "pkg:deb/debian/nginx@1.2.1-2.2?distro=jessie"),
        NotAffected
    );
    // Without a release on the asset's side, it may be affected.
    assert_eq!(check(&a, "pkg:deb/debian/nginx@1.2.1-2.2"), Affected);
    assert_eq!(check(&a, "pkg:deb/ubuntu/nginx@1.2.1-2.2"), NotAffected);
}

#[test]
fn rubygems_pre_releases_and_the_versions_list() {
    let a = load("osv/CVE-2019-3881.json");
    assert_eq!(check(&a, "pkg:gem/bundler@1.15.0.pre.2"), Affected);
    assert_eq!(check(&a, "pkg:gem/bundler@2.1.0.pre.3"), Affected);
    assert_eq!(check(&a, "pkg:gem/bundler@2.1.0"), NotAffected);
    assert_eq!(check(&a, "pkg:gem/bundler@1.13.9"), NotAffected);
}

#[test]
fn what_cannot_be_matched_is_reported_not_dropped() {
    let a = load("osv/OSV-2020-584.json");
    assert!(a.records.is_empty());
    assert_eq!(a.unmatchable.len(), 1);
    assert!(
        a.unmatchable[0]
            .reason
            .contains("\"OSS-Fuzz\" has no Package URL type"),
        "{:?}",
        a.unmatchable
    );
    let a = load("osv/HSEC-2023-0006.json");
    assert!(a.records.is_empty());
    assert!(
        a.unmatchable[0].reason.contains("Hackage"),
        "{:?}",
        a.unmatchable
    );
}

#[test]
fn csaf_product_versions_from_the_tree_and_cvss_from_the_vector() {
    let a = load("csaf/bsi-2022-0001.json");
    assert_eq!(a.id, "BSI-2022-0001");
    assert_eq!(a.records.len(), 5);
    assert!(a.records.iter().all(|r| r.vuln_id == "CVE-2022-27193"));
    let cpe = |v: &str| format!("cpe:2.3:a:csaf-tools:cvrf-csaf-converter:{v}:*:*:*:*:*:*:*");
    assert_eq!(check(&a, &cpe("1.0.0-rc1")), Affected);
    assert_eq!(check(&a, &cpe("1.0.0-dev2")), Affected);
    // The fixed product is not affected, nor a version the document does not list.
    assert_eq!(check(&a, &cpe("1.0.0-rc2")), NotAffected);
    assert_eq!(check(&a, &cpe("1.0.0")), NotAffected);
    // CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:L: base 6.1.
    assert_eq!(a.records[0].severity.cvss_score, Some(6.1));
    assert_eq!(a.severity.rating, Rating::Medium);
    assert!(
        a.records[0]
            .remediation
            .as_deref()
            .unwrap()
            .contains("1.0.0-rc2")
    );
}

#[test]
fn csaf_vers_ranges_purls_and_relationships() {
    let a = load("csaf/focal-test-2026-0001.json");
    let widget = |v: &str| format!("cpe:2.3:a:example:widget:{v}:*:*:*:*:*:*:*");
    assert_eq!(check(&a, &widget("2.0")), Affected);
    assert_eq!(check(&a, &widget("2.3.9")), Affected);
    assert_eq!(check(&a, &widget("2.4.1")), NotAffected);
    // Numeric, not textual: 2.10 is after 2.4.1.
    assert_eq!(check(&a, &widget("2.10")), NotAffected);
    assert_eq!(check(&a, &widget("1.9")), NotAffected);
    // The library installed on the appliance: its purl has no version, so every version.
    assert_eq!(check(&a, "pkg:npm/%40example/lib@1.0.0"), Affected);
    assert_eq!(check(&a, "pkg:npm/%40example/lib@9.9.9"), Affected);
    // PyPI name normalisation between the document and the asset.
    assert_eq!(check(&a, "pkg:pypi/lib-example@1.3.0"), Affected);
    assert_eq!(check(&a, "pkg:pypi/lib-example@1.3.1"), NotAffected);
    // Severity per product.
    let critical = a
        .records
        .iter()
        .find(|r| r.key == "cpe:a:example:widget")
        .unwrap();
    assert_eq!(critical.severity.cvss_score, Some(9.8));
    assert_eq!(critical.severity.rating, Rating::Critical);
    assert_eq!(a.severity.rating, Rating::Critical);
    // The free-text range is reported.
    assert_eq!(a.unmatchable.len(), 1);
    assert!(
        a.unmatchable[0].reason.contains("free text"),
        "{:?}",
        a.unmatchable
    );
}

#[test]
fn malformed_documents_name_the_place() {
    let e = advisory::parse("x.json", b"{\"id\": 1,\n \"modified\": ").unwrap_err();
    assert_eq!(e.line, Some(2));
    let e = advisory::parse("x.json", b"{\"hello\": 1}").unwrap_err();
    assert!(e.message.contains("neither"), "{e}");
    let doc = r#"{"id": "X-1", "modified": "2024-01-01T00:00:00Z", "affected": [{"package": {"ecosystem": "npm", "name": "a"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0", "fixed": "1.0.0"}]}]}]}"#;
    let e = advisory::parse("x.json", doc.as_bytes()).unwrap_err();
    assert_eq!(e.path, "affected[0].ranges[0]");
    assert!(e.message.contains("exactly one"), "{e}");
    let doc = r#"{"id": "X-1", "modified": "2024-01-01T00:00:00Z", "affected": [{"package": {"ecosystem": "npm", "name": "a"}, "ranges": [{"type": "SEMVER", "events": [{"fixed": "1.0.0"}]}]}]}"#;
    let e = advisory::parse("x.json", doc.as_bytes()).unwrap_err();
    assert!(e.message.contains("introduced"), "{e}");
    let doc =
        r#"{"id": "X-1", "modified": "2024-01-01T00:00:00Z", "affected": [{"versions": "1.0"}]}"#;
    let e = advisory::parse("x.json", doc.as_bytes()).unwrap_err();
    assert_eq!(e.path, "affected[0].versions");
    let mut csaf: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!(
            "{}/tests/data/csaf/bsi-2022-0001.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    csaf["document"]["csaf_version"] = "1.2".into();
    let e = advisory::parse("c.json", csaf.to_string().as_bytes()).unwrap_err();
    assert_eq!(e.path, "document.csaf_version");
    csaf["document"]["csaf_version"] = "2.0".into();
    csaf["document"]["tracking"]["id"] = serde_json::json!(7);
    let e = advisory::parse("c.json", csaf.to_string().as_bytes()).unwrap_err();
    assert_eq!(e.path, "document.tracking.id");
}

#[test]
fn an_osv_array_gives_one_advisory_each() {
    let one = std::fs::read_to_string(format!(
        "{}/tests/data/osv/GHSA-r9p9-mrjm-926w.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let two = std::fs::read_to_string(format!(
        "{}/tests/data/osv/RUSTSEC-2019-0033.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let list = advisory::parse("all.json", format!("[{one},{two}]").as_bytes()).unwrap();
    assert_eq!(
        list.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["GHSA-r9p9-mrjm-926w", "RUSTSEC-2019-0033"]
    );
}

#[test]
fn matching_joins_on_the_package_key() {
    let mut index = SoftwareIndex::new();
    for (asset, spec) in [
        ("web-1", "pkg:npm/elliptic@6.5.3"),
        ("web-2", "pkg:npm/elliptic@6.5.4"),
        ("web-3", "pkg:npm/elliptic"),
        ("api-1", "pkg:cargo/http@0.1.19"),
        ("api-1", "pkg:npm/left-pad@1.0.0"),
    ] {
        index.insert(Installed {
            asset: asset.into(),
            organisation: "Org".into(),
            constituent: None,
            software: Software::parse(spec).unwrap(),
        });
    }
    let records: Vec<StoredRecord> = [
        (1, load("osv/GHSA-r9p9-mrjm-926w.json")),
        (2, load("osv/RUSTSEC-2019-0033.json")),
    ]
    .into_iter()
    .flat_map(|(id, a)| {
        a.records.into_iter().map(move |record| StoredRecord {
            advisory: id,
            advisory_ref: a.id.clone(),
            record,
        })
    })
    .collect();
    let found = match_all(&index, &records);
    let got: Vec<(&str, i64, Verdict)> = found
        .iter()
        .map(|f| (f.asset.as_str(), f.advisory, f.confidence))
        .collect();
    assert_eq!(
        got,
        [
            ("web-1", 1, Affected),
            ("web-3", 1, VersionUnknown),
            ("api-1", 2, Affected)
        ]
    );
}
