//! The analyst's workbench (issue 15), over HTTP and in a real headless Chromium: error pages in
//! the application's layout and JSON errors under `/api/`, signing in back to the page that
//! asked for it (and never to another site), the events page (newest first, a count, an event's
//! own page), the audit page's filters, the incidents list's columns and severity filter, and
//! the dashboard (every day on the chart, small counts visible, names, state order, tables
//! that fit their cards on a laptop and a phone).
//! Screenshots go to `target/screenshots/`.

mod browser;
mod web;

use browser::*;
use fantoccini::Locator;
use reqwest::header::{COOKIE, LOCATION};
use serde_json::Value;
use web::*;

/// The `next` a signed-out request is sent to the login form with.
fn login_next(location: &str) -> Option<String> {
    let q = location.strip_prefix("/login?")?;
    q.split('&')
        .find_map(|kv| kv.strip_prefix("next="))
        .map(|v| {
            // Percent-decoding by hand: the value is ASCII.
            let mut out = Vec::new();
            let b = v.as_bytes();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'%' && i + 2 < b.len() {
                    out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                    i += 3;
                } else {
                    out.push(b[i]);
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        })
}

#[test]
fn errors_are_pages_in_the_layout_for_browsers_and_json_under_the_api() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let analyst = login(&base, "analyst2");
    let constituent = login(&base, "constituent_a");
    let auditor = login(&base, "auditor");

    let is_page = |resp: reqwest::blocking::Response, status: u16, heading: &str| -> String {
        assert_eq!(resp.status(), status, "{}", resp.url());
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/html"), "{ct}");
        let csp = resp
            .headers()
            .get("content-security-policy")
            .expect("error pages carry the CSP")
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("default-src"), "{csp}");
        let body = resp.text().unwrap();
        assert!(body.contains(&format!("<h1>{heading}</h1>")), "{body}");
        body
    };

    // Unknown pages and unparsable path parameters: the 404 page, with the navigation.
    for path in [
        "/no/such/page",
        "/incidents/abc",
        "/assessments/xyz",
        "/incidents/99999999",
    ] {
        for s in [&analyst, &constituent] {
            let body = is_page(s.get(path), 404, "Not found");
            assert!(
                body.contains("href=\"/incidents\""),
                "{path}: the navigation"
            );
            assert!(body.contains("id=\"error-message\""), "{path}: {body}");
            assert!(!body.contains("Cannot parse"), "{path}: {body}");
        }
    }
    // A role that may not: the 403 page, with the navigation.
    let body = is_page(constituent.get("/feeds"), 403, "Not allowed");
    assert!(body.contains("your role may not do this"), "{body}");
    assert!(body.contains("Sign out"), "{body}");
    is_page(auditor.get("/users"), 403, "Not allowed");
    // A malformed query on a page: a page naming the problem, not plain text.
    let body = is_page(
        analyst.get("/incidents?breached=perhaps"),
        400,
        "Bad request",
    );
    assert!(body.contains("breached"), "{body}");
    // A method a page does not take.
    let resp = client()
        .delete(format!("{base}/incidents"))
        .header(COOKIE, format!("focal_session={}", analyst.cookie))
        .header("x-csrf-token", &analyst.csrf)
        .send()
        .unwrap();
    is_page(resp, 405, "Method not allowed");
    // A form posted without its CSRF token: a page, not plain text.
    let body = is_page(
        analyst.post_form("/incidents/1/comment", &[("text", "x")], None),
        403,
        "Not allowed",
    );
    assert!(body.contains("CSRF"), "{body}");

    // Under /api/: JSON with the right status, whatever went wrong.
    let json_error = |resp: reqwest::blocking::Response, status: u16| -> String {
        assert_eq!(resp.status(), status, "{}", resp.url());
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("application/json"), "{ct}");
        let v: Value = resp.json().unwrap();
        v["error"].as_str().expect("an error message").to_string()
    };
    json_error(analyst.get("/api/v1/no/such/thing"), 404);
    json_error(analyst.get("/api/v1/incidents/abc"), 400);
    json_error(analyst.get("/api/v1/incidents/99999999"), 404);
    json_error(constituent.get("/api/v1/feeds"), 403);
    json_error(
        client()
            .get(format!("{base}/api/v1/incidents"))
            .send()
            .unwrap(),
        401,
    );
    let resp = client()
        .delete(format!("{base}/api/v1/incidents"))
        .header(COOKIE, format!("focal_session={}", analyst.cookie))
        .header("x-csrf-token", &analyst.csrf)
        .send()
        .unwrap();
    json_error(resp, 405);
}

#[test]
fn signing_in_returns_to_the_page_that_asked_and_never_to_another_site() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let id = focal_json(&site.data, &["incidents", "--limit", "1"])[0]["id"]
        .as_i64()
        .unwrap();

    // A signed-out page asks for a sign-in and names itself.
    let resp = client()
        .get(format!("{base}/incidents/{id}?tab=x"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 303);
    let location = resp.headers()[LOCATION].to_str().unwrap().to_string();
    assert_eq!(
        login_next(&location).as_deref(),
        Some(format!("/incidents/{id}?tab=x").as_str()),
        "{location}"
    );
    // The dashboard needs no `next`.
    let resp = client().get(format!("{base}/")).send().unwrap();
    assert_eq!(resp.headers()[LOCATION], "/login");

    // The form carries it, and signing in lands there.
    let sign_in_with_next = |next: &str| -> reqwest::blocking::Response {
        let c = client();
        let form = c
            .get(format!("{base}/login"))
            .query(&[("next", next)])
            .send()
            .unwrap();
        let (pre, _) = set_cookie(&form, "focal_login_csrf").unwrap();
        let html = form.text().unwrap();
        let csrf = csrf_in(&html).unwrap();
        c.post(format!("{base}/login"))
            .header(COOKIE, format!("focal_login_csrf={pre}"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("username", "analyst2"),
                ("password", PASSWORD),
                ("next", next),
            ])
            .send()
            .unwrap()
    };
    let resp = sign_in_with_next(&format!("/incidents/{id}"));
    assert_eq!(resp.status(), 303);
    assert_eq!(
        resp.headers()[LOCATION],
        format!("/incidents/{id}").as_str()
    );

    // Anything but a path of this site is ignored: the dashboard.
    for evil in [
        "//evil.example/",
        "/\\evil.example",
        "https://evil.example/",
        "evil.example",
        "/\r\nSet-Cookie:x=1",
        "javascript:alert(1)",
    ] {
        let resp = sign_in_with_next(evil);
        assert_eq!(resp.status(), 303, "{evil}");
        assert_eq!(resp.headers()[LOCATION], "/", "{evil}");
        // Nor is it put into the form.
        let form = client()
            .get(format!("{base}/login"))
            .query(&[("next", evil)])
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(!form.contains("name=\"next\""), "{evil}: {form}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_browser_errors_are_pages_and_a_sign_in_returns_to_the_page() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let id = focal_json(&site.data, &["incidents", "--limit", "1"])[0]["id"]
        .as_i64()
        .unwrap();
    let driver = start_driver();
    let c = browser(&driver).await;

    // Signed out, an incident's address leads to the form, and signing in to the incident.
    c.goto(&format!("{base}/incidents/{id}")).await.unwrap();
    wait_path(&c, "/login").await;
    c.find(Locator::Css("#next"))
        .await
        .expect("the form remembers the page");
    c.find(Locator::Css("#username"))
        .await
        .unwrap()
        .send_keys("analyst2")
        .await
        .unwrap();
    c.find(Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Css("#signin"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_path(&c, &format!("/incidents/{id}")).await;
    wait_text(&c, "h1", &format!("Incident {id}")).await;

    // A bad address: the 404 page in the layout, and its link leads back.
    c.goto(&format!("{base}/incidents/abc")).await.unwrap();
    wait_text(&c, "h1", "Not found").await;
    assert!(text(&c, "#error-message").await.contains("/incidents/abc"));
    c.find(Locator::Css("header nav"))
        .await
        .expect("the navigation on the error page");
    shot(&c, "error-404").await;
    c.find(Locator::Css("#error-home"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_path(&c, "/").await;
    wait_text(&c, "h1", "Dashboard").await;
    c.goto(&format!("{base}/users")).await.unwrap();
    wait_text(&c, "h1", "Not allowed").await;
    shot(&c, "error-403").await;
    c.close().await.unwrap();
}

/// The `seq`s linked from the events table of a page, in order.
fn listed_seqs(html: &str) -> Vec<i64> {
    html.split("<a class=\"event\" href=\"/events/")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().parse().unwrap())
        .collect()
}

/// The text of the element with this id (up to the next tag).
fn by_id(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let rest = &html[at..];
    let start = rest.find('>').unwrap() + 1;
    rest[start..].split('<').next().unwrap().to_string()
}

/// Every event `seq` the API lists for this session and query, oldest first.
fn all_seqs(s: &Session, query: &str) -> Vec<i64> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let v: Value = s
            .get(&format!("/api/v1/events?{query}&limit=1000&after={after}"))
            .json()
            .unwrap();
        out.extend(
            v["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_i64().unwrap()),
        );
        match v["next_after"].as_i64() {
            Some(n) => after = n,
            None => return out,
        }
    }
}

#[test]
fn the_events_page_is_newest_first_with_an_exact_count_and_a_page_per_event() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let analyst = login(&base, "analyst2");
    let constituent = login(&base, "constituent_a");
    let (a, b) = (site.org_a.clone(), site.org_b.clone());

    let first: Value = analyst
        .get(&format!("/api/v1/events?constituent={a}&limit=1"))
        .json()
        .unwrap();
    let type_ = first["events"][0]["classification.type"]
        .as_str()
        .unwrap()
        .to_string();
    for (who, query) in [
        (&analyst, format!("constituent={a}")),
        (&analyst, format!("type={type_}")),
        (&constituent, String::new()),
    ] {
        let oldest = all_seqs(who, &query);
        assert!(!oldest.is_empty(), "{query}");
        let html = who.get(&format!("/events?{query}")).text().unwrap();
        assert_eq!(
            by_id(&html, "event-count"),
            oldest.len().to_string(),
            "{query}: the count is exact"
        );
        let first = listed_seqs(&html);
        let mut newest = oldest.clone();
        newest.reverse();
        assert_eq!(
            first,
            newest[..first.len()],
            "{query}: newest first by default"
        );
        // The next page continues below the first, without a gap or an overlap.
        if oldest.len() > first.len() {
            let at = html.find("id=\"next\" href=\"").expect("a next page") + 16;
            let href = html[at..].split('"').next().unwrap().replace("&amp;", "&");
            assert!(href.contains("before="), "{href}");
            let second = listed_seqs(&who.get(&href).text().unwrap());
            assert_eq!(
                second,
                newest[first.len()..(first.len() + second.len())],
                "{href}"
            );
        }
        // The export link exports what the page shows, in its order.
        let at = html
            .find("id=\"export-json\" href=\"")
            .expect("an export link")
            + 23;
        let href = html[at..].split('"').next().unwrap().replace("&amp;", "&");
        let exported: Value = who.get(&href).json().unwrap();
        let exported: Vec<i64> = exported
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(exported[..first.len()], first[..], "{href}");
        // Oldest first on request.
        let html = who
            .get(&format!("/events?{query}&order=oldest"))
            .text()
            .unwrap();
        let listed = listed_seqs(&html);
        assert_eq!(listed, oldest[..listed.len()], "{query}");
    }

    // An event's page: every field, its constituent, run, feed and incidents, the raw record.
    let seq = *all_seqs(&analyst, &format!("constituent={a}"))
        .last()
        .unwrap();
    let html = analyst.get(&format!("/events/{seq}")).text().unwrap();
    assert!(html.contains(&format!("<h1>Event {seq}</h1>")), "{html}");
    assert!(
        html.contains(&format!("href=\"/constituents/{a}\"")),
        "the constituent is linked: {html}"
    );
    assert!(
        html.contains("id=\"event-raw\""),
        "staff see the raw record"
    );
    assert!(
        html.contains("href=\"/feeds/"),
        "the feed is linked: {html}"
    );
    assert!(
        html.contains("href=\"/feeds#run-"),
        "the run is linked: {html}"
    );
    assert!(html.contains("<code>classification.type</code>"), "{html}");
    // An event grouped into an incident links it, and that incident lists it among its events.
    let grouped = all_seqs(&analyst, &format!("constituent={a}"))
        .into_iter()
        .find_map(|seq| {
            let html = analyst.get(&format!("/events/{seq}")).text().unwrap();
            let at = html.find("<a class=\"incident\" href=\"/incidents/")?;
            let id: i64 = html[at + 37..].split('"').next()?.parse().ok()?;
            Some((seq, id))
        });
    let (_, incident) = grouped.expect("some event of org A is in an incident");
    assert_eq!(analyst.get(&format!("/incidents/{incident}")).status(), 200);

    // A constituent: its own event without the raw record; another's, or nonsense, is 404.
    let own = all_seqs(&constituent, "")[0];
    let resp = constituent.get(&format!("/events/{own}"));
    assert_eq!(resp.status(), 200);
    let html = resp.text().unwrap();
    assert!(!html.contains("id=\"event-raw\""), "{html}");
    assert!(
        !html.contains("href=\"/feeds/"),
        "no link to staff pages: {html}"
    );
    let theirs = all_seqs(&analyst, &format!("constituent={b}"))[0];
    for path in [
        format!("/events/{theirs}"),
        "/events/x".into(),
        "/events/0".into(),
    ] {
        let resp = constituent.get(&path);
        assert_eq!(resp.status(), 404, "{path}");
        assert!(!contains_id(&resp.text().unwrap(), &b), "{path}");
    }
    // A bad order is a message, not an empty list.
    let resp = analyst.get("/events?order=sideways");
    assert_eq!(resp.status(), 400);
    assert!(resp.text().unwrap().contains("order"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_browser_an_event_row_leads_to_its_page_and_on_to_its_constituent() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let driver = start_driver();
    let c = browser(&driver).await;
    sign_in(&c, &base, "analyst2").await;
    c.goto(&format!("{base}/events?constituent={}", site.org_a))
        .await
        .unwrap();
    wait_text(&c, "h1", "Events").await;
    let count = text(&c, "#event-count").await;
    assert!(count.parse::<u64>().unwrap() > 0, "{count}");
    shot(&c, "events-newest").await;
    let first = c
        .find(Locator::Css("#events tbody tr a.event"))
        .await
        .expect("a linked event");
    let seq = first.text().await.unwrap();
    first.click().await.unwrap();
    wait_path(&c, &format!("/events/{seq}")).await;
    assert_eq!(text(&c, "#event-seq").await, seq);
    c.find(Locator::Css("#event-fields"))
        .await
        .expect("the fields table");
    shot(&c, "event").await;
    c.find(Locator::Css("#event-constituent a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_path(&c, &format!("/constituents/{}", site.org_a)).await;
    c.close().await.unwrap();
}

/// The audit entry ids of an audit page, in order.
fn audit_ids(html: &str) -> Vec<i64> {
    let Some(at) = html.find("<table id=\"audit\">") else {
        panic!("no audit table: {html}")
    };
    html[at..]
        .split("<tr><td class=\"num\">")
        .skip(1)
        .map(|r| r.split('<').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn the_audit_page_is_newest_first_filtered_and_shows_changes_readably() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let analyst = login(&base, "analyst2");
    let auditor = login(&base, "auditor");
    let id = focal_json(&site.data, &["incidents", "--open", "--limit", "1"])[0]["id"]
        .as_i64()
        .unwrap();
    let resp = analyst.post_form(
        &format!("/incidents/{id}/comment"),
        &[("text", "line one\nline two")],
        Some(&analyst.csrf),
    );
    assert_eq!(resp.status(), 303);

    // Newest first: the first row is the API's last entry.
    let mut entries: Vec<Value> = Vec::new();
    loop {
        let after = entries.last().map_or(0, |e| e["id"].as_i64().unwrap());
        let page: Value = auditor
            .get(&format!("/api/v1/audit?limit=1000&after={after}"))
            .json()
            .unwrap();
        let list = page["entries"].as_array().unwrap();
        entries.extend(list.iter().cloned());
        if list.len() < 1000 {
            break;
        }
    }
    let newest = entries.last().unwrap()["id"].as_i64().unwrap();
    let html = auditor.get("/audit").text().unwrap();
    let ids = audit_ids(&html);
    assert_eq!(ids[0], newest, "newest first");
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");

    // The comment: its text with its line break, not JSON with an escaped \n.
    let html = auditor
        .get(&format!(
            "/audit?subject=incident:{id}&action=incident.comment"
        ))
        .text()
        .unwrap();
    let ids = audit_ids(&html);
    assert_eq!(ids.len(), 1, "{html}");
    assert!(html.contains("line one\nline two"), "{html}");
    assert!(!html.contains("line one\\nline two"), "{html}");
    assert!(!html.contains("{&quot;text&quot;"), "no raw JSON: {html}");

    // By actor: only that actor's entries.
    let html = auditor.get("/audit?actor=user:analyst2").text().unwrap();
    let ids = audit_ids(&html);
    let by_analyst: Vec<i64> = entries
        .iter()
        .filter(|e| e["actor"] == "user:analyst2")
        .map(|e| e["id"].as_i64().unwrap())
        .rev()
        .collect();
    assert!(!by_analyst.is_empty());
    assert_eq!(ids, by_analyst[..ids.len()], "{html}");

    // By time: an hour around now holds the comment; tomorrow and last year hold nothing.
    let now = jiff::Timestamp::now();
    let hour = jiff::SignedDuration::from_hours(1);
    let around = auditor
        .get(&format!(
            "/audit?action=incident.comment&since={}&until={}",
            now - hour,
            now + hour
        ))
        .text()
        .unwrap();
    assert_eq!(audit_ids(&around).len(), 1, "{around}");
    for q in [
        format!(
            "since={}",
            (now + jiff::SignedDuration::from_hours(24)).strftime("%Y-%m-%d")
        ),
        "until=2020-01-01".to_string(),
    ] {
        let html = auditor.get(&format!("/audit?{q}")).text().unwrap();
        assert!(audit_ids(&html).is_empty(), "{q}: {html}");
        assert!(html.contains("id=\"audit-empty\""), "{q}");
    }
    // A time that is not one is a message.
    let resp = auditor.get("/audit?since=yesterday");
    assert_eq!(resp.status(), 400);
    assert!(resp.text().unwrap().contains("since"));
    // Staff who may not read the log still may not.
    assert_eq!(analyst.get("/audit").status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_browser_an_auditor_filters_the_audit_log_by_actor() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let id = focal_json(&site.data, &["incidents", "--open", "--limit", "1"])[0]["id"]
        .as_i64()
        .unwrap();
    // The blocking client, off the test's async threads.
    let b = base.clone();
    let status = tokio::task::spawn_blocking(move || {
        let analyst = login(&b, "analyst2");
        analyst
            .post_form(
                &format!("/incidents/{id}/assign"),
                &[("assignee", "analyst2")],
                Some(&analyst.csrf),
            )
            .status()
    })
    .await
    .unwrap();
    assert_eq!(status, 303);
    let driver = start_driver();
    let c = browser(&driver).await;
    sign_in(&c, &base, "auditor").await;
    c.goto(&format!("{base}/audit")).await.unwrap();
    wait_text(&c, "h1", "Audit log").await;
    c.find(Locator::Css("#a-actor"))
        .await
        .unwrap()
        .send_keys("user:analyst2")
        .await
        .unwrap();
    c.find(Locator::Css("#audit-filter"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_query(&c, "actor=user%3Aanalyst2").await;
    let rows = c
        .find_all(Locator::Css("#audit > tbody > tr"))
        .await
        .unwrap();
    assert!(!rows.is_empty());
    for row in &rows {
        let actor = row
            .find(Locator::Css(":scope > td:nth-child(3)"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(actor, "user:analyst2");
    }
    shot(&c, "audit-filtered").await;
    c.goto(&format!("{base}/audit")).await.unwrap();
    wait_text(&c, "h1", "Audit log").await;
    shot(&c, "audit").await;
    c.close().await.unwrap();
}

/// The rows of the incidents table: (id, state class, severity class, TLP, age, due).
fn incident_rows(html: &str) -> Vec<(i64, String, String, String, String, String)> {
    let Some(at) = html.find("<table id=\"incidents\">") else {
        panic!("no incidents table: {html}")
    };
    let table = &html[at..html[at..].find("</table>").unwrap() + at];
    let after = |row: &str, marker: &str| -> String {
        let i = row
            .find(marker)
            .unwrap_or_else(|| panic!("{marker} in {row}"))
            + marker.len();
        row[i..].split(['"', '<']).next().unwrap().to_string()
    };
    table
        .split("<a class=\"incident\" href=\"/incidents/")
        .skip(1)
        .map(|row| {
            let id = row.split('"').next().unwrap().parse().unwrap();
            let due_at = row.find("<td class=\"due\">").unwrap();
            let due = row[due_at..].split("</td>").next().unwrap().to_string();
            (
                id,
                after(row, "class=\"state state-"),
                after(row, "class=\"sev sev-"),
                after(row, "class=\"tlp"),
                after(row, "class=\"nowrap age\" title=\""),
                due,
            )
        })
        .collect()
}

#[test]
fn the_incidents_list_colours_states_and_severities_and_refuses_an_unknown_severity() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let analyst = login(&base, "analyst2");
    let token = site.token("analyst2", "write");
    // Close one incident: new → false_positive → closed.
    let id = focal_json(&site.data, &["incidents", "--open", "--limit", "1"])[0]["id"]
        .as_i64()
        .unwrap();
    for state in ["false_positive", "closed"] {
        let resp = client()
            .post(format!("{base}/api/v1/incidents/{id}/transition"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"state": state, "reason": "test"}))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200, "{state}: {}", resp.text().unwrap());
    }

    // Every row has its state and severity as classes, a TLP and an age.
    let html = analyst.get("/incidents?limit=200").text().unwrap();
    let rows = incident_rows(&html);
    assert!(!rows.is_empty());
    let api: Value = analyst.get("/api/v1/incidents?limit=200").json().unwrap();
    for (i, row) in api["incidents"].as_array().unwrap().iter().zip(&rows) {
        assert_eq!(i["id"].as_i64().unwrap(), row.0);
        assert_eq!(i["state"].as_str().unwrap(), row.1);
        assert_eq!(i["severity"].as_str().unwrap(), row.2);
        assert!(!row.4.is_empty(), "an age: {row:?}");
    }
    // A closed incident has nothing due; an open one shows its due time.
    let html = analyst.get("/incidents?state=closed").text().unwrap();
    let closed = incident_rows(&html);
    let row = closed
        .iter()
        .find(|r| r.0 == id)
        .expect("the closed incident");
    assert!(row.5.contains("—") && !row.5.contains("20"), "{row:?}");
    let html = analyst.get("/incidents?state=new").text().unwrap();
    let open = incident_rows(&html);
    assert!(open.iter().all(|r| r.5.contains("20")), "{open:?}");

    // Severity is a select of the real severities, and filters.
    let html = analyst.get("/incidents").text().unwrap();
    for sev in ["low", "medium", "high", "critical"] {
        assert!(html.contains(&format!("<option value=\"{sev}\"")), "{sev}");
    }
    let severity = api["incidents"][0]["severity"]
        .as_str()
        .unwrap()
        .to_string();
    let html = analyst
        .get(&format!("/incidents?severity={severity}"))
        .text()
        .unwrap();
    let rows = incident_rows(&html);
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r.2 == severity), "{rows:?}");
    assert!(
        html.contains(&format!("<option value=\"{severity}\" selected")),
        "{html}"
    );
    // An unknown one is an error naming it, on the page and in the API.
    let resp = analyst.get("/incidents?severity=urgent");
    assert_eq!(resp.status(), 400);
    let body = resp.text().unwrap();
    assert!(
        body.contains("severity") && body.contains("urgent"),
        "{body}"
    );
    let resp = analyst.get("/api/v1/incidents?severity=urgent");
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().unwrap();
    assert!(v["error"].as_str().unwrap().contains("critical"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_browser_an_analyst_filters_incidents_by_a_severity_from_the_list() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let severity = focal_json(&site.data, &["incidents", "--limit", "1"])[0]["severity"]
        .as_str()
        .unwrap()
        .to_string();
    let driver = start_driver();
    let c = browser(&driver).await;
    sign_in(&c, &base, "analyst2").await;
    c.goto(&format!("{base}/incidents")).await.unwrap();
    wait_text(&c, "h1", "Incidents").await;
    shot(&c, "incidents-workbench").await;
    c.find(Locator::Css(&format!(
        "#f-severity option[value='{severity}']"
    )))
    .await
    .expect("the severity is offered")
    .click()
    .await
    .unwrap();
    c.find(Locator::Css("form.filters button[type='submit']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_query(&c, &format!("severity={severity}")).await;
    let cells = c
        .find_all(Locator::Css("#incidents tbody td span.sev"))
        .await
        .unwrap();
    assert!(!cells.is_empty());
    for cell in &cells {
        assert_eq!(cell.text().await.unwrap(), severity);
    }
    shot(&c, "incidents-by-severity").await;
    c.close().await.unwrap();
}

/// Every day's bar of the dashboard's chart: (day, total, drawn height in px, the total written
/// above it, the date label, the bar group's title).
async fn chart_days(c: &fantoccini::Client) -> Vec<(String, u64, f64, String, String, String)> {
    let v = c
        .execute(
            "return [...document.querySelectorAll('#events-chart g.day')].map(g => [
                g.dataset.day, Number(g.dataset.total),
                [...g.querySelectorAll('rect.bar')].reduce((a, r) => a + r.getBoundingClientRect().height, 0),
                [...g.querySelectorAll('text.total')].map(t => t.textContent).join(''),
                [...g.querySelectorAll('text.date')].map(t => t.textContent).join(''),
                g.querySelector(':scope > title').textContent])",
            vec![],
        )
        .await
        .unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d[0].as_str().unwrap().to_string(),
                d[1].as_u64().unwrap(),
                d[2].as_f64().unwrap(),
                d[3].as_str().unwrap().to_string(),
                d[4].as_str().unwrap().to_string(),
                d[5].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Cards of the dashboard whose content is wider than the card, or with a table wider than
/// the card that is not inside a scrolling box no wider than the card (or, unless `scroll`,
/// at all): (card title, what, widths).
async fn overflowing_cards(c: &fantoccini::Client, scroll: bool) -> Vec<Value> {
    let v = c
        .execute(
            "const scroll = arguments[0]; const bad = [];
             for (const card of document.querySelectorAll('main .card')) {
               const title = (card.querySelector('h2') || card).textContent.slice(0, 40);
               const box = card.getBoundingClientRect();
               if (card.scrollWidth > card.clientWidth) bad.push([title, 'card', card.scrollWidth, card.clientWidth]);
               for (const t of card.querySelectorAll('table')) {
                 const r = t.getBoundingClientRect();
                 const s0 = t.closest('.table-scroll');
                 if (!scroll && s0 && s0.scrollWidth > s0.clientWidth) bad.push([title, 'scrolls', s0.scrollWidth, s0.clientWidth]);
                 if (r.right <= box.right + 0.5) continue;
                 const s = t.closest('.table-scroll');
                 const ok = s && card.contains(s) && s.getBoundingClientRect().right <= box.right + 0.5
                   && getComputedStyle(s).overflowX === 'auto';
                 if (!ok) bad.push([title, t.id || 'table', r.width, box.width]);
               }
             }
             return bad;",
            vec![Value::Bool(scroll)],
        )
        .await
        .unwrap();
    v.as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_browser_the_dashboard_shows_every_day_small_counts_names_and_states_in_order() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let driver = start_driver();
    let c = browser(&driver).await;
    c.set_window_size(1280, 1000).await.unwrap();
    sign_in(&c, &base, "analyst2").await;
    let asked = jiff::Timestamp::now().as_second().div_euclid(86_400);
    c.goto(&format!("{base}/")).await.unwrap();
    wait_text(&c, "h1", "Dashboard").await;
    c.find(Locator::Css("#events-chart"))
        .await
        .expect("the chart");

    // One bar group, with its date label, per day of the 14 ending today (UTC), in order.
    let days = chart_days(&c).await;
    let got: Vec<&str> = days.iter().map(|d| d.0.as_str()).collect();
    // The 14 days ending on the day the page was asked for (read before and after it, in case
    // a UTC midnight fell between).
    let range = |today: i64| -> Vec<String> {
        (today - 13..=today)
            .map(|d| {
                jiff::Timestamp::from_second(d * 86_400)
                    .unwrap()
                    .strftime("%Y-%m-%d")
                    .to_string()
            })
            .collect()
    };
    assert!(
        got == range(asked) || got == range(jiff::Timestamp::now().as_second().div_euclid(86_400)),
        "the chart's days: {got:?}"
    );
    for (day, total, height, written, label, title) in &days {
        assert_eq!(label, &day[5..], "{day}: its date label");
        assert_eq!(written, &total.to_string(), "{day}: its total written");
        assert!(
            title.starts_with(&format!("{day}: {total} event")),
            "{day}: {title}"
        );
        if *total == 0 {
            assert_eq!(*height, 0.0, "{day}: no bar without events");
        } else {
            assert!(
                *height >= 2.0,
                "{day}: {total} events drawn {height} px tall"
            );
        }
    }
    // The demo's events leave days without any (they must show, as zero) and days of few
    // events beside days of many: on a plain linear scale the smallest would be under a pixel.
    assert!(
        days.iter().any(|d| d.1 == 0),
        "a day without events: {days:?}"
    );
    let max = days.iter().map(|d| d.1).max().unwrap();
    let (small_day, small, small_px) = days
        .iter()
        .filter(|d| d.1 > 0)
        .min_by_key(|d| d.1)
        .map(|d| (d.0.clone(), d.1, d.2))
        .unwrap();
    let tallest_px = days.iter().map(|d| d.2).fold(0.0, f64::max);
    assert!(
        small as f64 / max as f64 * tallest_px < 1.0,
        "a day of few events beside many: {small} of {max} on {small_day}"
    );
    assert!(
        small_px >= 2.0,
        "{small_day}: {small} events drawn {small_px} px"
    );

    // ASNs and constituents with their names, each linking to the events filtered by it.
    let asn_rows = c.find_all(Locator::Css("#top-asns tr")).await.unwrap();
    assert!(!asn_rows.is_empty());
    let first = &asn_rows[0];
    let asn = first.attr("data-key").await.unwrap().unwrap();
    let name = first
        .find(Locator::Css("a .name"))
        .await
        .expect("the AS name beside the ASN")
        .text()
        .await
        .unwrap();
    assert!(!name.trim().is_empty() && name != asn, "{asn}: {name:?}");
    let href = first
        .find(Locator::Css("a"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(href, format!("/events?asn={asn}"));
    let org = c
        .find(Locator::Css("#top-constituents tr"))
        .await
        .expect("a top constituent");
    let org_id = org.attr("data-key").await.unwrap().unwrap();
    let org_name = org
        .find(Locator::Css("a .name"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let listed = focal_json(&site.data, &["constituents", "list"]);
    let registered = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"].as_str() == Some(org_id.as_str()))
        .unwrap_or_else(|| panic!("{org_id} in {listed}"));
    assert_eq!(Some(org_name.as_str()), registered["name"].as_str());
    assert_eq!(
        org.find(Locator::Css("a"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap(),
        format!("/events?constituent={org_id}")
    );

    // Incident states in the workflow's order, each linking to the incidents in it.
    let mut states = Vec::new();
    for row in c
        .find_all(Locator::Css("#incidents-by-state tr"))
        .await
        .unwrap()
    {
        let key = row.attr("data-key").await.unwrap().unwrap();
        let href = row
            .find(Locator::Css("a"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(href, format!("/incidents?state={key}"));
        states.push(key);
    }
    let workflow: Vec<&str> = focal_incidents::State::ALL.map(|s| s.as_str()).to_vec();
    assert_eq!(&states[..workflow.len()], &workflow[..]);

    // No table wider than its card, on a laptop and on a phone.
    assert_eq!(
        overflowing_cards(&c, false).await,
        Vec::<Value>::new(),
        "at 1280 px"
    );
    shot(&c, "dashboard-1280").await;
    let lower = "document.querySelector('#top-constituents').scrollIntoView(); return 0";
    c.find(Locator::Css("#feed-health tbody tr"))
        .await
        .expect("the feed-health table, with the demo's feeds");
    c.execute(lower, vec![]).await.unwrap();
    shot(&c, "dashboard-1280-tables").await;
    c.set_window_size(390, 844).await.unwrap();
    // The narrow layout has applied once the grid is one column wide.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let w = c
            .execute("return document.documentElement.clientWidth", vec![])
            .await
            .unwrap();
        if w.as_f64().unwrap() <= 400.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the window never narrowed: {w}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        overflowing_cards(&c, true).await,
        Vec::<Value>::new(),
        "at 390 px"
    );
    shot(&c, "dashboard-390").await;
    c.execute(lower, vec![]).await.unwrap();
    shot(&c, "dashboard-390-tables").await;
    let feeds = "document.querySelector('#feed-health').scrollIntoView(); return 0";
    c.execute(feeds, vec![]).await.unwrap();
    shot(&c, "dashboard-390-feeds").await;
    c.close().await.unwrap();
}

#[test]
fn assigning_to_a_non_user_and_an_illegal_move_in_a_bulk_request_are_refused_by_name() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let analyst = login(&base, "analyst2");
    let new: Vec<i64> = focal_json(&site.data, &["incidents", "--open", "--limit", "100"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["state"] == "new")
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert!(new.len() >= 2, "two new incidents: {new:?}");
    let (x, y) = (new[0], new[1]);
    let (xs, ys) = (x.to_string(), y.to_string());
    let show = |id: i64| {
        focal_json(&site.data, &["incidents", "show", &id.to_string()])["incident"].clone()
    };

    // The assignee must be an enabled admin or analyst: not a made-up name, not an auditor.
    for name in ["nobody-such", "auditor", "constituent_a"] {
        let resp = analyst.post_form(
            &format!("/incidents/{x}/assign"),
            &[("assignee", name)],
            Some(&analyst.csrf),
        );
        assert_eq!(resp.status(), 400, "{name}");
        let body = resp.text().unwrap();
        assert!(
            body.contains("is not an enabled admin or analyst account"),
            "{name}: {body}"
        );
    }
    assert!(show(x)["assignee"].is_null(), "{}", show(x));
    // The API says the same.
    let resp = reqwest::blocking::Client::new()
        .post(format!("{base}/api/v1/incidents/{x}/assign"))
        .bearer_auth(site.token("analyst2", "write"))
        .header("content-type", "application/json")
        .body(r#"{"assignee": "nobody-such"}"#)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        resp.text()
            .unwrap()
            .contains("not an enabled admin or analyst")
    );
    // A real analyst is taken.
    let resp = analyst.post_form(
        &format!("/incidents/{x}/assign"),
        &[("assignee", "analyst2")],
        Some(&analyst.csrf),
    );
    assert_eq!(resp.status(), 303);
    assert_eq!(show(x)["assignee"], "analyst2");

    // A bulk assignment to a made-up name changes nothing and says why, per incident.
    let resp = analyst.post_form(
        "/incidents/bulk",
        &[
            ("id", &xs),
            ("id", &ys),
            ("action", "assign"),
            ("assignee", "nobody-such"),
        ],
        Some(&analyst.csrf),
    );
    assert_eq!(resp.status(), 400);
    let body = resp.text().unwrap();
    let refused = element(&body, "bulk-refused");
    assert!(
        refused.contains(&format!("#{x}")) && refused.contains(&format!("#{y}")),
        "{refused}"
    );
    assert!(refused.contains("nobody-such"), "{refused}");
    assert_eq!(show(x)["assignee"], "analyst2");

    // y moves on first; then a bulk move of both to acknowledged moves x and refuses y, by name.
    let resp = analyst.post_form(
        &format!("/incidents/{y}/transition"),
        &[("state", "acknowledged")],
        Some(&analyst.csrf),
    );
    assert_eq!(resp.status(), 303);
    let resp = analyst.post_form(
        "/incidents/bulk",
        &[
            ("id", &xs),
            ("id", &ys),
            ("action", "transition"),
            ("state", "acknowledged"),
        ],
        Some(&analyst.csrf),
    );
    assert_eq!(resp.status(), 409);
    let body = resp.text().unwrap();
    let done = element(&body, "bulk-done");
    assert!(
        done.contains(&format!("#{x}")) && !done.contains(&format!("#{y}")),
        "{done}"
    );
    let refused = element(&body, "bulk-refused");
    assert!(
        refused.contains(&format!("#{y}")) && !refused.contains(&format!("#{x}<")),
        "{refused}"
    );
    assert_eq!(show(x)["state"], "acknowledged");
    assert_eq!(show(y)["state"], "acknowledged");
    // Audited like a move on the incident's own page.
    assert!(
        audit_entries(&site.data, "incident.transition")
            .iter()
            .any(|e| e["actor"] == "user:analyst2" && e.to_string().contains(&xs)),
        "the bulk move is audited"
    );

    // Without the form's CSRF token nothing happens; more than 500 at once is refused.
    let resp = analyst.post_form(
        "/incidents/bulk",
        &[("id", &xs), ("action", "comment"), ("text", "no token")],
        None,
    );
    assert_eq!(resp.status(), 403);
    let many: Vec<String> = (1..=501).map(|i| i.to_string()).collect();
    let mut fields: Vec<(&str, &str)> = many.iter().map(|i| ("id", i.as_str())).collect();
    fields.extend([("action", "comment"), ("text", "too many")]);
    let resp = analyst.post_form("/incidents/bulk", &fields, Some(&analyst.csrf));
    assert_eq!(resp.status(), 400);
    assert!(resp.text().unwrap().contains("at most 500"));
    // Nothing selected, or an unknown action, is a message too.
    let resp = analyst.post_form(
        "/incidents/bulk",
        &[("action", "comment")],
        Some(&analyst.csrf),
    );
    assert_eq!(resp.status(), 400);
    let resp = analyst.post_form(
        "/incidents/bulk",
        &[("id", &xs), ("action", "delete")],
        Some(&analyst.csrf),
    );
    assert_eq!(resp.status(), 400);
    // An unknown severity is refused on the incident's page.
    let resp = analyst.post_form(
        &format!("/incidents/{x}/severity"),
        &[("severity", "apocalyptic")],
        Some(&analyst.csrf),
    );
    assert_eq!(resp.status(), 400);
}

/// The markup of the element with this id, up to its closing tag (no nesting of the same tag).
fn element(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let open = html[..at].rfind('<').unwrap();
    let tag: String = html[open + 1..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let end = html[at..]
        .find(&format!("</{tag}>"))
        .unwrap_or_else(|| panic!("#{id} is not closed"));
    html[open..at + end].to_string()
}
