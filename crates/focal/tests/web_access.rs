//! Access control of the web application, over real HTTP against `focal serve`: every route ×
//! every role, organisation isolation for constituents, CSRF, login throttling, cookie flags,
//! security headers, and token scopes and revocation.
//!
//! Anonymous requests for UI pages are answered with a redirect to /login (303); every other
//! refusal is 401 (not signed in) or 403 (signed in, not allowed).

mod web;

use reqwest::blocking::Response;
use reqwest::header::{AUTHORIZATION, COOKIE};
use serde_json::{Value, json};
use web::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Need {
    Public,
    SignedIn,
    Read,
    StaffRead,
    Audit,
    Act,
    Manage,
    ManageConstituents,
    Operate,
    Accounts,
    ManageSharing,
}

/// The role matrix as the issue states it, written independently of the server's.
fn may(role: &str, need: Need) -> bool {
    match need {
        Need::Public => true,
        Need::SignedIn | Need::Read => {
            ["admin", "analyst", "auditor", "constituent"].contains(&role)
        }
        Need::StaffRead => ["admin", "analyst", "auditor"].contains(&role),
        Need::Audit => ["admin", "auditor"].contains(&role),
        Need::Act => ["admin", "analyst", "constituent"].contains(&role),
        Need::Manage => ["admin", "analyst"].contains(&role),
        // Constituents may not change constituent records, not even their own.
        Need::ManageConstituents => ["admin", "analyst"].contains(&role),
        // Running the node's machinery (pulling a feed now).
        Need::Operate => ["admin", "analyst"].contains(&role),
        // Other people's accounts: disabling, passwords, sessions.
        Need::Accounts => role == "admin",
        // Peers and sharing policies: admins change them (staff look, with StaffRead).
        Need::ManageSharing => role == "admin",
    }
}

enum Body {
    None,
    /// A form post (UI); `state` is replaced by a legal next state at request time, and
    /// `{unique}` in a value by a number no other request used.
    Form(Vec<(&'static str, String)>),
    Json(Value),
    Put(Value),
    /// The CSV import form (UI): a multipart upload of this CSV.
    Upload(String),
    /// A CSV body (API).
    Csv(String),
    /// A DELETE without a body (API).
    Delete,
}

static UNIQUE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct Route {
    path: String,
    need: Need,
    body: Body,
}

fn get(path: String, need: Need) -> Route {
    Route {
        path,
        need,
        body: Body::None,
    }
}

/// Who is asking, and how.
enum Who {
    Anonymous,
    Session(Session),
    Bearer(String),
}

fn send(base: &str, who: &Who, route: &Route, next_state: &str) -> Response {
    let c = client();
    let url = format!("{base}{}", route.path);
    let mut req = match &route.body {
        Body::None => c.get(&url),
        Body::Form(fields) => {
            let mut f: Vec<(&str, String)> = fields
                .iter()
                .map(|(k, v)| {
                    let v = if *k == "state" {
                        next_state.to_string()
                    } else {
                        let n = UNIQUE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        v.replace("{unique}", &n.to_string())
                    };
                    (*k, v)
                })
                .collect();
            if let Who::Session(s) = who {
                f.push(("csrf", s.csrf.clone()));
            }
            c.post(&url).form(&f)
        }
        Body::Json(v) => {
            let mut v = v.clone();
            if v.get("state").is_some() {
                v["state"] = json!(next_state);
            }
            let mut r = c.post(&url).json(&v);
            if let Who::Session(s) = who {
                r = r.header("x-csrf-token", &s.csrf);
            }
            r
        }
        Body::Put(v) => {
            let mut r = c.put(&url).json(v);
            if let Who::Session(s) = who {
                r = r.header("x-csrf-token", &s.csrf);
            }
            r
        }
        Body::Upload(csv) => {
            // Built by hand, as a browser sends the import form.
            let boundary = "matrixboundary";
            let csrf = match who {
                Who::Session(s) => format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n",
                    s.csrf
                ),
                _ => String::new(),
            };
            let body = format!(
                "{csrf}--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.csv\"\r\n\
                 Content-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
            );
            c.post(&url)
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(body)
        }
        Body::Csv(csv) => {
            let mut r = c
                .post(&url)
                .header("content-type", "text/csv")
                .body(csv.clone());
            if let Who::Session(s) = who {
                r = r.header("x-csrf-token", &s.csrf);
            }
            r
        }
        Body::Delete => {
            let mut r = c.delete(&url);
            if let Who::Session(s) = who {
                r = r.header("x-csrf-token", &s.csrf);
            }
            r
        }
    };
    match who {
        Who::Anonymous => {}
        Who::Session(s) => req = req.header(COOKIE, format!("focal_session={}", s.cookie)),
        Who::Bearer(t) => req = req.header(AUTHORIZATION, format!("Bearer {t}")),
    }
    req.send().unwrap()
}

fn assert_security_headers(resp: &Response, what: &str) {
    let h = resp.headers();
    let csp = h
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no CSP"))
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(
        h.get("x-content-type-options").unwrap(),
        "nosniff",
        "{what}"
    );
    assert!(h.get("referrer-policy").is_some(), "{what}");
}

/// A legal next state for the incident, avoiding the final states so the matrix can keep
/// moving it.
fn next_state(admin: &Session, id: i64) -> String {
    let d: Value = admin
        .get(&format!("/api/v1/incidents/{id}"))
        .json()
        .unwrap();
    let allowed: Vec<&str> = d["allowed_transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    ["acknowledged", "notified", "in_progress", "resolved"]
        .into_iter()
        .find(|s| allowed.contains(s))
        .unwrap_or_else(|| panic!("incident {id} has no reversible next state: {allowed:?}"))
        .to_string()
}

#[test]
fn every_route_answers_every_role_as_the_matrix_says_and_constituents_see_only_their_own() {
    let site = Site::new();
    // The helper session that reads incidents for the matrix belongs to an admin the matrix does
    // not play: the matrix changes its players' passwords and ends their other sessions.
    // `matrix_target` is the account the admins' account routes act on.
    for (name, role) in [("matrix_admin", "admin"), ("matrix_target", "analyst")] {
        focal(
            &site.data,
            &["users", "add", name, "--role", role, "--password", PASSWORD],
        );
    }
    // A peer to look at and change, and objects received from it.
    focal(
        &site.data,
        &[
            "peers",
            "add",
            "cert-m",
            "--url",
            "http://127.0.0.1:9/taxii2/root/",
            "--collection",
            "c",
            "--push",
        ],
    );
    // A draft assessment of each organisation (the matrix answers A's), and the demo's risk.
    let assessment_of = |org: &str| -> i64 {
        let out = focal_json(
            &site.data,
            &[
                "assess",
                "new",
                "--framework",
                "un-ares-57-239",
                "--subject",
                &format!("Organisation {org}"),
                "--constituent",
                org,
                "--blank",
            ],
        );
        out["assessment"]["id"].as_i64().unwrap()
    };
    let (asm_a, asm_b) = (assessment_of(&site.org_a), assessment_of(&site.org_b));
    let risk = focal_json(&site.data, &["risks", "list"])["risks"][0]["risk"]["id"]
        .as_i64()
        .expect("the demo has a risk");
    let finding = focal_json(&site.data, &["vulns", "findings", "--all"])[0]["id"]
        .as_i64()
        .expect("the demo has a finding");
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let admin = login(&base, "matrix_admin");

    // An open incident of each organisation.
    let list = |org: &str| -> Vec<Value> {
        let v: Value = admin
            .get(&format!("/api/v1/incidents?constituent={org}&limit=1000"))
            .json()
            .unwrap();
        v["incidents"].as_array().unwrap().clone()
    };
    let open = |l: &[Value]| -> i64 {
        l.iter()
            .find(|i| !["closed", "false_positive"].contains(&i["state"].as_str().unwrap()))
            .expect("an incident that can still move")["id"]
            .as_i64()
            .unwrap()
    };
    let (a_incidents, b_incidents) = (list(&site.org_a), list(&site.org_b));
    let (id_a, id_b) = (open(&a_incidents), open(&b_incidents));
    let b_ids: Vec<i64> = b_incidents
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();

    let (a, b) = (&site.org_a, &site.org_b);
    // An event of each organisation, for its page.
    let event_of = |org: &str| -> i64 {
        let v: Value = admin
            .get(&format!("/api/v1/events?constituent={org}&limit=1"))
            .json()
            .unwrap();
        v["events"][0]["seq"]
            .as_i64()
            .expect("an event of the organisation")
    };
    let (seq_a, seq_b) = (event_of(a), event_of(b));
    let mut routes = vec![
        get("/login".into(), Need::Public),
        get("/healthz".into(), Need::Public),
        get("/static/focal.css".into(), Need::Public),
        get("/api/v1/openapi.json".into(), Need::Public),
        get("/public/advisories.atom".into(), Need::Public),
        get("/public/stats".into(), Need::Public),
        get("/public/stats.json".into(), Need::Public),
        get("/".into(), Need::Read),
        get("/events".into(), Need::Read),
        get(format!("/events?constituent={a}"), Need::Read),
        get(format!("/events/{seq_a}"), Need::Read),
        get("/incidents".into(), Need::Read),
        get(format!("/incidents/{id_a}"), Need::Read),
        get(format!("/incidents/{id_a}?events_page=2"), Need::Read),
        get("/constituents".into(), Need::Read),
        get(format!("/constituents/{a}"), Need::Read),
        get("/feeds".into(), Need::StaffRead),
        // A feed the demo registers.
        get("/feeds/spamhaus-drop".into(), Need::StaffRead),
        get("/feeds/spamhaus-drop?before=1000".into(), Need::StaffRead),
        get("/audit".into(), Need::Audit),
        get("/sharing".into(), Need::StaffRead),
        get("/sharing/peers/cert-m".into(), Need::StaffRead),
        get("/sharing/peers/cert-m/preview".into(), Need::StaffRead),
        get("/sharing/received".into(), Need::StaffRead),
        get("/api/v1/sharing/peers".into(), Need::StaffRead),
        get(
            "/api/v1/sharing/peers/cert-m/preview".into(),
            Need::StaffRead,
        ),
        get("/metrics".into(), Need::StaffRead),
        get("/api/v1/events?limit=500".into(), Need::Read),
        get("/api/v1/events/export?format=csv".into(), Need::Read),
        get(
            "/api/v1/events/export?format=json&limit=500".into(),
            Need::Read,
        ),
        get("/api/v1/incidents?limit=1000".into(), Need::Read),
        get(format!("/api/v1/incidents/{id_a}"), Need::Read),
        get("/api/v1/constituents?limit=1000".into(), Need::Read),
        get(format!("/api/v1/constituents/{a}"), Need::Read),
        get("/api/v1/runs".into(), Need::StaffRead),
        get("/api/v1/feeds".into(), Need::StaffRead),
        get("/api/v1/feeds/spamhaus-drop".into(), Need::StaffRead),
        get("/api/v1/quarantine".into(), Need::StaffRead),
        get("/api/v1/audit".into(), Need::Audit),
        get("/account".into(), Need::SignedIn),
        get("/api/v1/account".into(), Need::SignedIn),
        get("/users".into(), Need::Accounts),
        get("/users/matrix_target".into(), Need::Accounts),
        get("/api/v1/users".into(), Need::Accounts),
        get("/api/v1/users/matrix_target".into(), Need::Accounts),
        get("/api/v1/assessments".into(), Need::Read),
        get(format!("/api/v1/assessments/{asm_a}"), Need::Read),
        get(format!("/api/v1/assessments/{asm_a}/compare"), Need::Read),
        get("/api/v1/risks".into(), Need::StaffRead),
        get(format!("/api/v1/risks/{risk}"), Need::StaffRead),
        get("/api/v1/findings".into(), Need::StaffRead),
        get("/assessments".into(), Need::Read),
        get(format!("/assessments/{asm_a}"), Need::Read),
        get(
            format!("/assessments/{asm_a}/report?format=html"),
            Need::Read,
        ),
        get(
            format!("/assessments/{asm_a}/report?format=json"),
            Need::Read,
        ),
        get("/risks".into(), Need::StaffRead),
        get(format!("/risks/{risk}"), Need::StaffRead),
        get("/findings".into(), Need::StaffRead),
        get("/findings?status=open".into(), Need::StaffRead),
        // Awareness: the demo's advisory is published TLP:CLEAR, so every reader may see it;
        // the library is for everyone signed in.
        get("/advisories".into(), Need::Read),
        get("/advisories/FOCAL-DEMO-0001".into(), Need::Read),
        get("/library".into(), Need::Read),
        get("/library?q=57%2F239&type=resolution".into(), Need::Read),
        get("/library/un".into(), Need::Read),
        get("/library/un/a-res-57-239".into(), Need::Read),
        get("/api/v1/advisories".into(), Need::Read),
        get("/api/v1/advisories/FOCAL-DEMO-0001".into(), Need::Read),
        get("/api/v1/advisories/FOCAL-DEMO-0001/csaf".into(), Need::Read),
        get("/api/v1/library/search?q=57%2F239".into(), Need::Read),
        get("/api/v1/library/entities".into(), Need::Read),
        get("/api/v1/library/entities/un".into(), Need::Read),
        get(
            "/api/v1/library/entities/un/items/a-res-57-239".into(),
            Need::Read,
        ),
    ];
    let form = |fields: &[(&'static str, &str)]| {
        Body::Form(fields.iter().map(|(k, v)| (*k, v.to_string())).collect())
    };
    // Organisation A's record as stored, so edits by the matrix keep its netblocks (which
    // decide what its constituent user may see).
    let record: Value = admin
        .get(&format!("/api/v1/constituents/{a}"))
        .json::<Value>()
        .unwrap()["constituent"]
        .clone();
    let lines = |k: &str| -> String {
        record[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (asns, netblocks, domains) = (lines("asns"), lines("netblocks"), lines("domains"));
    let abuse = record["abuse_email"].as_str().unwrap().to_string();
    let mut edited = record.clone();
    edited["name"] = json!("Edited through the API by the matrix");
    edited.as_object_mut().unwrap().remove("id");
    let csv_header = "id,name,abuse_email,asns,netblocks,domains\n";
    for (path, need, body) in [
        (
            format!("/incidents/{id_a}/comment"),
            Need::Act,
            form(&[("text", "from the matrix")]),
        ),
        (
            format!("/incidents/{id_a}/transition"),
            Need::Act,
            form(&[("state", "")]),
        ),
        (
            format!("/incidents/{id_a}/assign"),
            Need::Manage,
            form(&[("assignee", "analyst2")]),
        ),
        // Back to the type's severity: allowed again on every pass of the matrix.
        (
            format!("/incidents/{id_a}/severity"),
            Need::Manage,
            form(&[("severity", "")]),
        ),
        (
            "/incidents/bulk".to_string(),
            Need::Manage,
            form(&[
                ("id", id_a.to_string().as_str()),
                ("action", "comment"),
                ("text", "bulk note from the matrix"),
            ]),
        ),
        (
            "/feeds/spamhaus-drop/pull".to_string(),
            Need::Operate,
            form(&[]),
        ),
        (
            "/sharing/peers".into(),
            Need::ManageSharing,
            form(&[
                ("name", "matrix-peer-{unique}"),
                ("url", "http://127.0.0.1:9/taxii2/root/"),
                ("collection", "c"),
                ("auth", "none"),
                ("pull", "on"),
            ]),
        ),
        (
            "/sharing/peers/cert-m/edit".into(),
            Need::ManageSharing,
            form(&[
                ("url", "http://127.0.0.1:9/taxii2/matrix/"),
                ("collection", "c"),
                ("auth", "none"),
                ("push", "on"),
            ]),
        ),
        (
            "/sharing/peers/cert-m/pause".into(),
            Need::ManageSharing,
            form(&[]),
        ),
        (
            "/sharing/peers/cert-m/resume".into(),
            Need::ManageSharing,
            form(&[]),
        ),
        (
            "/sharing/policies".into(),
            Need::ManageSharing,
            form(&[("principal", "cert-m"), ("max_tlp", "GREEN")]),
        ),
        (
            format!("/api/v1/incidents/{id_a}/comment"),
            Need::Act,
            Body::Json(json!({"text": "api"})),
        ),
        (
            format!("/api/v1/incidents/{id_a}/transition"),
            Need::Act,
            Body::Json(json!({"state": ""})),
        ),
        (
            format!("/api/v1/incidents/{id_a}/assign"),
            Need::Manage,
            Body::Json(json!({"assignee": "analyst2"})),
        ),
        (
            format!("/api/v1/assessments/{asm_a}/answers"),
            Need::Act,
            Body::Json(json!({"item": "b", "level": "partial", "evidence": "matrix"})),
        ),
        (
            format!("/assessments/{asm_a}/answer"),
            Need::Act,
            form(&[("item", "c"), ("level", "yes"), ("evidence", "matrix form")]),
        ),
        (
            format!("/api/v1/risks/{risk}"),
            Need::Manage,
            Body::Put(json!({"owner": "matrix owner"})),
        ),
        (
            format!("/risks/{risk}/edit"),
            Need::Manage,
            form(&[("owner", "matrix form owner")]),
        ),
        // A resolution without a move: allowed again on every pass of the matrix.
        (
            format!("/findings/{finding}"),
            Need::Manage,
            form(&[("status", ""), ("resolution", "matrix resolution")]),
        ),
        (
            "/constituents".into(),
            Need::ManageConstituents,
            form(&[
                ("id", "matrix-form-{unique}"),
                ("name", "Added by the matrix"),
                ("abuse_email", "abuse@matrix.example"),
                ("language", ""),
                ("asns", "64512"),
                ("netblocks", "100.64.200.0/24"),
                ("domains", ""),
            ]),
        ),
        (
            format!("/constituents/{a}/edit"),
            Need::ManageConstituents,
            form(&[
                ("name", "Edited through the form by the matrix"),
                ("abuse_email", &abuse),
                ("language", ""),
                ("asns", &asns),
                ("netblocks", &netblocks),
                ("domains", &domains),
            ]),
        ),
        (
            "/constituents/import".into(),
            Need::ManageConstituents,
            Body::Upload(format!(
                "{csv_header}matrix-upload,Uploaded by the matrix,,,100.64.201.0/24,\n"
            )),
        ),
        (
            "/api/v1/constituents".into(),
            Need::ManageConstituents,
            Body::Json(
                json!({"id": "matrix-api", "name": "Created through the API",
                "abuse_email": "", "asns": [], "netblocks": ["100.64.202.0/24"], "domains": []}),
            ),
        ),
        (
            format!("/api/v1/constituents/{a}"),
            Need::ManageConstituents,
            Body::Put(edited.clone()),
        ),
        (
            "/api/v1/constituents/import".into(),
            Need::ManageConstituents,
            Body::Csv(format!(
                "{csv_header}matrix-csv,Imported through the API,,,100.64.203.0/24,\n"
            )),
        ),
        (
            "/advisories".into(),
            Need::Manage,
            form(&[
                ("id", "MATRIX-{unique}"),
                ("title", "Written by the matrix"),
                ("summary", "A draft."),
                ("tlp", "AMBER"),
                ("references", "https://matrix.example/a"),
            ]),
        ),
        (
            "/api/v1/advisories".into(),
            Need::Manage,
            Body::Json(
                json!({"content": {"title": "Written through the API by the matrix",
                "summary": "A draft.", "tlp": "AMBER",
                "references": [{"url": "https://matrix.example/b"}]}}),
            ),
        ),
        // Everyone's own password (set to what it was) and other sessions.
        (
            "/account/password".into(),
            Need::SignedIn,
            form(&[
                ("current", PASSWORD),
                ("new", PASSWORD),
                ("confirm", PASSWORD),
            ]),
        ),
        ("/account/sessions/end".into(), Need::SignedIn, form(&[])),
        (
            "/api/v1/account/password".into(),
            Need::SignedIn,
            Body::Json(json!({"current": PASSWORD, "new": PASSWORD})),
        ),
        (
            "/api/v1/account/sessions".into(),
            Need::SignedIn,
            Body::Delete,
        ),
        // Another account, as an admin: disabled, enabled again, its password set, its
        // sessions ended.
        (
            "/users/matrix_target/disable".into(),
            Need::Accounts,
            form(&[]),
        ),
        (
            "/users/matrix_target/enable".into(),
            Need::Accounts,
            form(&[]),
        ),
        (
            "/users/matrix_target/password".into(),
            Need::Accounts,
            form(&[("password", PASSWORD)]),
        ),
        (
            "/users/matrix_target/sessions/end".into(),
            Need::Accounts,
            form(&[]),
        ),
        (
            "/api/v1/users/matrix_target/disable".into(),
            Need::Accounts,
            Body::Json(json!({})),
        ),
        (
            "/api/v1/users/matrix_target/enable".into(),
            Need::Accounts,
            Body::Json(json!({})),
        ),
        (
            "/api/v1/users/matrix_target/password".into(),
            Need::Accounts,
            Body::Json(json!({"password": PASSWORD})),
        ),
        (
            "/api/v1/users/matrix_target/sessions".into(),
            Need::Accounts,
            Body::Delete,
        ),
    ] {
        routes.push(Route { path, need, body });
    }
    // Last, as it ends the session.
    routes.push(Route {
        path: "/logout".into(),
        need: Need::SignedIn,
        body: form(&[]),
    });

    let peer_token = site.token("peer", "write");
    // Peers have no web sign-in; they use TAXII, which the layer passes to its own checks.
    assert_eq!(login_response(&base, "peer", PASSWORD).status(), 401);
    let taxii = |auth: Option<&str>| {
        let mut r = client()
            .get(format!("{base}/taxii2/"))
            .header("accept", "application/taxii+json;version=2.1");
        if let Some(t) = auth {
            r = r.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        r.send().unwrap().status().as_u16()
    };
    assert_eq!(taxii(Some(&peer_token)), 200);
    assert_eq!(taxii(None), 401);
    let mut whos: Vec<(&str, &str, Who)> = vec![
        ("anonymous", "anonymous", Who::Anonymous),
        ("peer", "peer", Who::Bearer(peer_token)),
    ];
    for (role, name) in [
        ("admin", "admin2"),
        ("analyst", "analyst2"),
        ("auditor", "auditor"),
        ("constituent", "constituent_a"),
    ] {
        whos.push((role, name, Who::Session(login(&base, name))));
        whos.push((role, name, Who::Bearer(site.token(name, "write"))));
    }

    let mut checked = 0;
    for (role, name, who) in &whos {
        for route in &routes {
            let state = if route.body.is_state_change() {
                next_state(&admin, id_a)
            } else {
                String::new()
            };
            let resp = send(&base, who, route, &state);
            let status = resp.status().as_u16();
            let what = format!("{role} ({name}, {}) {}", who.kind(), route.path);
            assert_security_headers(&resp, &what);
            let location = resp
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_string());
            let body = resp.text().unwrap();
            // The role may act on its incident, but a constituent only acknowledges or disputes
            // it (focal_incidents::constituent_may): any other state is refused by that rule.
            let csirt_only = *role == "constituent"
                && route.path.ends_with("/transition")
                && !["acknowledged", "false_positive"].contains(&state.as_str());
            if may(role, route.need) && csirt_only {
                assert_eq!(status, 403, "{what}: {body}");
                assert!(body.contains("acknowledge"), "{what}: {body}");
            } else if may(role, route.need) {
                // Signing out ends at the login form; anything else sent there was refused.
                let to_login = location
                    .as_deref()
                    .is_some_and(|l| l == "/login" || l.starts_with("/login?"));
                let ok = (200..300).contains(&status)
                    || (status == 303 && (!to_login || route.path == "/logout"));
                assert!(
                    ok,
                    "{what}: allowed, but answered {status} {location:?}: {body}"
                );
            } else if *role == "anonymous"
                && !route.path.starts_with("/api/")
                && route.path != "/metrics"
                && matches!(route.body, Body::None)
            {
                // To the login form, which brings the user back to the page afterwards.
                let back = if route.path == "/" {
                    "/login".to_string()
                } else {
                    format!("/login?next={}", percent_encode(&route.path))
                };
                assert_eq!(
                    (status, location.as_deref()),
                    (303, Some(back.as_str())),
                    "{what}"
                );
            } else {
                assert!(
                    status == 401 || status == 403,
                    "{what}: not allowed, but answered {status}: {body}"
                );
            }
            if *role == "constituent" {
                assert!(
                    !contains_id(&body, b),
                    "{what} shows organisation {b}: {body}"
                );
                if route.path.starts_with("/api/v1/")
                    && status == 200
                    && !route.path.contains("export?format=csv")
                {
                    let v: Value = serde_json::from_str(&body).unwrap();
                    for e in v["events"].as_array().into_iter().flatten() {
                        assert_eq!(e["extra.constituent"].as_str(), Some(a.as_str()), "{what}");
                    }
                    for i in v["incidents"].as_array().into_iter().flatten() {
                        assert_eq!(i["constituent"].as_str(), Some(a.as_str()), "{what}");
                    }
                    for c in v["constituents"].as_array().into_iter().flatten() {
                        assert_eq!(c["id"].as_str(), Some(a.as_str()), "{what}");
                    }
                }
                if route.path.starts_with("/incidents") && status == 200 {
                    for id in &b_ids {
                        assert!(
                            !body.contains(&format!("/incidents/{id}\"")),
                            "{what} links incident {id} of {b}"
                        );
                    }
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, whos.len() * routes.len());
    // The finding form's changes are audited with the web user as actor, only admins' and
    // analysts' (the matrix's other roles were refused).
    let by_web: Vec<String> = audit_entries(&site.data, "finding.update")
        .iter()
        .filter_map(|e| e["actor"].as_str().map(str::to_string))
        .filter(|a| a.starts_with("user:") && a.as_str() != SETUP_ACTOR)
        .collect();
    assert!(!by_web.is_empty(), "finding.update audited");
    assert!(
        by_web
            .iter()
            .all(|a| a == "user:admin2" || a == "user:analyst2"),
        "{by_web:?}"
    );
    // Only the admin changed peers and policies (each change audited with its actor); the
    // analyst's and the others' refused requests changed nothing.
    for action in [
        "peer.add",
        "peer.update",
        "peer.pause",
        "peer.resume",
        "sharing.policy",
    ] {
        let entries = audit_entries(&site.data, action);
        let by_web: Vec<&str> = entries
            .iter()
            .filter_map(|e| e["actor"].as_str())
            .filter(|a| a.starts_with("user:") && *a != SETUP_ACTOR)
            .collect();
        assert!(!by_web.is_empty(), "{action}: the admin's change audited");
        assert!(
            by_web.iter().all(|a| *a == "user:admin2"),
            "{action}: {by_web:?}"
        );
    }

    // A constituent reaching for another organisation's data by URL or filter gets nothing.
    let ca = login(&base, "constituent_a");
    for path in [
        format!("/assessments/{asm_b}"),
        format!("/assessments/{asm_b}/report"),
        format!("/api/v1/assessments/{asm_b}"),
        format!("/api/v1/assessments/{asm_b}/compare"),
        format!("/incidents/{id_b}"),
        format!("/api/v1/incidents/{id_b}"),
        format!("/constituents/{b}"),
        format!("/api/v1/constituents/{b}"),
    ] {
        let resp = ca.get(&path);
        assert_eq!(resp.status(), 404, "{path}");
        assert!(!contains_id(&resp.text().unwrap(), b), "{path}");
    }
    // Its list holds its own assessments only, and it cannot answer another's.
    let listed: Value = ca.get("/api/v1/assessments").json().unwrap();
    let listed = listed["assessments"].as_array().unwrap();
    assert!(listed.iter().any(|r| r["id"] == json!(asm_a)), "{listed:?}");
    assert!(
        listed
            .iter()
            .all(|r| r["constituent"].as_str() == Some(a.as_str())),
        "{listed:?}"
    );
    for path in [
        format!("/api/v1/assessments/{asm_b}/answers"),
        format!("/api/v1/incidents/{id_b}/comment"),
        format!("/api/v1/incidents/{id_b}/transition"),
    ] {
        let resp = client()
            .post(format!("{base}{path}"))
            .header(COOKIE, format!("focal_session={}", ca.cookie))
            .header("x-csrf-token", &ca.csrf)
            .json(&json!({"text": "x", "state": "acknowledged", "item": "b", "level": "yes"}))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
    let v: Value = ca
        .get(&format!("/api/v1/events?constituent={b}"))
        .json()
        .unwrap();
    assert_eq!(v["events"].as_array().unwrap().len(), 0);
    // Nor its event's page: the same 404 as an event that does not exist.
    let resp = ca.get(&format!("/events/{seq_b}"));
    assert_eq!(resp.status(), 404);
    assert!(!contains_id(&resp.text().unwrap(), b));
    let v: Value = admin
        .get(&format!("/api/v1/events?constituent={b}&limit=1"))
        .json()
        .unwrap();
    assert_eq!(
        v["events"].as_array().unwrap().len(),
        1,
        "org B has events staff can see"
    );

    // The matrix's changes were audited as the signed-in users.
    let audit: Value = admin
        .get(&format!("/api/v1/audit?subject=incident:{id_a}&limit=1000"))
        .json()
        .unwrap();
    let actors: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    for actor in ["user:admin2", "user:analyst2", "user:constituent_a"] {
        assert!(actors.contains(&actor), "{actor} in {actors:?}");
    }
    assert!(!actors.contains(&"user:auditor"));
    let detail: Value = ca.get(&format!("/api/v1/constituents/{a}")).json().unwrap();
    assert!(detail["notifications"].is_array(), "{detail}");

    // A constituent changes no constituent record, its own or another's, by form or API;
    // only staff's changes are in the log, and they kept A's netblocks.
    let ca_token = site.token("constituent_a", "write");
    for org in [a, b] {
        let resp = ca.post_form(
            &format!("/constituents/{org}/edit"),
            &[("name", "mine now"), ("netblocks", "0.0.0.0/0")],
            Some(&ca.csrf),
        );
        assert_eq!(resp.status(), 403, "form edit of {org}");
        let resp = client()
            .put(format!("{base}/api/v1/constituents/{org}"))
            .header(AUTHORIZATION, format!("Bearer {ca_token}"))
            .json(&edited)
            .send()
            .unwrap();
        assert_eq!(resp.status(), 403, "API edit of {org}");
    }
    let audit: Value = admin
        .get(&format!("/api/v1/audit?subject=constituent:{a}&limit=1000"))
        .json()
        .unwrap();
    let actors: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert!(!actors.is_empty());
    assert!(
        actors
            .iter()
            .all(|a| ["user:admin2", "user:analyst2"].contains(a)),
        "{actors:?}"
    );
    let now: Value = admin
        .get(&format!("/api/v1/constituents/{a}"))
        .json::<Value>()
        .unwrap()["constituent"]
        .clone();
    assert_eq!(now["netblocks"], record["netblocks"]);
    let audit: Value = admin
        .get(&format!("/api/v1/audit?subject=constituent:{b}&limit=1000"))
        .json()
        .unwrap();
    assert!(audit["entries"].as_array().unwrap().is_empty());
    assert!(detail["netblocks"].is_null() && detail["constituent"]["netblocks"].is_array());
}

impl Body {
    fn is_state_change(&self) -> bool {
        match self {
            Body::None | Body::Put(_) | Body::Upload(_) | Body::Csv(_) | Body::Delete => false,
            Body::Form(f) => f.iter().any(|(k, _)| *k == "state"),
            Body::Json(v) => v.get("state").is_some(),
        }
    }
}

impl Who {
    fn kind(&self) -> &'static str {
        match self {
            Who::Anonymous => "no credentials",
            Who::Session(_) => "session",
            Who::Bearer(_) => "bearer",
        }
    }
}

#[test]
fn csrf_throttling_cookies_sessions_and_tokens() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();

    // Session cookie flags: on loopback plain HTTP, no Secure; always HttpOnly and Strict.
    let resp = login_response(&base, "analyst2", PASSWORD);
    let (_, header) = set_cookie(&resp, "focal_session").unwrap();
    assert!(
        header.contains("HttpOnly") && header.contains("SameSite=Strict"),
        "{header}"
    );
    assert!(!header.contains("Secure"), "{header}");

    // CSRF: a form post without the token, or with a wrong one, or another session's, is refused.
    let s = login(&base, "analyst2");
    let other = login(&base, "admin2");
    let incidents: Value = s.get("/api/v1/incidents?limit=1").json().unwrap();
    let id = incidents["incidents"][0]["id"].as_i64().unwrap();
    let path = format!("/incidents/{id}/comment");
    assert_eq!(
        s.post_form(&path, &[("text", "no token")], None).status(),
        403
    );
    assert_eq!(
        s.post_form(&path, &[("text", "wrong")], Some("focal_00"))
            .status(),
        403
    );
    assert_eq!(
        s.post_form(&path, &[("text", "other's")], Some(&other.csrf))
            .status(),
        403
    );
    assert_eq!(
        s.post_form(&path, &[("text", "right")], Some(&s.csrf))
            .status(),
        303
    );
    let d: Value = s.get(&format!("/api/v1/incidents/{id}")).json().unwrap();
    let comments: Vec<&Value> = d["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "comment")
        .collect();
    assert_eq!(
        comments.len(),
        1,
        "only the post with the right token counted: {comments:?}"
    );
    // The login form needs its token too.
    let resp = client()
        .post(format!("{base}/login"))
        .form(&[("username", "analyst2"), ("password", PASSWORD)])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 403);

    // Logout ends the session on the server: the old cookie no longer works.
    let gone = login(&base, "auditor");
    assert_eq!(
        gone.post_form("/logout", &[], Some(&gone.csrf)).status(),
        303
    );
    let after = gone.get("/api/v1/incidents");
    assert_eq!(after.status(), 401);

    // Throttling: after three wrong passwords even the right one waits, and says how long;
    // another account from the same address is not affected.
    for _ in 0..3 {
        assert_eq!(
            login_response(&base, "constituent_a", "wrong password").status(),
            401
        );
    }
    let resp = login_response(&base, "constituent_a", PASSWORD);
    assert_eq!(resp.status(), 429);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1);
    assert_eq!(
        login_response(&base, "constituent_b", PASSWORD).status(),
        303
    );

    // Tokens: read scope cannot change anything; a revoked token stops working.
    let read = site.token("analyst2", "read");
    let with = |t: &str| {
        client()
            .get(format!("{base}/api/v1/incidents"))
            .header(AUTHORIZATION, format!("Bearer {t}"))
            .send()
            .unwrap()
    };
    assert_eq!(with(&read).status(), 200);
    let resp = client()
        .post(format!("{base}/api/v1/incidents/{id}/comment"))
        .header(AUTHORIZATION, format!("Bearer {read}"))
        .json(&json!({"text": "read-only"}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 403);
    let list = focal_json(&site.data, &["users", "token", "list", "analyst2"]);
    let token_id = list.as_array().unwrap().last().unwrap()["id"]
        .as_i64()
        .unwrap();
    focal(
        &site.data,
        &["users", "token", "revoke", &token_id.to_string()],
    );
    assert_eq!(with(&read).status(), 401);
    let list = focal_json(&site.data, &["users", "token", "list", "analyst2"]);
    assert!(list.as_array().unwrap().last().unwrap()["revoked_at"].is_string());
    assert_eq!(with("focal_not_a_token").status(), 401);

    // Off loopback (behind a TLS proxy) the cookie is Secure.
    let public = site.serve("0.0.0.0:0");
    let resp = login_response(&public.base, "admin2", PASSWORD);
    let (_, header) = set_cookie(&resp, "focal_session").unwrap();
    assert!(header.contains("; Secure"), "{header}");
}

#[test]
fn init_creates_the_first_admin_and_the_api_document_lists_the_routes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let out = focal_json(&data, &["init"]);
    let password = out["admin"]["generated_password"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(password.len() >= 16);
    let site = Site {
        data: data.clone(),
        org_a: String::new(),
        org_b: String::new(),
        dir,
    };
    let server = site.serve("127.0.0.1:0");
    let resp = login_response(&server.base, "admin", &password);
    assert_eq!(resp.status(), 303);
    let doc: Value = client()
        .get(format!("{}/api/v1/openapi.json", server.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/events",
        "/api/v1/incidents/{id}/transition",
        "/api/v1/audit",
        "/api/v1/feeds",
        "/api/v1/feeds/{name}",
        "/api/v1/users",
        "/api/v1/users/{name}",
        "/api/v1/users/{name}/disable",
        "/api/v1/users/{name}/enable",
        "/api/v1/users/{name}/password",
        "/api/v1/users/{name}/sessions",
        "/api/v1/users/{name}/sessions/{id}",
        "/api/v1/account",
        "/api/v1/account/password",
        "/api/v1/account/sessions",
        "/api/v1/account/sessions/{id}",
        "/api/v1/assessments",
        "/api/v1/assessments/{id}",
        "/api/v1/assessments/{id}/answers",
        "/api/v1/assessments/{id}/compare",
        "/api/v1/risks",
        "/api/v1/risks/{id}",
        "/api/v1/findings",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} in the OpenAPI document"
        );
    }
    // The constituent changes, with typed bodies and answers.
    let op = |path: &str, method: &str| doc["paths"][path][method].clone();
    let schema_ref = |v: &Value| v["$ref"].as_str().unwrap_or_default().to_string();
    let create = op("/api/v1/constituents", "post");
    assert_eq!(
        schema_ref(&create["requestBody"]["content"]["application/json"]["schema"]),
        "#/components/schemas/ConstituentBody"
    );
    assert_eq!(
        schema_ref(&create["responses"]["201"]["content"]["application/json"]["schema"]),
        "#/components/schemas/ConstituentOut"
    );
    assert_eq!(
        schema_ref(&create["responses"]["422"]["content"]["application/json"]["schema"]),
        "#/components/schemas/Refusal"
    );
    let put = op("/api/v1/constituents/{id}", "put");
    assert_eq!(
        schema_ref(&put["responses"]["200"]["content"]["application/json"]["schema"]),
        "#/components/schemas/ConstituentOut"
    );
    let import = op("/api/v1/constituents/import", "post");
    assert!(
        import["requestBody"]["content"]["text/csv"].is_object(),
        "{import}"
    );
    assert_eq!(
        schema_ref(&import["responses"]["200"]["content"]["application/json"]["schema"]),
        "#/components/schemas/ImportResult"
    );
    for name in [
        "ConstituentBody",
        "ConstituentOut",
        "ImportResult",
        "Refusal",
        "Problem",
    ] {
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{name} in the schemas"
        );
    }
    // A second init of the same folder changes nothing.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_focal"))
        .arg("--data")
        .arg(&data)
        .args(["init", "--admin-password", "another password"])
        .output()
        .unwrap();
    assert!(!again.status.success());
}

/// README's first command: `focal demo` builds the dataset, then serves it and prints the URL
/// and the accounts, which sign in.
#[test]
fn the_demo_serves_its_dataset_and_its_accounts_sign_in() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_focal"))
        .arg("--data")
        .arg(&data)
        .args(["--json", "demo", "--listen", "127.0.0.1:0"])
        .env("FOCAL_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut summary = String::new();
    let listening = loop {
        let line = lines.next().expect("the demo prints its address").unwrap();
        if line.starts_with("{\"listening\"") {
            break serde_json::from_str::<Value>(&line).unwrap();
        }
        summary.push_str(&line);
    };
    let summary: Value = serde_json::from_str(&summary).unwrap();
    let url = listening["url"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    for account in summary["accounts"].as_array().unwrap() {
        let resp = login_response(
            &url,
            account["name"].as_str().unwrap(),
            account["password"].as_str().unwrap(),
        );
        assert_eq!(resp.status(), 303, "{account}");
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn sharing_forms_refuse_bad_values_whole_and_without_csrf() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let admin = login(&server.base, "admin2");
    let csrf = Some(admin.csrf.as_str());
    let peer = |name: &str, url: &str| {
        vec![
            ("name", name.to_string()),
            ("url", url.to_string()),
            ("collection", "c".to_string()),
            ("auth", "none".to_string()),
            ("push", "on".to_string()),
        ]
    };
    let post = |path: &str, fields: &[(&str, String)], csrf: Option<&str>| {
        let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = admin.post_form(path, &f, csrf);
        (r.status().as_u16(), r.text().unwrap())
    };
    // A URL that is not http(s), a peer without a direction, a user without a password, a
    // password without its kind's secret: each refused with the field named, the form kept.
    let (status, body) = post("/sharing/peers", &peer("cert-y", "ftp://x.example/"), csrf);
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("url: ") && body.contains("ftp://x.example/"),
        "{body}"
    );
    let mut none = peer("cert-y", "https://x.example/taxii2/root/");
    none.retain(|(k, _)| *k != "push");
    let (status, body) = post("/sharing/peers", &none, csrf);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("pull/push"), "{body}");
    let mut user = peer("cert-y", "https://x.example/taxii2/root/");
    user.push(("user", "someone".into()));
    let (status, body) = post("/sharing/peers", &user, csrf);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("password"), "{body}");
    // A policy with an unknown redaction, and one with an unknown type.
    let policy = |redact: &str, types: &str| {
        vec![
            ("principal", "cert-y".to_string()),
            ("max_tlp", "AMBER".to_string()),
            ("redact", redact.to_string()),
            ("types", types.to_string()),
        ]
    };
    let (status, body) = post("/sharing/policies", &policy("source.ip=blur", ""), csrf);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("is not drop or pseudonymise"), "{body}");
    let (status, body) = post("/sharing/policies", &policy("", "no-such-type"), csrf);
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("neither an RSIT classification type"),
        "{body}"
    );
    // Without the session's CSRF token nothing is done either.
    let (status, _) = post(
        "/sharing/peers",
        &peer("cert-y", "https://x.example/taxii2/root/"),
        None,
    );
    assert_eq!(status, 403);
    let (status, _) = post("/sharing/policies", &policy("", ""), None);
    assert_eq!(status, 403);
    // Nothing was stored, nothing audited.
    assert_eq!(focal_json(&site.data, &["peers", "list"]), json!([]));
    for action in ["peer.add", "sharing.policy"] {
        assert!(audit_entries(&site.data, action).is_empty(), "{action}");
    }
    // A good one is stored once; adding the same name again is refused (changed on its page).
    let good = peer("cert-y", "https://x.example/taxii2/root/");
    let (status, body) = post("/sharing/peers", &good, csrf);
    assert!(status == 303 || status == 200, "{status}: {body}");
    let (status, body) = post("/sharing/peers", &good, csrf);
    assert_eq!(status, 409, "{body}");
    assert_eq!(audit_entries(&site.data, "peer.add").len(), 1);
    // Pausing an unknown peer is a 404.
    let (status, _) = post("/sharing/peers/nobody/pause", &[], csrf);
    assert_eq!(status, 404);
    // The API lists the peer as stored, without its secret, and previews it.
    let listed: Value = admin.get("/api/v1/sharing/peers").json().unwrap();
    assert_eq!(listed["peers"][0]["name"], "cert-y");
    assert_eq!(listed["peers"][0]["paused"], false);
    assert_eq!(listed["peers"][0]["policy"]["max_tlp"], "GREEN");
    assert_eq!(listed["peers"][0]["policy"]["own"], false);
    let preview = admin.get("/api/v1/sharing/peers/cert-y/preview");
    assert_eq!(preview.status(), 200);
    assert_eq!(
        admin.get("/api/v1/sharing/peers/nobody/preview").status(),
        404
    );
}

/// The advisory workflow routes (edit, submit, reject, publish; form and API) for every role:
/// admins and analysts may, nobody else; each call gets an advisory of its own, written and
/// submitted through the CLI by another person, so four eyes never stands in the way. Then what
/// a constituent reads: published advisories up to its clearance (TLP:GREEN by default) only.
#[test]
fn advisory_workflow_routes_answer_each_role_and_constituents_read_up_to_their_clearance() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let n = std::cell::Cell::new(0);
    let prepare = |submitted: bool| -> String {
        n.set(n.get() + 1);
        let id = format!("WF-{}", n.get());
        focal(
            &site.data,
            &[
                "--actor",
                "cli-writer",
                "advisories",
                "new",
                "--id",
                &id,
                "--title",
                "Workflow check",
                "--summary",
                "S.",
                "--tlp",
                "GREEN",
                "--reference",
                "https://wf.example/a",
            ],
        );
        if submitted {
            focal(
                &site.data,
                &["--actor", "cli-writer", "advisories", "submit", &id],
            );
        }
        id
    };
    let state = |id: &str| -> String {
        focal_json(&site.data, &["advisories", "show", id])["state"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut whos: Vec<(&str, Who)> = vec![
        ("anonymous", Who::Anonymous),
        ("peer", Who::Bearer(site.token("peer", "write"))),
    ];
    for (role, name) in [
        ("admin", "admin2"),
        ("analyst", "analyst2"),
        ("auditor", "auditor"),
        ("constituent", "constituent_a"),
    ] {
        whos.push((role, Who::Session(login(&base, name))));
        whos.push((role, Who::Bearer(site.token(name, "write"))));
    }
    let content = json!({"title": "Workflow check, edited", "summary": "S.", "tlp": "GREEN",
        "references": [{"url": "https://wf.example/a"}]});
    for (role, who) in &whos {
        let api = !matches!(who, Who::Session(_));
        // (step, submitted first, the state it leaves when allowed)
        for (step, submitted, after) in [
            ("edit", false, "draft"),
            ("submit", false, "in_review"),
            ("reject", true, "draft"),
            ("publish", true, "published"),
        ] {
            let id = prepare(submitted);
            let before = state(&id);
            let route = match (api, step) {
                (true, "edit") => Route {
                    path: format!("/api/v1/advisories/{id}"),
                    need: Need::Manage,
                    body: Body::Put(json!({"content": content})),
                },
                (true, _) => Route {
                    path: format!("/api/v1/advisories/{id}/{step}"),
                    need: Need::Manage,
                    body: Body::Json(json!({"reason": "matrix"})),
                },
                (false, _) => Route {
                    path: format!("/advisories/{id}/{step}"),
                    need: Need::Manage,
                    body: Body::Form(vec![
                        ("title", "Workflow check, edited".into()),
                        ("summary", "S.".into()),
                        ("tlp", "GREEN".into()),
                        ("references", "https://wf.example/a".into()),
                        ("reason", "matrix".into()),
                    ]),
                },
            };
            // The reject route's API body has a reason; the others take none and ignore it.
            let route = if api && step != "reject" && step != "edit" {
                Route {
                    body: Body::Json(json!({})),
                    ..route
                }
            } else {
                route
            };
            let resp = send(&base, who, &route, "");
            let status = resp.status().as_u16();
            let location = resp
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_string());
            let body = resp.text().unwrap();
            let what = format!("{role} ({}) {step} {}", who.kind(), route.path);
            if may(role, route.need) {
                assert!(
                    (200..300).contains(&status)
                        || (status == 303
                            && location.as_deref()
                                == Some(&*format!(
                                    "/advisories/{id}?saved={}",
                                    match step {
                                        "edit" => "edited",
                                        "submit" => "submitted",
                                        "reject" => "rejected",
                                        _ => "published",
                                    }
                                ))),
                    "{what}: allowed, but answered {status} {location:?}: {body}"
                );
                assert_eq!(state(&id), after, "{what}");
            } else {
                assert!(
                    status == 401 || status == 403,
                    "{what}: not allowed, but answered {status}: {body}"
                );
                assert_eq!(state(&id), before, "{what}: nothing changed");
            }
        }
    }
    // Every allowed change is in the audit log under the person who made it.
    let published = audit_entries(&site.data, "advisory.publish");
    for actor in ["user:admin2", "user:analyst2"] {
        assert_eq!(
            published.iter().filter(|e| e["actor"] == actor).count(),
            2,
            "{actor} published once by session and once by token: {published:?}"
        );
    }

    // A published advisory's next revision through the API: an edit needs a change summary,
    // starts a draft of revision 2 (readers still get revision 1), and another person publishes
    // it; a stale row_version is refused.
    let (analyst, admin) = (
        site.token("analyst2", "write"),
        site.token("admin2", "write"),
    );
    let call = |token: &str, method: reqwest::Method, path: &str, body: Value| {
        let r = client()
            .request(method, format!("{base}{path}"))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .json(&body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().unwrap())
    };
    let id = prepare(true);
    let (s, _) = call(
        &admin,
        reqwest::Method::POST,
        &format!("/api/v1/advisories/{id}/publish"),
        json!({}),
    );
    assert_eq!(s, 200);
    let path = format!("/api/v1/advisories/{id}");
    let edited = json!({"title": "Workflow check, revision 2", "summary": "S.", "tlp": "GREEN",
        "references": [{"url": "https://wf.example/a"}]});
    let (s, v) = call(
        &analyst,
        reqwest::Method::PUT,
        &path,
        json!({"content": edited}),
    );
    assert_eq!(s, 422, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("change_summary"),
        "{v}"
    );
    let (s, v) = call(
        &analyst,
        reqwest::Method::PUT,
        &path,
        json!({"content": edited, "change_summary": "Retitled", "row_version": 0}),
    );
    assert_eq!(s, 409, "a stale row_version: {v}");
    let (_, shown) = call(&analyst, reqwest::Method::GET, &path, Value::Null);
    let version = shown["row_version"].as_u64().unwrap();
    let (s, v) = call(
        &analyst,
        reqwest::Method::PUT,
        &path,
        json!({"content": edited, "change_summary": "Retitled", "row_version": version}),
    );
    assert_eq!((s, v["state"].as_str()), (200, Some("draft")), "{v}");
    assert_eq!(v["revisions"].as_array().unwrap().len(), 1);
    for (token, step) in [(&analyst, "submit"), (&admin, "publish")] {
        let (s, v) = call(
            token,
            reqwest::Method::POST,
            &format!("{path}/{step}"),
            json!({}),
        );
        assert_eq!(s, 200, "{step}: {v}");
    }
    let (_, v) = call(&analyst, reqwest::Method::GET, &path, Value::Null);
    let revisions = v["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 2, "{v}");
    assert_eq!(revisions[1]["summary"], "Retitled");
    assert_eq!(
        revisions[1]["content"]["title"],
        "Workflow check, revision 2"
    );
    assert_eq!(revisions[0]["content"]["title"], "Workflow check");
    let edits = audit_entries(&site.data, "advisory.edit");
    assert!(
        edits
            .iter()
            .any(|e| e["actor"] == "user:analyst2" && e["subject"] == format!("advisory:{id}")),
        "{edits:?}"
    );

    // Clearance: GREEN and CLEAR are read, AMBER is not (not listed, not found, no CSAF).
    let publish = |tlp: &str| -> String {
        let id = prepare(true);
        focal(
            &site.data,
            &[
                "--actor",
                "cli-writer",
                "advisories",
                "reject",
                &id,
                "--reason",
                "tlp",
            ],
        );
        focal(
            &site.data,
            &[
                "--actor",
                "cli-writer",
                "advisories",
                "edit",
                &id,
                "--tlp",
                tlp,
            ],
        );
        focal(
            &site.data,
            &["--actor", "cli-writer", "advisories", "submit", &id],
        );
        focal(
            &site.data,
            &["--actor", "cli-publisher", "advisories", "publish", &id],
        );
        id
    };
    let (green, amber) = (publish("GREEN"), publish("AMBER"));
    let constituent = site.token("constituent_a", "read");
    let get = |path: &str| {
        client()
            .get(format!("{base}{path}"))
            .header(AUTHORIZATION, format!("Bearer {constituent}"))
            .send()
            .unwrap()
    };
    let list: Value = get("/api/v1/advisories").json().unwrap();
    let ids: Vec<&str> = list["advisories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&green.as_str()) && ids.contains(&"FOCAL-DEMO-0001"),
        "{ids:?}"
    );
    assert!(!ids.contains(&amber.as_str()), "{ids:?}");
    assert!(!ids.contains(&"WF-1"), "drafts are not listed: {ids:?}");
    let shown: Value = get(&format!("/api/v1/advisories/{green}")).json().unwrap();
    assert!(shown["working_copy"].is_null(), "{shown}");
    assert_eq!(shown["tlp"], "TLP:GREEN");
    for path in [
        format!("/api/v1/advisories/{amber}"),
        format!("/api/v1/advisories/{amber}/csaf"),
        format!("/advisories/{amber}"),
        "/api/v1/advisories/WF-1".to_string(),
    ] {
        assert_eq!(get(&path).status(), 404, "{path}");
    }
    assert_eq!(
        get(&format!("/api/v1/advisories/{green}/csaf")).status(),
        200
    );
    // An advisory first published under AMBER and then, as revision 2, under GREEN: the
    // constituent reads revision 2 and its history leaves revision 1 out.
    let lowered = publish("AMBER");
    focal(
        &site.data,
        &[
            "--actor",
            "cli-writer",
            "advisories",
            "edit",
            &lowered,
            "--tlp",
            "GREEN",
            "--title",
            "Lowered to GREEN",
            "--change",
            "Cleared for constituents",
        ],
    );
    focal(
        &site.data,
        &["--actor", "cli-writer", "advisories", "submit", &lowered],
    );
    focal(
        &site.data,
        &[
            "--actor",
            "cli-publisher",
            "advisories",
            "publish",
            &lowered,
        ],
    );
    let shown: Value = get(&format!("/api/v1/advisories/{lowered}"))
        .json()
        .unwrap();
    let numbers: Vec<u64> = shown["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [2], "{shown}");
    assert_eq!(shown["title"], "Lowered to GREEN");
    // Cleared up to AMBER, it reads the AMBER one too.
    focal(
        &site.data,
        &["share", "policy", "constituent_a", "--max-tlp", "AMBER"],
    );
    assert_eq!(get(&format!("/api/v1/advisories/{amber}")).status(), 200);
}

/// Every byte but the unreserved ones as `%XX`, as the server encodes `next`.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
