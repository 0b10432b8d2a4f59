//! `focal feeds import-intelmq`, end to end through the binary: an IntelMQ 3.x runtime.yaml
//! (tests/data/intelmq-runtime.yaml) becomes definitions that read the shipped samples exactly as
//! the shipped definitions do, a generic CSV parser becomes a generated definition, and every bot
//! that cannot be converted is listed with its reason.

mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use support::{fails, json, ok, repo, s};

fn runtime() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/intelmq-runtime.yaml")
}

/// The shipped sample of a shipped definition (`feeds/samples/<stem>.<ext>`).
fn sample_of(shipped_file: &str) -> PathBuf {
    let stem = shipped_file.trim_end_matches(".toml");
    let dir = repo().join("feeds/samples");
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.strip_prefix(stem)
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(|ext| !ext.contains('.') && ext != "toml")
        })
        .unwrap_or_else(|| panic!("no sample for {shipped_file} in {}", dir.display()))
}

/// Everything `focal feeds test` makes of a whole file.
fn probe(data: &Path, definition: &Path, file: &Path) -> Value {
    json(
        data,
        &["feeds", "test", "--rows", "100000", s(definition), s(file)],
    )
}

fn pull_of(definition: &Path) -> toml::Value {
    let text = std::fs::read_to_string(definition).unwrap();
    let value: toml::Value = toml::from_str(&text).unwrap();
    value["pull"].clone()
}

#[test]
fn a_runtime_yaml_becomes_definitions_that_read_like_the_shipped_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = tmp.path().join("defs");
    let summary = json(
        &data,
        &["feeds", "import-intelmq", s(&runtime()), "--out", s(&out)],
    );

    // Converted pairs: which shipped definition each one reuses (None: generated).
    let converted: BTreeMap<String, Value> = summary["converted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["shipped"].clone(),
            )
        })
        .collect();
    let want: BTreeMap<String, Value> = [
        ("blocklist-de-ssh", "blocklist-de-ssh.toml"),
        ("blocklist-de-apache", "blocklist-de-apache.toml"),
        ("dataplane-sshpwauth", "dataplane-sshpwauth.toml"),
        ("spamhaus-drop", "spamhaus-drop.toml"),
        (
            "abusech-feodo-ipblocklist",
            "abusech-feodo-ipblocklist.toml",
        ),
    ]
    .into_iter()
    .map(|(n, f)| (n.to_string(), Value::from(f)))
    .chain([("example-cert-phishing-urls".to_string(), Value::Null)])
    .collect();
    assert_eq!(converted, want, "{summary:#}");
    let written = summary["written"].as_array().unwrap();
    assert_eq!(written.len(), want.len());

    // Each copy reads the shipped sample exactly as the shipped definition does.
    for (name, shipped) in &converted {
        let Some(shipped) = shipped.as_str() else {
            continue;
        };
        let generated = out.join(format!("{name}.toml"));
        let original = repo().join("feeds").join(shipped);
        let sample = sample_of(shipped);
        let theirs = probe(&data, &original, &sample);
        let ours = probe(&data, &generated, &sample);
        assert!(
            theirs["events"].as_u64().unwrap() > 0,
            "{shipped}: {theirs:#}"
        );
        assert_eq!(
            ours,
            theirs,
            "{name} reads {} differently",
            sample.display()
        );
    }

    // The collector's URL and rate_limit became [pull].
    let pull = pull_of(&out.join("blocklist-de-ssh.toml"));
    assert_eq!(
        pull["url"].as_str(),
        Some("https://lists.blocklist.de/lists/ssh.txt")
    );
    assert_eq!(pull["every"].as_str(), Some("1d"));
    let pull = pull_of(&out.join("blocklist-de-apache.toml"));
    assert_eq!(pull["every"].as_str(), Some("12h"));
    let pull = pull_of(&out.join("example-cert-phishing-urls.toml"));
    assert_eq!(
        pull["url"].as_str(),
        Some("https://feeds.example.org/phishing.csv")
    );
    assert_eq!(pull["every"].as_str(), Some("30m"));
    assert_eq!(pull["headers"]["Accept"].as_str(), Some("text/csv"));

    // Unconverted bots, each with its reason.
    let reasons: BTreeMap<String, String> = summary["unconverted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let bots: Vec<&str> = u["bots"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_str().unwrap())
                .collect();
            (bots.join(" -> "), u["reason"].as_str().unwrap().to_string())
        })
        .collect();
    let expect = [
        ("daily-report-collector", "http_url_formatting"),
        ("filtered-collector -> filtered-parser", "filter_text"),
        ("scanners-collector -> scanners-parser", "alternatives"),
        (
            "shadowserver-mail-collector -> shadowserver-parser",
            "mail collector",
        ),
        ("orphan-parser", "no collector sends to it"),
    ];
    assert_eq!(reasons.len(), expect.len(), "{reasons:#?}");
    for (bots, why) in expect {
        let reason = reasons
            .get(bots)
            .unwrap_or_else(|| panic!("{bots} is not listed as unconverted: {reasons:#?}"));
        assert!(reason.contains(why), "{bots}: {reason}");
    }
    let ignored: Vec<&str> = summary["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["bot"].as_str().unwrap())
        .collect();
    assert_eq!(ignored, ["deduplicator-expert", "file-output"]);

    // Writing again refuses the existing files and writes nothing.
    let before = std::fs::read_to_string(out.join("spamhaus-drop.toml")).unwrap();
    let err = fails(
        &data,
        &["feeds", "import-intelmq", s(&runtime()), "--out", s(&out)],
    );
    assert!(err.contains("already there"), "{err}");
    assert_eq!(
        std::fs::read_to_string(out.join("spamhaus-drop.toml")).unwrap(),
        before
    );
}

#[test]
fn the_generic_csv_parser_becomes_a_definition_with_its_columns_types_and_times() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = tmp.path().join("defs");
    ok(
        &data,
        &["feeds", "import-intelmq", s(&runtime()), "--out", s(&out)],
    );
    // As the Example CERT feed would deliver it: a header line (skip_header), ';'-separated.
    let csv = tmp.path().join("phishing.csv");
    std::fs::write(
        &csv,
        "seen;url;id;kind;brand\n\
         # a comment line, dropped as IntelMQ's parser does\n\
         2026-12-01 10:00:00;login.example.net/bank;17;phish;ExampleBank\n\
         2026-12-01 11:30:00;https://dl.example.net/x.exe;18;malware;\n\
         2026-12-01 12:00:00;;19;phish;NoUrl\n",
    )
    .unwrap();
    let p = probe(&data, &out.join("example-cert-phishing-urls.toml"), &csv);
    assert_eq!(p["records"], 3, "{p:#}");
    assert_eq!(p["events"], 2, "{p:#}");
    let rows = p["rows"].as_array().unwrap();
    let first = &rows[0]["fields"];
    assert_eq!(first["source.url"], "http://login.example.net/bank");
    assert_eq!(first["classification.type"], "phishing");
    assert_eq!(first["extra.brand"], "ExampleBank");
    assert_eq!(first["extra.type"], "phish");
    assert_eq!(first["time.source"], "2026-12-01T10:00:00+00:00");
    assert_eq!(first["feed.provider"], "Example CERT");
    let second = &rows[1]["fields"];
    assert_eq!(second["source.url"], "https://dl.example.net/x.exe");
    assert_eq!(second["classification.type"], "malware-distribution");
    // columns_required: a row without its URL is quarantined, naming the field.
    assert_eq!(rows[2]["outcome"], "quarantined", "{:#}", rows[2]);
    assert_eq!(rows[2]["field"], "source.url", "{:#}", rows[2]);
}

#[test]
fn register_adds_every_definition_to_the_data_folder_or_none() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&data, &["init"]);
    // Without --out or --register nothing is written anywhere.
    let dry = json(&data, &["feeds", "import-intelmq", s(&runtime())]);
    assert_eq!(dry["written"], serde_json::json!([]));
    assert_eq!(dry["registered"], serde_json::json!([]));
    assert_eq!(
        json(&data, &["feeds", "list"])["feeds"],
        serde_json::json!([])
    );

    let done = json(
        &data,
        &["feeds", "import-intelmq", s(&runtime()), "--register"],
    );
    assert_eq!(done["registered"].as_array().unwrap().len(), 6, "{done:#}");
    let list = json(&data, &["feeds", "list"]);
    let feeds = list["feeds"].as_array().unwrap();
    assert_eq!(feeds.len(), 6, "{list:#}");
    let drop = feeds.iter().find(|f| f["name"] == "spamhaus-drop").unwrap();
    assert_eq!(drop["pull"]["every_secs"], 3600);
    assert_eq!(
        drop["pull"]["url"],
        "https://www.spamhaus.org/drop/drop.txt"
    );
    // Audited like `feeds add`.
    let audit = ok(&data, &["audit", "list"]);
    assert!(audit.contains("feed:spamhaus-drop"), "{audit}");

    // Again: every name is taken, nothing is registered twice or replaced.
    let err = fails(
        &data,
        &["feeds", "import-intelmq", s(&runtime()), "--register"],
    );
    assert!(err.contains("already registered"), "{err}");
    assert_eq!(
        json(&data, &["feeds", "list"])["feeds"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
}
