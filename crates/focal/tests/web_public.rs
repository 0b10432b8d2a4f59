//! The public face of `focal serve` (issue 17), over real HTTP without signing in: the Atom
//! feed (read by Python's feedparser) and pages of published TLP:CLEAR advisories, nothing of
//! any other advisory, and the public statistics with no figure below k, the same figures as
//! `focal stats public`.

mod web;

use serde_json::Value;
use std::process::Command;
use web::*;

/// Publishes an advisory through the CLI (two people: writer and publisher); returns its id.
fn advisory(site: &Site, title: &str, tlp: &str, publish: bool) -> String {
    let created = focal_json(
        &site.data,
        &[
            "--actor",
            "writer",
            "advisories",
            "new",
            "--title",
            title,
            "--summary",
            "What it is and what to do.",
            "--product",
            "Acme/Router",
            "--tlp",
            tlp,
        ],
    );
    let id = created["id"].as_str().unwrap().to_string();
    if publish {
        focal(
            &site.data,
            &["--actor", "writer", "advisories", "submit", &id],
        );
        focal(
            &site.data,
            &["--actor", "publisher", "advisories", "publish", &id],
        );
    }
    id
}

/// Every number in the statistics is 0 or at least k (counts of withheld cells aside).
fn assert_nothing_below_k(v: &Value, k: f64, path: &str) {
    match v {
        Value::Object(m) => {
            for (key, value) in m {
                if ["k", "withheld_cells", "withheld_weeks", "median_hours"].contains(&key.as_str())
                {
                    continue;
                }
                assert_nothing_below_k(value, k, &format!("{path}.{key}"));
            }
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| assert_nothing_below_k(x, k, &format!("{path}[{i}]"))),
        Value::Number(n) => {
            let n = n.as_f64().unwrap();
            assert!(n == 0.0 || n >= k, "{path} = {n} is below k = {k}");
        }
        _ => {}
    }
}

#[test]
fn the_public_pages_show_clear_advisories_and_statistics_and_nothing_else() {
    let site = Site::new();
    let clear = advisory(&site, "Router firmware update", "CLEAR", true);
    let amber = advisory(&site, "Amber-only exposure details", "AMBER", true);
    let draft = advisory(&site, "Unpublished draft notice", "CLEAR", false);
    let server = site.serve("127.0.0.1:0");
    // No cookie, no token: what anyone on the network gets.
    let http = client();

    let feed = http
        .get(format!("{}/public/advisories.atom", server.base))
        .send()
        .unwrap();
    assert_eq!(feed.status(), 200);
    assert!(
        feed.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/atom+xml")
    );
    let body = feed.text().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.atom");
    std::fs::write(&path, &body).unwrap();
    let parsed = Command::new(focal_testkit::pytool("python"))
        .args([
            "-c",
            "import feedparser, json, sys; f = feedparser.parse(sys.argv[1]); \
             print(json.dumps({'bozo': bool(f.bozo), 'titles': [e.title for e in f.entries]}))",
        ])
        .arg(&path)
        .output()
        .expect("feedparser in the Python tools");
    assert!(
        parsed.status.success(),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let parsed: Value = serde_json::from_slice(&parsed.stdout).unwrap();
    assert_eq!(parsed["bozo"], false, "{body}");
    let titles: Vec<&str> = parsed["titles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        titles.iter().any(|t| t.contains("Router firmware update")),
        "{titles:?}"
    );
    for hidden in ["Amber-only exposure details", "Unpublished draft notice"] {
        assert!(!body.contains(hidden), "{hidden} is in the public feed");
    }

    let page = |id: &str| {
        http.get(format!("{}/public/advisories/{id}", server.base))
            .send()
            .unwrap()
    };
    let shown = page(&clear);
    assert_eq!(shown.status(), 200);
    let shown = shown.text().unwrap();
    assert!(shown.contains("Router firmware update") && shown.contains("TLP:CLEAR"));
    // AMBER, a draft and an unknown id answer alike, and say nothing of what they hold.
    for id in [amber.as_str(), draft.as_str(), "FOCAL-1999-99999"] {
        let r = page(id);
        assert_eq!(r.status(), 404, "{id}");
        let text = r.text().unwrap();
        assert!(
            !text.contains("Amber-only") && !text.contains("Unpublished draft"),
            "{text}"
        );
    }

    // The statistics: the configured k (the default), the same figures as the CLI, none below k.
    let stats: Value = http
        .get(format!("{}/public/stats.json", server.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let k = stats["k"].as_f64().unwrap();
    assert!(k >= 2.0);
    let cli = focal_json(&site.data, &["stats", "public"]);
    for key in ["events_per_week", "infected_hosts", "time_to_resolution"] {
        assert_eq!(stats[key], cli[key], "{key}");
    }
    assert!(
        stats["events_per_week"]["total"].as_u64().unwrap_or(0) > 0,
        "the demo has TLP:CLEAR events to show: {stats}"
    );
    assert_nothing_below_k(&stats, k, "");
    let html = http
        .get(format!("{}/public/stats", server.base))
        .send()
        .unwrap();
    assert_eq!(html.status(), 200);
    let html = html.text().unwrap();
    assert!(html.contains("Events per week"), "{html}");
    let cells = stats["events_per_week"]["cells"].as_array().unwrap();
    assert_eq!(
        html.contains("<svg"),
        !cells.is_empty(),
        "a chart of what is published"
    );
    for c in cells {
        let row = format!(
            "<td>{}</td><td>{}</td><td class=\"num\">{}</td>",
            c["week"].as_str().unwrap(),
            c["type"].as_str().unwrap(),
            c["count"]
        );
        assert!(html.contains(&row), "{row} in the page");
    }

    // The rest of the application still wants a sign-in.
    let events = http
        .get(format!("{}/api/v1/events", server.base))
        .send()
        .unwrap();
    assert_eq!(events.status(), 401);
}
