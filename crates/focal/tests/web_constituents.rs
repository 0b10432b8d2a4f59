//! Changing constituents over real HTTP against `focal serve`: a CSV import through the web
//! form (multipart, as a browser sends it) and through the API, edits and a new constituent
//! through the forms and the API, refusals that name line and field and change nothing, CSRF,
//! size limits, who may do it, the audit trail, and that the next `focal ingest` uses an edited
//! netblock.

mod web;

use reqwest::blocking::Response;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE};
use serde_json::{Value, json};
use web::*;

const HEADER: &str = "id,name,abuse_email,asns,netblocks,domains,language\n";

/// A `multipart/form-data` body built by hand, byte for byte what a browser sends for the
/// import form: `fields` as text parts, then the file part.
fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "----focaltestboundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some((file_name, data)) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn upload(s: &Session, csrf: Option<&str>, file_name: &str, csv: &[u8]) -> Response {
    let mut fields = vec![("csv", "")];
    if let Some(c) = csrf {
        fields.insert(0, ("csrf", c));
    }
    let (content_type, body) = multipart(&fields, Some((file_name, csv)));
    client()
        .post(format!("{}/constituents/import", s.base))
        .header(COOKIE, format!("focal_session={}", s.cookie))
        .header(CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .unwrap()
}

struct Api {
    base: String,
    token: String,
}

impl Api {
    fn get(&self, path: &str) -> Response {
        client()
            .get(format!("{}{path}", self.base))
            .header(AUTHORIZATION, format!("Bearer {}", self.token))
            .send()
            .unwrap()
    }
    fn json(&self, method: reqwest::Method, path: &str, body: &Value) -> Response {
        client()
            .request(method, format!("{}{path}", self.base))
            .header(AUTHORIZATION, format!("Bearer {}", self.token))
            .json(body)
            .send()
            .unwrap()
    }
    fn csv(&self, csv: impl Into<Vec<u8>>) -> Response {
        client()
            .post(format!("{}/api/v1/constituents/import", self.base))
            .header(AUTHORIZATION, format!("Bearer {}", self.token))
            .header(CONTENT_TYPE, "text/csv")
            .body(csv.into())
            .send()
            .unwrap()
    }
    /// The stored constituent, or None when the API says there is none.
    fn constituent(&self, id: &str) -> Option<Value> {
        let resp = self.get(&format!("/api/v1/constituents/{id}"));
        match resp.status().as_u16() {
            404 => None,
            200 => Some(resp.json::<Value>().unwrap()["constituent"].clone()),
            s => panic!("GET constituent {id}: {s}"),
        }
    }
    fn audit(&self, subject: &str) -> Vec<Value> {
        let v: Value = self
            .get(&format!("/api/v1/audit?subject={subject}&limit=1000"))
            .json()
            .unwrap();
        v["entries"].as_array().unwrap().clone()
    }
}

#[test]
fn staff_import_and_edit_constituents_through_the_forms_and_the_api_and_every_change_is_audited() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let analyst = login(&base, "analyst2");
    let api = Api {
        base: base.clone(),
        token: site.token("analyst2", "write"),
    };
    // The audit log is read as an admin (analysts may not).
    let admin = Api {
        base: base.clone(),
        token: site.token("admin2", "read"),
    };

    // The list page offers the forms to staff who may change constituents, and says when a
    // change takes effect.
    let page = analyst.get("/constituents").text().unwrap();
    for needle in [
        "action=\"/constituents/import\"",
        "enctype=\"multipart/form-data\"",
        "id=\"new-constituent\"",
        "a change applies to ingests started after it",
    ] {
        assert!(page.contains(needle), "{needle} on the list page");
    }

    // A CSV through the web form: two new constituents.
    let csv = format!(
        "{HEADER}web-1,Web One,abuse@one.example,AS64501,100.64.1.0/24,one.example,\n\
         web-2,Web Two,,64502 64503,2001:db8:2::/48,,de\n"
    );
    let resp = upload(&analyst, Some(&analyst.csrf), "orgs.csv", csv.as_bytes());
    assert_eq!(resp.status(), 200);
    let page = resp.text().unwrap();
    assert!(
        page.contains("Imported 2 rows: 2 added, 0 updated, 0 unchanged."),
        "{page}"
    );
    let one = api.constituent("web-1").expect("web-1 was imported");
    assert_eq!(one["abuse_email"], "abuse@one.example");
    assert_eq!(one["netblocks"], json!(["100.64.1.0/24"]));
    let two = api.constituent("web-2").expect("web-2 was imported");
    assert_eq!(
        (two["asns"].clone(), two["language"].clone()),
        (json!([64502, 64503]), json!("de"))
    );

    // A CSV with bad rows: refused whole, every problem named by line and field.
    let bad = format!(
        "{HEADER}web-3,Fine,ok@three.example,,100.64.3.0/24,,\n\
         web-4,Bad,not-an-address,,100.64.4.0/33,,\n\
         web-3,Again,,,,,\n"
    );
    let resp = upload(&analyst, Some(&analyst.csrf), "bad.csv", bad.as_bytes());
    assert_eq!(resp.status(), 422);
    let page = resp.text().unwrap();
    for needle in [
        "line 3, field abuse_email",
        "line 3, field netblocks",
        "100.64.4.0/33",
        "line 4, field id",
    ] {
        assert!(page.contains(needle), "{needle} in: {page}");
    }
    assert!(
        api.constituent("web-3").is_none(),
        "the good row was not imported either"
    );

    // Without the CSRF token, or with a wrong one, the form does nothing.
    let sneaky = format!("{HEADER}web-csrf,Sneaky,,,,,\n");
    for token in [None, Some("focal_wrong")] {
        let resp = upload(&analyst, token, "x.csv", sneaky.as_bytes());
        assert_eq!(resp.status(), 403, "token {token:?}");
    }
    assert!(api.constituent("web-csrf").is_none());

    // The same through the API: a CSV body.
    let resp = api.csv(format!(
        "{HEADER}api-1,Api One,soc@api.example,,100.64.9.0/24,api.example,\nweb-2,Web Two,,64502 64503,2001:db8:2::/48,,de\n"
    ));
    assert_eq!(resp.status(), 200);
    let summary: Value = resp.json().unwrap();
    assert_eq!(
        summary,
        json!({"rows": 2, "added": 1, "updated": 0, "unchanged": 1})
    );
    let resp = api.csv(format!(
        "{HEADER}api-2,Fine,,,,,\napi-3,Bad,,AS12x,,bad domain!,\n"
    ));
    assert_eq!(resp.status(), 422);
    let refusal: Value = resp.json().unwrap();
    let problems: Vec<(u64, &str)> = refusal["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["line"].as_u64().unwrap(), p["field"].as_str().unwrap()))
        .collect();
    assert_eq!(problems, [(3, "asns"), (3, "domains")]);
    assert!(
        refusal["error"]
            .as_str()
            .unwrap()
            .contains("line 3, field asns"),
        "{refusal}"
    );
    assert!(api.constituent("api-2").is_none());

    // Editing through the form: the new values are stored, the page says so.
    let edit = [
        ("name", "Web One Renamed"),
        ("abuse_email", "cert@one.example"),
        ("language", "pt-BR"),
        ("asns", "AS64501\n64510"),
        ("netblocks", "100.64.1.0/24\r\n100.64.11.0/24"),
        ("domains", "one.example other.example"),
    ];
    let resp = analyst.post_form("/constituents/web-1/edit", &edit, Some(&analyst.csrf));
    assert_eq!(resp.status(), 303);
    let to = resp.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(to, "/constituents/web-1?saved=updated");
    let page = analyst.get(&to).text().unwrap();
    assert!(page.contains("Changes saved.") && page.contains("cert@one.example"));
    let one = api.constituent("web-1").unwrap();
    assert_eq!(
        one,
        json!({"id": "web-1", "name": "Web One Renamed", "abuse_email": "cert@one.example",
               "asns": [64501, 64510], "netblocks": ["100.64.1.0/24", "100.64.11.0/24"],
               "domains": ["one.example", "other.example"], "language": "pt-BR",
               "also_notify": []})
    );
    let listed: Value = api.get("/api/v1/constituents?limit=1000").json().unwrap();
    let in_list = listed["constituents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "web-1")
        .unwrap();
    assert_eq!(in_list["abuse_email"], "cert@one.example");

    // A bad edit: the form comes back with what was typed and a message per field; nothing
    // is stored.
    let bad_edit = [
        ("name", "Typo"),
        ("abuse_email", "cert at one.example"),
        ("language", ""),
        ("asns", "64501"),
        ("netblocks", "100.64.1.0/24\n100.64.1.1/24"),
        ("domains", ""),
    ];
    let resp = analyst.post_form("/constituents/web-1/edit", &bad_edit, Some(&analyst.csrf));
    assert_eq!(resp.status(), 422);
    let page = resp.text().unwrap();
    assert!(page.contains("field abuse_email"), "{page}");
    assert!(page.contains("field netblocks") && page.contains("100.64.1.1/24"));
    assert!(
        page.contains("value=\"cert at one.example\""),
        "the typed value is kept"
    );
    assert!(page.contains("value=\"Typo\""));
    assert_eq!(api.constituent("web-1").unwrap(), one, "nothing changed");
    // Without the token, nothing either.
    let resp = analyst.post_form("/constituents/web-1/edit", &edit[..1], None);
    assert_eq!(resp.status(), 403);

    // A new constituent through the form; its id again is refused as a duplicate.
    let new = [
        ("id", "form-1"),
        ("name", "Form One"),
        ("abuse_email", "abuse@form.example"),
        ("language", ""),
        ("asns", ""),
        ("netblocks", "100.64.21.0/24"),
        ("domains", ""),
    ];
    let resp = analyst.post_form("/constituents", &new, Some(&analyst.csrf));
    assert_eq!(resp.status(), 303);
    assert_eq!(
        resp.headers()["location"],
        "/constituents/form-1?saved=added"
    );
    assert_eq!(api.constituent("form-1").unwrap()["name"], "Form One");
    let mut again = new;
    again[1] = ("name", "Someone Else");
    let resp = analyst.post_form("/constituents", &again, Some(&analyst.csrf));
    assert_eq!(resp.status(), 422);
    let page = resp.text().unwrap();
    assert!(
        page.contains("field id: a constituent &quot;form-1&quot; already exists"),
        "{page}"
    );
    assert!(page.contains("value=\"Someone Else\""));
    assert_eq!(api.constituent("form-1").unwrap()["name"], "Form One");

    // The API: create (201), replace (200), and refusals naming the field.
    let body = json!({"id": "api-new", "name": "Api New", "abuse_email": "a@new.example",
        "asns": [64600, "AS64601"], "netblocks": ["100.64.31.0/24"], "domains": [], "language": null});
    let resp = api.json(reqwest::Method::POST, "/api/v1/constituents", &body);
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.json::<Value>().unwrap()["asns"], json!([64600, 64601]));
    let mut changed = body.clone();
    changed["abuse_email"] = json!("b@new.example");
    changed.as_object_mut().unwrap().remove("id");
    let resp = api.json(
        reqwest::Method::PUT,
        "/api/v1/constituents/api-new",
        &changed,
    );
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().unwrap()["abuse_email"],
        "b@new.example"
    );
    for (method, path, body, field) in [
        (
            reqwest::Method::PUT,
            "/api/v1/constituents/api-new",
            json!({"name": "x", "abuse_email": "", "asns": [], "netblocks": ["300.1.2.0/24"], "domains": []}),
            "netblocks",
        ),
        (
            reqwest::Method::PUT,
            "/api/v1/constituents/api-new",
            json!({"name": "x", "abuse_email": "", "asns": [], "domains": []}),
            "netblocks",
        ),
        (
            reqwest::Method::PUT,
            "/api/v1/constituents/api-new",
            json!({"id": "other", "name": "x", "abuse_email": "", "asns": [], "netblocks": [], "domains": []}),
            "id",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/constituents",
            json!({"name": "no id", "abuse_email": "", "asns": [], "netblocks": [], "domains": []}),
            "id",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/constituents",
            json!({"id": "x", "name": "", "abuse_email": "a@b.example", "asns": [4294967296u64], "netblocks": [], "domains": []}),
            "asns",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/constituents",
            json!({"id": "x", "name": "", "abuse_email": "a@b.example", "asns": [-1], "netblocks": [], "domains": []}),
            "asns",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/constituents",
            json!({"id": "x", "name": "", "abuse_email": "", "asns": [], "netblocks": [], "domains": [], "abuse-mail": "typo"}),
            "abuse-mail",
        ),
    ] {
        let resp = api.json(method.clone(), path, &body);
        assert_eq!(resp.status(), 422, "{method} {path} {body}");
        let v: Value = resp.json().unwrap();
        assert_eq!(v["problems"][0]["field"], field, "{v}");
        assert!(v["error"].as_str().unwrap().contains(field), "{v}");
    }
    assert_eq!(
        api.constituent("api-new").unwrap()["abuse_email"],
        "b@new.example"
    );
    let resp = api.json(
        reqwest::Method::PUT,
        "/api/v1/constituents/no-such-org",
        &json!({"name": "x", "abuse_email": "", "asns": [], "netblocks": [], "domains": []}),
    );
    assert_eq!(resp.status(), 404);
    assert!(api.constituent("no-such-org").is_none());
    let resp = client()
        .post(format!("{base}/api/v1/constituents"))
        .header(AUTHORIZATION, format!("Bearer {}", api.token))
        .header(CONTENT_TYPE, "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 400);

    // The audit log: who, what, before and after.
    let entries = admin.audit("constituent:web-1");
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("user:analyst2", "constituent.import"),
            ("user:analyst2", "constituent.update")
        ]
    );
    assert!(entries[0]["before"].is_null());
    assert_eq!(entries[0]["after"]["imported_from"], "web upload: orgs.csv");
    assert_eq!(entries[1]["before"]["abuse_email"], "abuse@one.example");
    assert_eq!(entries[1]["after"]["abuse_email"], "cert@one.example");
    assert_eq!(entries[1]["after"]["netblocks"][1], "100.64.11.0/24");
    let api_import = admin.audit("constituent:api-1");
    assert_eq!(api_import.len(), 1);
    assert_eq!(api_import[0]["after"]["imported_from"], "API upload");
    assert_eq!(api_import[0]["actor"], "user:analyst2");
    assert!(
        admin.audit("constituent:web-2").len() == 1,
        "an unchanged row is not audited"
    );
    let api_new = admin.audit("constituent:api-new");
    let actions: Vec<&str> = api_new
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["constituent.create", "constituent.update"]);
    assert_eq!(api_new[1]["before"]["abuse_email"], "a@new.example");
    let form_new = admin.audit("constituent:form-1");
    assert_eq!(form_new.len(), 1, "the refused duplicate left no entry");
    for refused in ["web-3", "web-4", "web-csrf", "api-2", "api-3"] {
        assert!(
            admin.audit(&format!("constituent:{refused}")).is_empty(),
            "{refused}"
        );
    }
    let verify = focal(&site.data, &["audit", "verify"]);
    assert!(verify.contains("verifies"), "{verify}");

    // Over the size limit: a clear refusal, through the form and through the API.
    let mut huge = HEADER.as_bytes().to_vec();
    let row = b"big,Big,,,,,\n";
    while huge.len() <= 10 * 1024 * 1024 {
        huge.extend_from_slice(row);
    }
    let resp = upload(&analyst, Some(&analyst.csrf), "huge.csv", &huge);
    assert_eq!(resp.status(), 413);
    assert!(resp.text().unwrap().contains("at most 10 MiB"));
    let resp = api.csv(huge);
    assert_eq!(resp.status(), 413);
    assert!(resp.text().unwrap().contains("at most 10 MiB"));
    assert!(api.constituent("big").is_none());
}

#[test]
fn constituents_auditors_and_read_tokens_cannot_change_any_constituent() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let (a, b) = (site.org_a.clone(), site.org_b.clone());
    let admin = Api {
        base: base.clone(),
        token: site.token("admin2", "write"),
    };
    let before_a = admin.constituent(&a).unwrap();
    let before_b = admin.constituent(&b).unwrap();
    let fields = [
        ("name", "Taken over"),
        ("abuse_email", "evil@attacker.example"),
        ("language", ""),
        ("asns", ""),
        ("netblocks", "0.0.0.0/0"),
        ("domains", ""),
    ];
    let json_body = json!({"name": "Taken over", "abuse_email": "evil@attacker.example",
        "asns": [], "netblocks": ["0.0.0.0/0"], "domains": []});

    for name in ["constituent_a", "auditor"] {
        let s = login(&base, name);
        // Its own organisation's record and another's, by form and by API, with a valid
        // session and token.
        for org in [&a, &b] {
            let resp = s.post_form(&format!("/constituents/{org}/edit"), &fields, Some(&s.csrf));
            assert_eq!(resp.status(), 403, "{name} edits {org} by form");
            let token = site.token(name, "write");
            let api = Api {
                base: base.clone(),
                token,
            };
            let resp = api.json(
                reqwest::Method::PUT,
                &format!("/api/v1/constituents/{org}"),
                &json_body,
            );
            assert_eq!(resp.status(), 403, "{name} edits {org} by API");
            let mut create = json_body.clone();
            create["id"] = json!(org);
            let resp = api.json(reqwest::Method::POST, "/api/v1/constituents", &create);
            assert_eq!(resp.status(), 403, "{name} replaces {org} by API");
            let resp = api.csv(format!(
                "{HEADER}{org},Taken over,evil@attacker.example,,0.0.0.0/0,,\n"
            ));
            assert_eq!(resp.status(), 403, "{name} imports over {org}");
        }
        let resp = upload(
            &s,
            Some(&s.csrf),
            "take.csv",
            format!("{HEADER}{a},Taken over,,,0.0.0.0/0,,\n").as_bytes(),
        );
        assert_eq!(resp.status(), 403, "{name} imports by form");
        let mut new = fields.to_vec();
        new.push(("id", "intruder"));
        assert_eq!(
            s.post_form("/constituents", &new, Some(&s.csrf)).status(),
            403
        );
        // No forms are offered to them.
        let page = s.get("/constituents").text().unwrap();
        assert!(!page.contains("import-submit") && !page.contains("new-constituent"));
        let page = s.get(&format!("/constituents/{a}")).text().unwrap();
        assert!(
            !page.contains("edit-constituent"),
            "{name} sees no edit form"
        );
    }
    // A read-only token of an analyst cannot change anything either.
    let read = Api {
        base: base.clone(),
        token: site.token("analyst2", "read"),
    };
    let resp = read.json(
        reqwest::Method::PUT,
        &format!("/api/v1/constituents/{a}"),
        &json_body,
    );
    assert_eq!(resp.status(), 403);
    assert_eq!(admin.constituent(&a).unwrap(), before_a);
    assert_eq!(admin.constituent(&b).unwrap(), before_b);
    assert!(admin.constituent("intruder").is_none());
    assert!(admin.audit(&format!("constituent:{a}")).is_empty());
}

#[test]
fn the_next_ingest_assigns_events_by_an_edited_netblock() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let api = Api {
        base: base.clone(),
        token: site.token("analyst2", "write"),
    };
    let feed =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../feeds/blocklist-de.toml");
    let ingest = |name: &str, ip: &str| {
        let file = site.dir.path().join(name);
        std::fs::write(&file, format!("{ip}\n")).unwrap();
        focal(
            &site.data,
            &[
                "ingest",
                "--feed",
                feed.to_str().unwrap(),
                file.to_str().unwrap(),
            ],
        );
    };
    let owner = |ip: &str| -> Value {
        let v: Value = api
            .get(&format!("/api/v1/events?ip={ip}&limit=10"))
            .json()
            .unwrap();
        let events = v["events"].as_array().unwrap();
        assert_eq!(events.len(), 1, "one event for {ip}: {v}");
        events[0]["extra.constituent"].clone()
    };
    let target = site.org_a.clone();

    // Before the edit, an address in 100.64.77.0/24 is not the target's.
    ingest("before.txt", "100.64.77.1");
    assert_ne!(owner("100.64.77.1"), json!(target));

    // The analyst adds the netblock to the target through the edit form.
    let analyst = login(&base, "analyst2");
    let stored = api.constituent(&target).unwrap();
    let lines = |k: &str| -> String {
        stored[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let netblocks = format!("{}\n100.64.77.0/24", lines("netblocks"));
    let (asns, domains) = (lines("asns"), lines("domains"));
    let resp = analyst.post_form(
        &format!("/constituents/{target}/edit"),
        &[
            ("name", stored["name"].as_str().unwrap()),
            ("abuse_email", stored["abuse_email"].as_str().unwrap()),
            ("language", stored["language"].as_str().unwrap_or("")),
            ("asns", &asns),
            ("netblocks", &netblocks),
            ("domains", &domains),
        ],
        Some(&analyst.csrf),
    );
    assert_eq!(resp.status(), 303);
    let after = api.constituent(&target).unwrap();
    assert_eq!(after["name"], stored["name"], "the other fields are kept");
    assert_eq!(
        after["netblocks"].as_array().unwrap().last().unwrap(),
        "100.64.77.0/24"
    );

    // The next ingest puts a new address of that netblock on the target; the event stored
    // before the edit keeps the constituent it was given.
    ingest("after.txt", "100.64.77.2");
    assert_eq!(owner("100.64.77.2"), json!(target));
    assert_ne!(owner("100.64.77.1"), json!(target));
}
