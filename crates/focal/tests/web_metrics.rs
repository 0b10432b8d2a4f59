//! Prometheus `/metrics` of a real `focal serve`: the ingest totals agree with the runs the
//! store recorded, the queue depths follow the work waiting after an ingest and drop to zero
//! once the stages catch up, and HTTP requests are counted by route.

mod web;

use std::collections::BTreeMap;
use web::*;

/// `name{labels} value` lines of the Prometheus text format, keyed by everything before the
/// value.
fn scrape(admin: &Session) -> BTreeMap<String, f64> {
    let resp = admin.get("/metrics");
    assert_eq!(resp.status(), 200);
    let text = resp.text().unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn metric(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    *m.get(key)
        .unwrap_or_else(|| panic!("/metrics has no {key}; it has {:?}", m.keys()))
}

#[test]
fn metrics_report_ingest_totals_queue_depths_and_requests() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let admin = login(&server.base, "admin2");

    // Totals agree with the runs the store recorded.
    let runs = focal_json(&site.data, &["runs", "--limit", "100000"]);
    let stored: u64 = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["events_stored"].as_u64().unwrap())
        .sum();
    assert!(stored > 0, "the demo stored events");
    let m = scrape(&admin);
    assert_eq!(
        metric(&m, "focal_ingest_events_stored_total"),
        stored as f64
    );
    assert_eq!(
        metric(&m, "focal_ingest_runs_total"),
        runs.as_array().unwrap().len() as f64
    );
    // The demo grouped everything it ingested.
    assert_eq!(metric(&m, "focal_incidents_ungrouped_events"), 0.0);
    assert_eq!(metric(&m, "focal_ingest_runs_unfinished"), 0.0);
    let open = focal_json(&site.data, &["incidents", "--limit", "100000", "--open"]);
    assert_eq!(
        metric(&m, "focal_incidents_open"),
        open.as_array().unwrap().len() as f64
    );
    let breached = focal_json(
        &site.data,
        &["incidents", "--limit", "100000", "--breached"],
    );
    assert_eq!(
        metric(&m, "focal_incidents_sla_breached"),
        breached.as_array().unwrap().len() as f64
    );

    // An ingest without grouping leaves exactly its new events waiting for grouping and for
    // the dashboard's rollup.
    let feed = concat!(env!("CARGO_MANIFEST_DIR"), "/../../feeds/blocklist-de.toml");
    let list = site.dir.path().join("list.txt");
    let addresses: String = (1..=40).map(|i| format!("198.18.7.{i}\n")).collect();
    std::fs::write(&list, addresses).unwrap();
    let ingest = focal_json(
        &site.data,
        &[
            "ingest",
            "--no-group",
            "--feed",
            feed,
            list.to_str().unwrap(),
        ],
    );
    let new_events = ingest["files"][0]["events_stored"].as_u64().unwrap();
    assert!(new_events > 0);
    let m = scrape(&admin);
    assert_eq!(
        metric(&m, "focal_incidents_ungrouped_events"),
        new_events as f64
    );
    assert_eq!(
        metric(&m, "focal_dashboard_rollup_lag_events"),
        new_events as f64
    );
    assert_eq!(
        metric(&m, "focal_ingest_events_stored_total"),
        (stored + new_events) as f64
    );

    // Grouping and a dashboard view (which brings the rollup up to date) empty both queues.
    focal(&site.data, &["incidents", "group"]);
    assert_eq!(admin.get("/").status(), 200);
    let m = scrape(&admin);
    assert_eq!(metric(&m, "focal_incidents_ungrouped_events"), 0.0);
    assert_eq!(metric(&m, "focal_dashboard_rollup_lag_events"), 0.0);

    // Requests are counted by route template, not by the raw path.
    let before = m
        .get(r#"focal_http_requests_total{method="GET",route="/incidents/{id}",status="404"}"#)
        .copied()
        .unwrap_or(0.0);
    assert_eq!(admin.get("/incidents/999999999").status(), 404);
    let m = scrape(&admin);
    assert_eq!(
        metric(
            &m,
            r#"focal_http_requests_total{method="GET",route="/incidents/{id}",status="404"}"#
        ),
        before + 1.0
    );
}
