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
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let admin = login(&base, "admin2");

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
    let mut routes = vec![
        get("/login".into(), Need::Public),
        get("/healthz".into(), Need::Public),
        get("/static/focal.css".into(), Need::Public),
        get("/api/v1/openapi.json".into(), Need::Public),
        get("/".into(), Need::Read),
        get("/events".into(), Need::Read),
        get(format!("/events?constituent={a}"), Need::Read),
        get("/incidents".into(), Need::Read),
        get(format!("/incidents/{id_a}"), Need::Read),
        get("/constituents".into(), Need::Read),
        get(format!("/constituents/{a}"), Need::Read),
        get("/feeds".into(), Need::StaffRead),
        // A feed the demo registers.
        get("/feeds/spamhaus-drop".into(), Need::StaffRead),
        get("/feeds/spamhaus-drop?before=1000".into(), Need::StaffRead),
        get("/audit".into(), Need::Audit),
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
        (
            "/feeds/spamhaus-drop/pull".to_string(),
            Need::Operate,
            form(&[]),
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
            if may(role, route.need) {
                // Signing out ends at the login form; anything else sent there was refused.
                let ok = (200..300).contains(&status)
                    || (status == 303
                        && (location.as_deref() != Some("/login") || route.path == "/logout"));
                assert!(
                    ok,
                    "{what}: allowed, but answered {status} {location:?}: {body}"
                );
            } else if *role == "anonymous"
                && !route.path.starts_with("/api/")
                && route.path != "/metrics"
                && matches!(route.body, Body::None)
            {
                assert_eq!(
                    (status, location.as_deref()),
                    (303, Some("/login")),
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

    // A constituent reaching for another organisation's data by URL or filter gets nothing.
    let ca = login(&base, "constituent_a");
    for path in [
        format!("/incidents/{id_b}"),
        format!("/api/v1/incidents/{id_b}"),
        format!("/constituents/{b}"),
        format!("/api/v1/constituents/{b}"),
    ] {
        let resp = ca.get(&path);
        assert_eq!(resp.status(), 404, "{path}");
        assert!(!contains_id(&resp.text().unwrap(), b), "{path}");
    }
    for path in [
        format!("/api/v1/incidents/{id_b}/comment"),
        format!("/api/v1/incidents/{id_b}/transition"),
    ] {
        let resp = client()
            .post(format!("{base}{path}"))
            .header(COOKIE, format!("focal_session={}", ca.cookie))
            .header("x-csrf-token", &ca.csrf)
            .json(&json!({"text": "x", "state": "acknowledged"}))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
    let v: Value = ca
        .get(&format!("/api/v1/events?constituent={b}"))
        .json()
        .unwrap();
    assert_eq!(v["events"].as_array().unwrap().len(), 0);
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
            Body::None | Body::Put(_) | Body::Upload(_) | Body::Csv(_) => false,
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
