//! Focal's STIX pattern parser against the OASIS reference validator (stix2-patterns, pinned in
//! scripts/pytools-requirements.txt), run as an oracle through `tests/stix/pattern_oracle.py`:
//!
//! - a corpus of valid and invalid patterns (`tests/data/patterns.jsonl`, with the examples of
//!   the STIX 2.1 specification) where Focal and the validator must both give the recorded verdict;
//! - generated valid patterns, and mutations of them (a character dropped, inserted or doubled),
//!   where Focal must agree with the validator on every input the validator decides;
//! - a property test: every generated valid pattern parses, and its printed form parses back
//!   to the same pattern.

use focal_sharing::pattern;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

/// The reference validator's verdict on each pattern: Some(valid), or None where it crashed.
fn oracle(patterns: &[String]) -> Vec<Option<bool>> {
    let script = focal_testkit::workspace_root().join("tests/stix/pattern_oracle.py");
    let mut child = Command::new(focal_testkit::pytool("python"))
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("running the pattern oracle (scripts/pytools.sh installs stix2-patterns)");
    let mut stdin = child.stdin.take().expect("stdin");
    let input: Vec<String> = patterns
        .iter()
        .map(|p| serde_json::to_string(p).unwrap())
        .collect();
    // Written from another thread: the oracle answers line by line, and a full stdout pipe
    // would otherwise block both processes.
    let writer = std::thread::spawn(move || {
        for line in input {
            writeln!(stdin, "{line}").expect("writing to the oracle");
        }
    });
    let out = BufReader::new(child.stdout.take().expect("stdout"));
    let verdicts: Vec<Option<bool>> = out
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(&l.expect("oracle output")).expect("oracle JSON");
            if v.get("crash").is_some() {
                None
            } else {
                v["valid"].as_bool()
            }
        })
        .collect();
    writer.join().expect("writer thread");
    assert!(child.wait().expect("oracle exit").success());
    assert_eq!(
        verdicts.len(),
        patterns.len(),
        "the oracle answered every pattern"
    );
    verdicts
}

#[test]
fn the_corpus_gets_the_same_verdict_from_focal_and_the_reference_validator() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/patterns.jsonl");
    let entries: Vec<Value> = std::fs::read_to_string(&path)
        .expect("the corpus")
        .lines()
        .map(|l| serde_json::from_str(l).expect("corpus JSON"))
        .filter(|e: &Value| e.get("pattern").is_some())
        .collect();
    assert!(entries.len() > 100);
    let patterns: Vec<String> = entries
        .iter()
        .map(|e| e["pattern"].as_str().unwrap().to_string())
        .collect();
    let verdicts = oracle(&patterns);
    let mut spec_examples = 0;
    for ((entry, p), reference) in entries.iter().zip(&patterns).zip(verdicts) {
        let expected = entry["valid"].as_bool().unwrap();
        let focal = pattern::parse(p);
        assert_eq!(
            focal.is_ok(),
            expected,
            "Focal on {p:?}: {focal:?} ({entry})"
        );
        if entry["oracle_crashes"] == true {
            assert_eq!(reference, None, "the reference validator on {p:?}");
        } else {
            assert_eq!(
                reference,
                Some(expected),
                "the reference validator on {p:?} ({entry})"
            );
        }
        if entry["source"] == "STIX 2.1 §9.9" {
            spec_examples += 1;
        }
    }
    assert!(
        spec_examples >= 20,
        "the specification's examples are in the corpus"
    );
}

// ---------------------------------------------------------------------------------------------
// A generator of valid patterns, as text. Operator precedence is respected by parenthesising a
// lower-precedence operand, so everything generated is valid by construction.

fn object_type() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "ipv4-addr",
        "file",
        "x-acme-thing",
        "a",
        "network-traffic",
        "user_account",
        "t",
        "b",
    ])
    .prop_map(str::to_string)
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "value", "name", "size", "x_custom", "dst_ref", "h", "START_x"
        ])
        .prop_map(str::to_string),
        prop::sample::select(vec!["'SHA-256'", "'a b'", "'it\\'s'", "'x-y'", "''"])
            .prop_map(str::to_string),
    ]
}

fn path() -> impl Strategy<Value = String> {
    let step = prop_oneof![
        key().prop_map(|k| format!(".{k}")),
        prop::sample::select(vec!["[0]", "[*]", "[12]", "[+3]"]).prop_map(str::to_string),
    ];
    (object_type(), key(), prop::collection::vec(step, 0..3))
        .prop_map(|(t, first, steps)| format!("{t}:{first}{}", steps.concat()))
}

fn string_literal() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "'198.51.100.7'",
        "''",
        "'a\\'b'",
        "'back\\\\slash'",
        "'h\u{e9}llo'",
        "'%.exe'",
        "'10.0.0.0/8'",
    ])
    .prop_map(str::to_string)
}

fn orderable() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "0",
            "-5",
            "+7",
            "42",
            "123456789012345678901234567890",
            "1.5",
            "-0.25",
            ".5",
            "b'AAAA'",
            "b'AAA='",
            "h''",
            "h'ff00'",
            "t'2016-01-01T00:00:00Z'",
            "t'2020-12-31T23:59:60.123456Z'",
        ])
        .prop_map(str::to_string),
        string_literal(),
    ]
}

fn primitive() -> impl Strategy<Value = String> {
    prop_oneof![
        orderable(),
        prop::sample::select(vec!["true", "false"]).prop_map(str::to_string)
    ]
}

fn test() -> impl Strategy<Value = String> {
    let not = prop::bool::weighted(0.2).prop_map(|n| if n { "NOT " } else { "" });
    prop_oneof![
        (
            path(),
            not.clone(),
            prop::sample::select(vec!["=", "==", "!=", "<>"]),
            primitive()
        )
            .prop_map(|(p, n, o, v)| format!("{p} {n}{o} {v}")),
        (
            path(),
            not.clone(),
            prop::sample::select(vec![">", "<", ">=", "<="]),
            orderable()
        )
            .prop_map(|(p, n, o, v)| format!("{p} {n}{o} {v}")),
        (
            path(),
            not.clone(),
            prop::collection::vec(primitive(), 0..4)
        )
            .prop_map(|(p, n, v)| format!("{p} {n}IN ({})", v.join(", "))),
        (
            path(),
            not,
            prop::sample::select(vec!["LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET"]),
            string_literal()
        )
            .prop_map(|(p, n, o, v)| format!("{p} {n}{o} {v}")),
        path().prop_map(|p| format!("EXISTS {p}")),
    ]
}

/// (text, precedence level of its top operator: 0 atom, 1 AND, 2 OR, 3 FOLLOWEDBY)
type Leveled = (String, u8);

fn wrap(e: Leveled, max: u8) -> String {
    if e.1 > max { format!("({})", e.0) } else { e.0 }
}

fn comparison() -> impl Strategy<Value = String> {
    let leaf = test().prop_map(|t| (t, 0u8));
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| (format!("({})", e.0), 0)),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| (format!("{} AND {}", wrap(a, 1), wrap(b, 1)), 1)),
            (inner.clone(), inner).prop_map(|(a, b)| (format!("{} OR {}", a.0, b.0), 2)),
        ]
    })
    .prop_map(|e| e.0)
}

fn qualifier() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "WITHIN 300 SECONDS",
        "WITHIN 0.5 SECONDS",
        "REPEATS 5 TIMES",
        "START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'",
    ])
    .prop_map(str::to_string)
}

/// Qualifiers for a `[...]` observation: each kind at most once.
fn distinct_qualifiers() -> impl Strategy<Value = String> {
    prop::sample::subsequence(
        vec![
            "WITHIN 300 SECONDS",
            "REPEATS 5 TIMES",
            "START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'",
        ],
        0..=2,
    )
    .prop_shuffle()
    .prop_map(|q| q.iter().map(|q| format!(" {q}")).collect::<String>())
}

fn observation() -> impl Strategy<Value = String> {
    let leaf = (comparison(), distinct_qualifiers()).prop_map(|(c, q)| (format!("[{c}]{q}"), 0u8));
    leaf.prop_recursive(3, 10, 2, |inner| {
        prop_oneof![
            (inner.clone(), prop::collection::vec(qualifier(), 0..3)).prop_map(|(e, q)| {
                let q: String = q.iter().map(|q| format!(" {q}")).collect();
                (format!("({}){q}", e.0), 0)
            }),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| (format!("{} AND {}", wrap(a, 1), wrap(b, 1)), 1)),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| (format!("{} OR {}", wrap(a, 2), wrap(b, 2)), 2)),
            (inner.clone(), inner).prop_map(|(a, b)| (format!("{} FOLLOWEDBY {}", a.0, b.0), 3)),
        ]
    })
    .prop_map(|e| e.0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn generated_valid_patterns_parse_and_print_back(p in observation()) {
        let parsed = pattern::parse(&p).map_err(|e| TestCaseError::fail(format!("{p:?}: {e}")))?;
        let printed = parsed.to_string();
        let again = pattern::parse(&printed)
            .map_err(|e| TestCaseError::fail(format!("printed {printed:?}: {e}")))?;
        prop_assert_eq!(again, parsed);
    }
}

/// Small edits that make most patterns invalid, some still valid: the inputs where a parser
/// that only looks right would part from the reference.
fn mutations(p: &str, rng: &mut TestRng) -> Vec<String> {
    let chars: Vec<char> = p.chars().collect();
    let inserts = [
        '[', ']', '(', ')', '\'', '=', ':', '.', ',', '-', ' ', 'A', 'N', '0', '1', 't', 'b', 'h',
        'Z', '*', '\\', '/', '+',
    ];
    let mut out = Vec::new();
    for _ in 0..4 {
        let at = rng.random_range(0..chars.len());
        let mut dropped = chars.clone();
        dropped.remove(at);
        out.push(dropped.into_iter().collect());
        let mut inserted = chars.clone();
        inserted.insert(at, inserts[rng.random_range(0..inserts.len())]);
        out.push(inserted.into_iter().collect());
        let end = (at + rng.random_range(1..6)).min(chars.len());
        let mut doubled = chars.clone();
        doubled.splice(at..at, chars[at..end].iter().copied());
        out.push(doubled.into_iter().collect());
    }
    out
}

#[test]
fn generated_and_mutated_patterns_get_the_reference_validators_verdict() {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[12; 32]),
    );
    let strategy = observation();
    let mut inputs = Vec::new();
    for _ in 0..150 {
        let p = strategy.new_tree(&mut runner).expect("a pattern").current();
        let edits = mutations(&p, runner.rng());
        inputs.push(p);
        inputs.extend(edits);
    }
    let verdicts = oracle(&inputs);
    let (mut compared, mut valid, mut disagreements) = (0, 0, Vec::new());
    for (p, reference) in inputs.iter().zip(verdicts) {
        let Some(reference) = reference else { continue };
        compared += 1;
        let focal = pattern::parse(p);
        valid += usize::from(reference);
        if focal.is_ok() != reference {
            disagreements.push(format!("{p:?}: reference {reference}, Focal {focal:?}"));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreements in {compared}:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    // Both kinds were exercised in numbers.
    assert!(
        compared > inputs.len() * 9 / 10,
        "{compared} of {}",
        inputs.len()
    );
    assert!(
        valid > 150 && compared - valid > 600,
        "{valid} valid of {compared}"
    );
}
