//! The input-hygiene failures of issue 11, replayed (each passed for the attacker on the code
//! before the fix):
//!
//! - `abuse_email` accepted `Evil<evil@evil.example>` (mail went to evil@) and
//!   `a@x.example,b@y.example`. Several addresses go in the list `also_notify`, where each
//!   entry is held to the same rule (through CSV, form and API alike).
//! - A NUL byte inside a CSV field was stored with the event.
//! - A constituent user read the analysts' internal comments, and got buttons (and routes) to
//!   move its incident to `notified`.

mod web;

use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};
use web::*;

fn api(
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::blocking::Response {
    let mut req = client()
        .request(method, format!("{base}{path}"))
        .header(AUTHORIZATION, format!("Bearer {token}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().unwrap()
}

#[test]
fn an_abuse_address_is_one_addr_spec_and_a_nul_in_a_field_is_quarantined_with_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    focal(&data, &["init", "--admin-password", PASSWORD]);
    let server = Site::at(&data);
    let token = server.token("admin", "write");
    let running = server.serve("127.0.0.1:0");
    for (n, bad) in [
        "Evil<evil@evil.example>",
        "Evil <evil@evil.example>",
        "a@x.example,b@y.example",
        "abuse@x.example\r\nBcc: evil@evil.example",
    ]
    .into_iter()
    .enumerate()
    {
        let resp = api(
            &running.base,
            &token,
            reqwest::Method::POST,
            "/api/v1/constituents",
            Some(json!({
                "id": format!("org-{n}"), "name": "Org", "abuse_email": bad,
                "asns": [], "netblocks": [], "domains": [],
            })),
        );
        let status = resp.status().as_u16();
        let body = resp.text().unwrap();
        assert!(
            (400..500).contains(&status) && body.contains("abuse_email"),
            "{bad:?}: {status} {body}"
        );
    }
    let good = api(
        &running.base,
        &token,
        reqwest::Method::POST,
        "/api/v1/constituents",
        Some(json!({
            "id": "org-good", "name": "Org", "abuse_email": "abuse@org.example",
            "asns": [], "netblocks": ["192.0.2.0/24"], "domains": [],
        })),
    );
    assert!(good.status().is_success(), "{}", good.text().unwrap());
    drop(running);
    // The CSV import applies the same rule.
    let csv = tmp.path().join("constituents.csv");
    std::fs::write(
        &csv,
        "id,name,abuse_email,asns,netblocks,domains\nx,X,Evil<evil@evil.example>,,,\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_focal"))
        .arg("--data")
        .arg(&data)
        .args(["constituents", "import"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("abuse_email"));

    // A NUL byte (and any other control character) in a field is quarantined, field named.
    let feed =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/reference-feed.toml");
    let file = tmp.path().join("feed.csv");
    std::fs::write(
        &file,
        "timestamp,ip,port,protocol,hostname,malware,dst_ip,dst_port\n\
         2026-11-24T02:54:32Z,192.0.2.1,38165,tcp,,vi\0rut,2001:db8::53,53\n\
         2026-11-24T02:54:33Z,192.0.2.2,38165,tcp,,virut\x1b[31m,2001:db8::53,53\n\
         2026-11-24T02:54:34Z,192.0.2.3,38165,tcp,,virut,2001:db8::53,53\n",
    )
    .unwrap();
    focal(
        &data,
        &[
            "ingest",
            // Two of three rows are hostile on purpose: not a sign of the wrong definition.
            "--max-quarantined",
            "100",
            "--feed",
            feed.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
    );
    let q = focal_json(&data, &["quarantine", "--limit", "100"]);
    let q = q.as_array().unwrap();
    assert_eq!(q.len(), 2, "{q:?}");
    for r in q {
        assert_eq!(r["kind"], "control", "{r}");
        assert_eq!(r["field"], "malware.name", "{r}");
    }
    assert_eq!(focal_json(&data, &["stats"])["events"], 1);
}

const HOSTILE_ADDRESSES: [&str; 4] = [
    "Evil<evil@evil.example>",
    "a@x.example,b@y.example",
    "a\u{0}b@x.example",
    "Evil <evil@evil.example>",
];

#[test]
fn also_notify_holds_only_addr_specs_through_csv_form_and_api() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    focal(&data, &["init", "--admin-password", PASSWORD]);
    let site = Site::at(&data);
    let token = site.token("admin", "write");
    let running = site.serve("127.0.0.1:0");
    let base = running.base.clone();
    let stored = |id: &str| -> Value {
        api(
            &base,
            &token,
            reqwest::Method::GET,
            &format!("/api/v1/constituents/{id}"),
            None,
        )
        .json::<Value>()
        .unwrap()["constituent"]
            .clone()
    };
    let csv_import = |csv: String| {
        client()
            .post(format!("{base}/api/v1/constituents/import"))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .unwrap()
    };
    let admin = login(&base, "admin");

    // Good lists go through each way.
    let resp = api(
        &base,
        &token,
        reqwest::Method::POST,
        "/api/v1/constituents",
        Some(json!({
            "id": "api-ok", "name": "Org", "abuse_email": "abuse@org.example",
            "asns": [], "netblocks": [], "domains": [],
            "also_notify": ["soc@org.example", "noc@org.example"],
        })),
    );
    assert!(resp.status().is_success(), "{}", resp.text().unwrap());
    assert_eq!(
        stored("api-ok")["also_notify"],
        json!(["soc@org.example", "noc@org.example"])
    );
    // A body without the field leaves the list as it is.
    let resp = api(
        &base,
        &token,
        reqwest::Method::PUT,
        "/api/v1/constituents/api-ok",
        Some(json!({
            "name": "Org renamed", "abuse_email": "abuse@org.example",
            "asns": [], "netblocks": [], "domains": [],
        })),
    );
    assert!(resp.status().is_success(), "{}", resp.text().unwrap());
    assert_eq!(stored("api-ok")["name"], "Org renamed");
    assert_eq!(stored("api-ok")["also_notify"].as_array().unwrap().len(), 2);
    let resp = csv_import(
        "id,name,abuse_email,asns,netblocks,domains,also_notify\n\
         csv-ok,Org,abuse@org.example,,,,soc@org.example;noc@org.example\n"
            .to_string(),
    );
    assert!(resp.status().is_success(), "{}", resp.text().unwrap());
    assert_eq!(stored("csv-ok")["also_notify"].as_array().unwrap().len(), 2);
    let form = |id: &str, also: &str| {
        admin.post_form(
            "/constituents",
            &[
                ("id", id),
                ("name", "Form"),
                ("abuse_email", "abuse@org.example"),
                ("language", ""),
                ("asns", ""),
                ("netblocks", ""),
                ("domains", ""),
                ("also_notify", also),
            ],
            Some(&admin.csrf),
        )
    };
    let resp = form("form-ok", "soc@org.example\r\nnoc@org.example");
    assert_eq!(resp.status(), 303);
    assert_eq!(
        stored("form-ok")["also_notify"].as_array().unwrap().len(),
        2
    );
    let page = admin.get("/constituents/form-ok").text().unwrap();
    assert!(page.contains("soc@org.example, noc@org.example"), "{page}");

    for (n, bad) in HOSTILE_ADDRESSES.into_iter().enumerate() {
        // API: a list entry.
        let resp = api(
            &base,
            &token,
            reqwest::Method::POST,
            "/api/v1/constituents",
            Some(json!({
                "id": format!("api-{n}"), "name": "Org", "abuse_email": "abuse@org.example",
                "asns": [], "netblocks": [], "domains": [],
                "also_notify": ["ok@org.example", bad],
            })),
        );
        let status = resp.status().as_u16();
        let body: Value = resp.json().unwrap();
        assert_eq!(status, 422, "{bad:?}: {body}");
        assert_eq!(
            body["problems"][0]["field"], "also_notify",
            "{bad:?}: {body}"
        );
        assert!(
            body["problems"][0]["message"]
                .as_str()
                .unwrap()
                .contains("entry 2"),
            "{bad:?}: {body}"
        );
        // CSV: the row's line and the field.
        let resp = csv_import(format!(
            "id,name,abuse_email,asns,netblocks,domains,also_notify\n\
             csv-{n},Org,abuse@org.example,,,,\"ok@org.example;{bad}\"\n"
        ));
        let status = resp.status().as_u16();
        let body: Value = resp.json().unwrap();
        assert_eq!(status, 422, "{bad:?}: {body}");
        assert_eq!(body["problems"][0]["line"], 2, "{bad:?}: {body}");
        assert_eq!(
            body["problems"][0]["field"], "also_notify",
            "{bad:?}: {body}"
        );
        // The form.
        let resp = form(&format!("form-{n}"), &format!("ok@org.example\n{bad}"));
        assert_eq!(resp.status(), 422, "{bad:?}");
        let page = resp.text().unwrap();
        assert!(page.contains("field also_notify"), "{bad:?}: {page}");
        // Nothing of it was stored.
        for id in [format!("api-{n}"), format!("csv-{n}"), format!("form-{n}")] {
            let status = api(
                &base,
                &token,
                reqwest::Method::GET,
                &format!("/api/v1/constituents/{id}"),
                None,
            )
            .status();
            assert_eq!(status, 404, "{id} ({bad:?})");
        }
    }
    // More than ten is refused too.
    let eleven: Vec<String> = (0..11).map(|i| format!("n{i}@org.example")).collect();
    let resp = api(
        &base,
        &token,
        reqwest::Method::POST,
        "/api/v1/constituents",
        Some(json!({
            "id": "api-many", "name": "Org", "abuse_email": "abuse@org.example",
            "asns": [], "netblocks": [], "domains": [], "also_notify": eleven,
        })),
    );
    assert_eq!(resp.status(), 422);
    drop(running);
    // The command line's import applies the same rule.
    let csv = tmp.path().join("constituents.csv");
    std::fs::write(
        &csv,
        "id,name,abuse_email,asns,netblocks,domains,also_notify\n\
         x,X,abuse@x.example,,,,Evil<evil@evil.example>\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_focal"))
        .arg("--data")
        .arg(&data)
        .args(["constituents", "import"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2, field also_notify"), "{err}");
}

/// An incident of `org` in state `new`.
fn new_incident(base: &str, token: &str, org: &str) -> i64 {
    let page: Value = api(
        base,
        token,
        reqwest::Method::GET,
        &format!("/api/v1/incidents?constituent={org}&state=new&limit=1"),
        None,
    )
    .json()
    .unwrap();
    page["incidents"][0]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("a new incident of {org}: {page}"))
}

#[test]
fn a_constituent_sees_only_replies_and_may_only_acknowledge_or_dispute() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let analyst = site.token("analyst2", "write");
    let own = site.token("constituent_a", "write");
    let id = new_incident(&base, &analyst, &site.org_a);
    let post = |token: &str, path: &str, body: Value| {
        api(
            &base,
            token,
            reqwest::Method::POST,
            &format!("/api/v1/incidents/{id}/{path}"),
            Some(body),
        )
    };
    assert!(
        post(
            &analyst,
            "comment",
            json!({"text": "INTERNAL-NOTE: owner looks clueless"})
        )
        .status()
        .is_success()
    );
    assert!(
        post(
            &analyst,
            "comment",
            json!({"text": "REPLY-TO-YOU: please clean host", "to_constituent": true})
        )
        .status()
        .is_success()
    );
    assert!(
        post(&own, "comment", json!({"text": "FROM-CONSTITUENT: on it"}))
            .status()
            .is_success()
    );

    let seen: Value = api(
        &base,
        &own,
        reqwest::Method::GET,
        &format!("/api/v1/incidents/{id}"),
        None,
    )
    .json()
    .unwrap();
    let text = seen["timeline"].to_string();
    assert!(
        !text.contains("INTERNAL-NOTE"),
        "an internal note reached the constituent: {text}"
    );
    assert!(
        text.contains("REPLY-TO-YOU") && text.contains("FROM-CONSTITUENT"),
        "{text}"
    );
    let staff: Value = api(
        &base,
        &analyst,
        reqwest::Method::GET,
        &format!("/api/v1/incidents/{id}"),
        None,
    )
    .json()
    .unwrap();
    assert!(staff["timeline"].to_string().contains("INTERNAL-NOTE"));
    let allowed: Vec<&str> = seen["allowed_transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(allowed, ["acknowledged", "false_positive"], "{seen}");

    // The page: no internal note, no button to notified.
    let session = login(&base, "constituent_a");
    let page = session.get(&format!("/incidents/{id}")).text().unwrap();
    assert!(!page.contains("INTERNAL-NOTE"));
    assert!(page.contains("REPLY-TO-YOU"));
    assert!(
        !page.contains("id=\"to-notified\""),
        "no button to notified"
    );
    assert!(page.contains("id=\"to-acknowledged\"") && page.contains("id=\"to-false_positive\""));
    // Nor the route, through the API or the form.
    let resp = post(&own, "transition", json!({"state": "notified"}));
    assert_eq!(resp.status(), 403, "{}", resp.text().unwrap());
    let resp = session.post_form(
        &format!("/incidents/{id}/transition"),
        &[("state", "notified")],
        Some(&session.csrf),
    );
    assert_eq!(resp.status(), 403);
    // A dispute needs a reason, which is kept.
    let resp = post(&own, "transition", json!({"state": "false_positive"}));
    assert_eq!(resp.status(), 400, "{}", resp.text().unwrap());
    let resp = post(
        &own,
        "transition",
        json!({"state": "false_positive", "reason": "these are our honeypots"}),
    );
    assert!(resp.status().is_success(), "{}", resp.text().unwrap());
    let after: Value = api(
        &base,
        &own,
        reqwest::Method::GET,
        &format!("/api/v1/incidents/{id}"),
        None,
    )
    .json()
    .unwrap();
    assert_eq!(after["incident"]["state"], "false_positive");
    assert!(
        after["timeline"]
            .to_string()
            .contains("these are our honeypots")
    );
    // Staff still move incidents on as the state machine allows.
    let resp = post(&analyst, "transition", json!({"state": "closed"}));
    assert!(resp.status().is_success(), "{}", resp.text().unwrap());
}
