//! The web UI end to end in a real headless Chromium (Debian's `chromium`, driven through
//! `chromedriver` with fantoccini): sign in, search events, open an incident, move it, correct a
//! constituent's abuse address in its edit form, pull a feed from its page, sign out; a
//! constituent who cannot reach another organisation's incident by URL; an admin disabling and
//! enabling an account, and a user changing their own password. Screenshots of the main
//! pages go to `target/screenshots/` (not committed).
//!
//! Needs `chromium` and `chromium-driver` (Debian packages; `.ci/run` installs them). The test
//! fails, never skips, when they are missing.

mod browser;
mod web;

use browser::*;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use std::time::Duration;
use web::*;

async fn sign_out(c: &Client, base: &str) {
    c.find(Locator::Css("#logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_path(c, "/login").await;
    c.goto(&format!("{base}/incidents")).await.unwrap();
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/login",
        "signed out: pages send you to the login form"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_works_an_incident_and_a_constituent_cannot_reach_another_organisation() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let incidents = |org: &str| -> Vec<Value> {
        focal_json(
            &site.data,
            &["incidents", "--constituent", org, "--open", "--limit", "10"],
        )
        .as_array()
        .unwrap()
        .clone()
    };
    let open = incidents(&site.org_a);
    let id_a = open.first().expect("an open incident of org A")["id"]
        .as_i64()
        .unwrap();
    let id_b = focal_json(
        &site.data,
        &["incidents", "--constituent", &site.org_b, "--limit", "1"],
    )[0]["id"]
        .as_i64()
        .unwrap();

    let driver = start_driver();
    let c = browser(&driver).await;

    // An analyst signs in and sees the dashboard with its chart.
    sign_in(&c, &base, "analyst2").await;
    assert_eq!(text(&c, "h1").await, "Dashboard");
    c.find(Locator::Css("svg.chart"))
        .await
        .expect("the events-per-day chart");
    shot(&c, "dashboard").await;

    // Event search by constituent: every row is that constituent's.
    c.goto(&format!("{base}/events")).await.unwrap();
    c.find(Locator::Css("#f-constituent"))
        .await
        .unwrap()
        .send_keys(&site.org_a)
        .await
        .unwrap();
    c.find(Locator::Css("#search"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_query(&c, &format!("constituent={}", site.org_a)).await;
    wait_text(&c, "h1", "Events").await;
    let rows = c.find_all(Locator::Css("#events tbody tr")).await.unwrap();
    assert!(!rows.is_empty(), "org A has events");
    for row in &rows {
        let cells = row.find_all(Locator::Css("td")).await.unwrap();
        assert_eq!(cells[6].text().await.unwrap(), site.org_a);
    }
    shot(&c, "events").await;

    // Open an incident from the list and move it to the first state offered.
    c.goto(&format!("{base}/incidents?constituent={}", site.org_a))
        .await
        .unwrap();
    shot(&c, "incidents").await;
    c.find(Locator::LinkText(&id_a.to_string()))
        .await
        .expect("the incident in the list")
        .click()
        .await
        .unwrap();
    wait_path(&c, &format!("/incidents/{id_a}")).await;
    let before = text(&c, "#state").await;
    assert_eq!(before, open[0]["state"].as_str().unwrap());
    let button = c
        .find(Locator::Css("form.inline button[id^='to-']"))
        .await
        .expect("a transition button");
    let target = button.text().await.unwrap();
    button.click().await.unwrap();
    wait_text(&c, "#state", &target).await;
    assert_eq!(text(&c, "#state").await, target);
    // The timeline reads as sentences, not stored JSON.
    let timeline = text(&c, "#timeline").await;
    assert!(
        timeline.contains(&format!("user:analyst2 moved it from {before} to {target}")),
        "{timeline}"
    );
    assert!(!timeline.contains("{\""), "{timeline}");
    c.find(Locator::Css("#comment"))
        .await
        .unwrap()
        .send_keys("Called the constituent <script>alert(1)</script>")
        .await
        .unwrap();
    c.find(Locator::Css("#add-comment"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The comment is shown as text, never run.
    wait_text(&c, "#timeline", "<script>alert(1)</script>").await;
    assert!(c.find(Locator::Css("#timeline script")).await.is_err());
    // Without "Reply" ticked it is an internal note, marked as such.
    let note = text(&c, "#timeline li.tl-comment").await;
    assert!(
        note.contains("user:analyst2 wrote an internal note (staff only)"),
        "{note}"
    );
    shot(&c, "incident").await;
    let stored = focal_json(&site.data, &["incidents", "show", &id_a.to_string()]);
    assert_eq!(stored["incident"]["state"], target.as_str(), "{stored}");

    for (page, name) in [
        ("/constituents", "constituents"),
        (
            &format!("/constituents/{}", site.org_a) as &str,
            "constituent",
        ),
        ("/feeds", "feeds"),
        ("/incidents", "incidents-all"),
    ] {
        c.goto(&format!("{base}{page}")).await.unwrap();
        shot(&c, name).await;
    }

    // The analyst corrects org A's abuse address in the edit form and sees it saved.
    let new_address = "soc-desk@org-a.example";
    c.goto(&format!("{base}/constituents/{}", site.org_a))
        .await
        .unwrap();
    let field = c
        .find(Locator::Css("#edit-constituent #c-abuse_email"))
        .await
        .expect("the edit form's abuse e-mail field");
    field.clear().await.unwrap();
    field.send_keys(new_address).await.unwrap();
    // And adds two further recipients, one per line.
    let also = c
        .find(Locator::Css("#edit-constituent #c-also_notify"))
        .await
        .expect("the edit form's also-notify field");
    also.clear().await.unwrap();
    also.send_keys("noc@org-a.example\ncert@org-a.example")
        .await
        .unwrap();
    c.find(Locator::Css("#save"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&c, "#saved", "Changes saved.").await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        format!("/constituents/{}", site.org_a)
    );
    assert_eq!(text(&c, "#abuse-email").await, new_address);
    assert_eq!(
        text(&c, "#also-notify").await,
        "noc@org-a.example, cert@org-a.example"
    );
    shot(&c, "constituent-edited").await;
    let stored = focal_json(&site.data, &["constituents", "list"]);
    let org_a = stored
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == site.org_a.as_str())
        .expect("org A is listed");
    assert_eq!(org_a["abuse_email"], new_address, "{org_a}");
    assert_eq!(
        org_a["also_notify"],
        serde_json::json!(["noc@org-a.example", "cert@org-a.example"]),
        "{org_a}"
    );

    // A registered feed's page, and "Pull now": the scheduler pulls it as the analyst asked.
    c.goto(&format!("{base}/feeds")).await.unwrap();
    c.find(Locator::LinkText("spamhaus-drop"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_path(&c, "/feeds/spamhaus-drop").await;
    c.find(Locator::Css("#pull-now"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&c, "#requested", "handed to the scheduler").await;
    let mut pulled = false;
    for _ in 0..600 {
        c.goto(&format!("{base}/feeds/spamhaus-drop"))
            .await
            .unwrap();
        if text(&c, "#pulls").await.contains("web:analyst2") {
            pulled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(pulled, "the pull asked for in the browser was made");
    shot(&c, "feed").await;
    sign_out(&c, &base).await;

    // An auditor sees the audit log, with the analyst's transition in it.
    sign_in(&c, &base, "auditor").await;
    c.goto(&format!("{base}/audit?after=0")).await.unwrap();
    shot(&c, "audit").await;
    sign_out(&c, &base).await;

    // A constituent sees its own incident but not another organisation's, even by URL.
    sign_in(&c, &base, "constituent_a").await;
    c.goto(&format!("{base}/incidents/{id_a}")).await.unwrap();
    assert_eq!(text(&c, "#state").await, target);
    c.goto(&format!("{base}/incidents/{id_b}")).await.unwrap();
    let source = c.source().await.unwrap();
    assert!(source.contains("there is no such incident"), "{source}");
    assert!(!contains_id(&source, &site.org_b));
    shot(&c, "constituent-denied").await;
    sign_out(&c, &base).await;

    c.close().await.unwrap();
}

async fn fill(c: &Client, css: &str, value: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .send_keys(value)
        .await
        .unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_disables_an_account_and_a_user_changes_their_own_password() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let driver = start_driver();
    let c = browser(&driver).await;

    // The admin finds the analyst among the users and disables the account.
    sign_in(&c, &base, "admin2").await;
    c.goto(&format!("{base}/users")).await.unwrap();
    shot(&c, "users").await;
    c.find(Locator::LinkText("analyst2"))
        .await
        .expect("the analyst in the list")
        .click()
        .await
        .unwrap();
    wait_path(&c, "/users/analyst2").await;
    assert_eq!(text(&c, "#state").await, "enabled");
    click(&c, "#disable").await;
    wait_text(&c, "#state", "disabled").await;
    assert!(text(&c, "#done").await.contains("sessions ended"));
    shot(&c, "user-disabled").await;
    let listed = focal_json(&site.data, &["users", "list"]);
    let analyst = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "analyst2")
        .unwrap()
        .clone();
    assert_eq!(analyst["disabled"], true);
    // A disabled account cannot sign in; enabled again, it can.
    sign_out(&c, &base).await;
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(&c, "#username", "analyst2").await;
    fill(&c, "#password", PASSWORD).await;
    click(&c, "#signin").await;
    wait_text(&c, "p.error", "Wrong name or password").await;
    focal(&site.data, &["users", "enable", "analyst2"]);

    // The analyst changes their own password on the account page.
    sign_in(&c, &base, "analyst2").await;
    c.find(Locator::LinkText("Your account"))
        .await
        .expect("the account link in the navigation")
        .click()
        .await
        .unwrap();
    wait_path(&c, "/account").await;
    assert!(text(&c, "#sessions").await.contains("this session"));
    // Only admins see the users page.
    assert!(c.find(Locator::LinkText("Users")).await.is_err());
    shot(&c, "account").await;
    fill(&c, "#password input[name=current]", PASSWORD).await;
    fill(&c, "#password input[name=new]", "a fresh password").await;
    fill(&c, "#password input[name=confirm]", "a fresh password").await;
    click(&c, "#password button").await;
    wait_text(&c, "#done", "password was changed").await;
    sign_out(&c, &base).await;
    sign_in_with(&c, &base, "analyst2", "a fresh password").await;
    assert_eq!(text(&c, "h1").await, "Dashboard");
    sign_out(&c, &base).await;

    c.close().await.unwrap();
}

/// Reads a table of the page as (first cell, number in the second) rows.
async fn count_table(c: &Client, css: &str) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    for row in c
        .find_all(Locator::Css(&format!("{css} tbody tr")))
        .await
        .unwrap()
    {
        let cells = row.find_all(Locator::Css("td")).await.unwrap();
        let key = cells[0].text().await.unwrap();
        let n = cells[1].text().await.unwrap();
        out.insert(key, n.parse().unwrap_or_else(|_| panic!("{css}: {n:?}")));
    }
    out
}

/// Replaces the value of a form field.
async fn refill(c: &Client, css: &str, value: &str) {
    let e = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

/// What a TAXII reader named `user` gets from the collection, every version, by STIX type
/// (paging with `next`, as a client does).
fn taxii_counts(
    base: &str,
    user: &str,
    password: &str,
    collection: &str,
) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    let mut next: Option<String> = None;
    loop {
        let mut url = format!(
            "{base}/taxii2/root/collections/{collection}/objects/?match[version]=all&limit=1000"
        );
        if let Some(n) = &next {
            url.push_str(&format!("&next={n}"));
        }
        let resp = client()
            .get(&url)
            .basic_auth(user, Some(password))
            .header("accept", "application/taxii+json;version=2.1")
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200, "{url}");
        let page: Value = resp.json().unwrap();
        for o in page["objects"].as_array().into_iter().flatten() {
            *out.entry(o["type"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        if page["more"] != true {
            return out;
        }
        next = Some(page["next"].as_str().expect("next with more").to_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_edits_pauses_a_peer_sets_its_policy_and_previews_what_it_receives() {
    let site = Site::new();
    // Something to share: STIX objects made from 300 of the demo's events (TLP:AMBER feed data,
    // with TLP:CLEAR malware families and the node's identity).
    focal(&site.data, &["share", "publish", "--limit", "300"]);
    // The peer's own account here, so what it reads over TAXII can be compared with the preview.
    focal(
        &site.data,
        &[
            "users",
            "add",
            "cert-x",
            "--role",
            "peer",
            "--password",
            PASSWORD,
        ],
    );
    focal(
        &site.data,
        &[
            "users",
            "grant",
            "cert-x",
            "--collection",
            "shared",
            "--read",
        ],
    );
    let collection = focal_json(&site.data, &["share", "api-roots"])[0]["collections"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Objects received from the peer earlier: one under TLP:GREEN, one under a marking this
    // node cannot read (so held as TLP:RED).
    let bundle = site.dir.path().join("from-cert-x.json");
    let indicator = |id: &str, value: &str, marking: &str| {
        json!({"type": "indicator", "spec_version": "2.1", "id": id,
            "created": "2026-11-01T10:00:00.000Z", "modified": "2026-11-01T10:00:00.000Z",
            "name": format!("bad host {value}"), "pattern_type": "stix",
            "pattern": format!("[ipv4-addr:value = '{value}']"),
            "valid_from": "2026-11-01T10:00:00Z", "object_marking_refs": [marking]})
    };
    std::fs::write(
        &bundle,
        json!({"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": [
            indicator("indicator--0b4c1a67-6f3b-4c55-8a4b-3d8f0b2a9c11", "198.51.100.7",
                "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"),
            indicator("indicator--6a1f7c1e-2b52-4f0e-9a55-0d3c2f4e8b22", "198.51.100.8",
                "marking-definition--3a1c2d7e-9b4f-4c60-8e5d-1f2a3b4c5d6e"),
        ]})
        .to_string(),
    )
    .unwrap();
    focal(
        &site.data,
        &[
            "share",
            "import",
            bundle.to_str().unwrap(),
            "--peer",
            "cert-x",
        ],
    );
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let driver = start_driver();
    let c = browser(&driver).await;

    // The admin adds the peer from the sharing page in the navigation.
    sign_in(&c, &base, "admin2").await;
    click(&c, "header nav a[href='/sharing']").await;
    wait_path(&c, "/sharing").await;
    c.find(Locator::Css("#no-peers"))
        .await
        .expect("no peer yet");
    click(&c, "#add-peer summary").await;
    fill(&c, "#peer-name", "cert-x").await;
    fill(&c, "#peer-url", "http://127.0.0.1:9/taxii2/root/").await;
    fill(
        &c,
        "#peer-collection",
        "9b2c6e44-0c1a-4c1f-8f55-5e0b7d3c2a10",
    )
    .await;
    click(&c, "#peer-push").await;
    shot(&c, "sharing-add-peer").await;
    click(&c, "#peer-add").await;
    wait_path(&c, "/sharing/peers/cert-x").await;
    assert!(text(&c, "#saved").await.contains("Peer added"));
    assert_eq!(text(&c, "#peer-direction").await, "pull and push");
    assert_eq!(text(&c, "#peer-state").await, "syncing");

    // It edits the peer: push only, another URL.
    click(&c, "#edit-peer summary").await;
    refill(&c, "#peer-url", "http://127.0.0.1:9/taxii2/cert/").await;
    click(&c, "#peer-pull").await;
    click(&c, "#peer-save").await;
    wait_text(&c, "#saved", "Peer saved").await;
    assert_eq!(text(&c, "#peer-direction").await, "push");
    let peers = focal_json(&site.data, &["peers", "list"]);
    assert_eq!(peers[0]["api_root"], "http://127.0.0.1:9/taxii2/cert/");
    assert_eq!(
        (peers[0]["pull"].clone(), peers[0]["push"].clone()),
        (json!(false), json!(true))
    );

    // It pauses the peer: sync leaves it alone until it is resumed.
    click(&c, "#peer-pause").await;
    wait_text(&c, "#saved", "Peer paused").await;
    assert!(text(&c, "#peer-state").await.starts_with("paused"));
    let sync = std::process::Command::new(env!("CARGO_BIN_EXE_focal"))
        .arg("--data")
        .arg(&site.data)
        .args(["peers", "sync", "cert-x"])
        .output()
        .unwrap();
    assert!(!sync.status.success());
    assert!(String::from_utf8_lossy(&sync.stderr).contains("paused"));
    shot(&c, "sharing-peer-paused").await;

    // Resumed, a sync to the (unreachable) peer fails, and the page shows the error.
    click(&c, "#peer-resume").await;
    wait_text(&c, "#saved", "Peer resumed").await;
    let sync = std::process::Command::new(env!("CARGO_BIN_EXE_focal"))
        .arg("--data")
        .arg(&site.data)
        .args(["peers", "sync", "cert-x"])
        .output()
        .unwrap();
    assert!(!sync.status.success(), "nothing listens on port 9");
    c.refresh().await.unwrap();
    let error = text(&c, "#peer-last-error").await;
    assert!(error.contains("127.0.0.1:9"), "{error}");
    assert_ne!(text(&c, "#peer-last-sync").await, "never");

    // The default policy (TLP:GREEN) lets out only the TLP:CLEAR objects of the AMBER feed data.
    click(&c, "#preview-link").await;
    wait_path(&c, "/sharing/peers/cert-x/preview").await;
    let green = count_table(&c, "#by-tlp").await;
    assert!(!green.contains_key("AMBER"), "{green:?}");
    assert!(green.get("CLEAR").copied().unwrap_or(0) > 0, "{green:?}");

    // It sets the peer's policy to TLP:AMBER on the peer's page.
    c.goto(&format!("{base}/sharing/peers/cert-x"))
        .await
        .unwrap();
    click(&c, "#edit-policy summary").await;
    click(&c, "#policy-max-tlp option[value='AMBER']").await;
    click(&c, "#policy-save").await;
    wait_text(&c, "#saved", "Policy saved").await;
    assert_eq!(
        text(&c, "#peer-policy tbody td").await,
        "TLP:AMBER",
        "the policy as saved"
    );
    let changes = audit_entries(&site.data, "sharing.policy");
    let last = changes.last().expect("the policy change audited");
    assert_eq!(
        (last["subject"].as_str(), last["after"]["max_tlp"].as_str()),
        (Some("policy:cert-x"), Some("AMBER"))
    );
    shot(&c, "sharing-peer").await;

    // The preview now counts what the peer would receive; it is what the peer reads over TAXII.
    click(&c, "#preview-link").await;
    wait_path(&c, "/sharing/peers/cert-x/preview").await;
    let by_type = count_table(&c, "#by-type").await;
    let by_tlp = count_table(&c, "#by-tlp").await;
    let released: u64 = text(&c, "#preview-released").await.parse().unwrap();
    assert_eq!(by_type.values().sum::<u64>(), released);
    assert_eq!(by_tlp.values().sum::<u64>(), released);
    assert!(by_tlp.get("AMBER").copied().unwrap_or(0) > 0, "{by_tlp:?}");
    assert_eq!(by_type.get("indicator"), Some(&300), "{by_type:?}");
    let (b, coll) = (base.clone(), collection.clone());
    let read = tokio::task::spawn_blocking(move || taxii_counts(&b, "cert-x", PASSWORD, &coll))
        .await
        .unwrap();
    // What came from cert-x is never sent back to it, and it reads that over TAXII: leave its
    // two indicators out of the comparison (one is held as RED and not served anyway).
    let mut read_local = read.clone();
    *read_local.get_mut("indicator").unwrap() -= 1;
    assert_eq!(by_type, read_local, "preview {by_type:?}, TAXII {read:?}");
    // The API answers the same preview.
    let token = site.token("admin2", "read");
    let b = base.clone();
    let api: Value = tokio::task::spawn_blocking(move || {
        client()
            .get(format!("{b}/api/v1/sharing/peers/cert-x/preview"))
            .bearer_auth(token)
            .send()
            .unwrap()
            .json()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(api["released"], json!(released));
    assert_eq!(api["by_type"], json!(by_type));
    let rows = c
        .find_all(Locator::Css("#preview-first tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 25);
    shot(&c, "sharing-preview").await;

    // The received objects, with where they came from and their markings as received.
    c.goto(&format!("{base}/sharing/received")).await.unwrap();
    let received = text(&c, "#received").await;
    assert!(received.contains("cert-x"), "{received}");
    assert!(received.contains("TLP:GREEN"), "{received}");
    assert!(
        received
            .contains("marking-definition--3a1c2d7e-9b4f-4c60-8e5d-1f2a3b4c5d6e (not understood)")
            && received.contains("TLP:RED"),
        "{received}"
    );
    shot(&c, "sharing-received").await;

    // Every change was audited, by the admin, with the CLI's actions.
    for action in [
        "peer.add",
        "peer.update",
        "peer.pause",
        "peer.resume",
        "sharing.policy",
    ] {
        let entries = audit_entries(&site.data, action);
        assert!(
            entries.iter().any(|e| e["actor"] == "user:admin2"
                && e["subject"].as_str().unwrap().ends_with("cert-x")),
            "{action}: {entries:?}"
        );
    }
    sign_out(&c, &base).await;

    // An analyst sees the sharing state but no form to change it; a constituent sees nothing.
    sign_in(&c, &base, "analyst2").await;
    c.goto(&format!("{base}/sharing")).await.unwrap();
    assert!(text(&c, "#peers").await.contains("cert-x"));
    assert!(text(&c, "#policies").await.contains("TLP:AMBER"));
    shot(&c, "sharing-analyst").await;
    assert!(c.find(Locator::Css("#add-peer")).await.is_err());
    assert!(c.find(Locator::Css("#set-policy")).await.is_err());
    c.goto(&format!("{base}/sharing/peers/cert-x"))
        .await
        .unwrap();
    assert!(c.find(Locator::Css("#peer-pause")).await.is_err());
    assert!(c.find(Locator::Css("#edit-peer")).await.is_err());
    sign_out(&c, &base).await;
    sign_in(&c, &base, "constituent_a").await;
    assert!(c.find(Locator::LinkText("Sharing")).await.is_err());
    c.goto(&format!("{base}/sharing")).await.unwrap();
    assert!(!c.source().await.unwrap().contains("cert-x"));
    c.goto(&base).await.unwrap();
    sign_out(&c, &base).await;

    c.close().await.unwrap();
}

/// The advisory form on `/advisories` (opened from its summary), filled and saved; returns the
/// new advisory's id from the page it lands on.
async fn write_advisory(c: &Client, base: &str, title: &str, tlp: &str) -> String {
    c.goto(&format!("{base}/advisories")).await.unwrap();
    click(c, "#new-advisory summary").await;
    fill(c, "#adv-title", title).await;
    fill(
        c,
        "#adv-summary",
        "Written in the browser test: <b>not markup</b>.",
    )
    .await;
    click(c, &format!("#adv-tlp option[value='{tlp}']")).await;
    fill(
        c,
        "#adv-references",
        "https://vendor.example/sa-7 Vendor advisory",
    )
    .await;
    shot(c, "advisory-form").await;
    click(c, "#adv-create").await;
    wait_text(c, "#saved", "Draft saved").await;
    let path = c.current_url().await.unwrap().path().to_string();
    let id = path
        .strip_prefix("/advisories/")
        .unwrap_or_else(|| panic!("landed on {path}"))
        .to_string();
    assert_eq!(text(c, "#adv-title-shown").await, title);
    assert_eq!(text(c, "#adv-state").await, "draft");
    assert!(
        c.source()
            .await
            .unwrap()
            .contains("&lt;b&gt;not markup&lt;/b&gt;"),
        "the summary is escaped"
    );
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_writes_an_admin_publishes_and_only_the_clear_advisory_goes_public_and_the_library_is_searched()
 {
    let site = Site::new();
    // A small library file of its own, imported with the CLI, so the search below finds what
    // this test put there and nothing the demo shipped.
    let fixture = site.dir.path().join("fixture-library.json");
    std::fs::write(
        &fixture,
        json!({"format": "focal-policy-library", "version": 1, "entities": [
            {"id": "fixture-org", "name": "Fixture Organisation", "kind": "organisation",
             "last_updated": "2026-11",
             "legislation": {"resolutions": [
                {"id": "zephyrine", "title": "Zephyrine protocol on resilient networks",
                 "symbol": "FX/RES/2024/7", "type": "resolution", "bodies": ["Fixture Assembly"],
                 "date": "2024-05-02", "summary": ["Members keep their networks resilient."],
                 "topics": ["resilience"]}]},
             "cooperation": {"meetings": [
                {"id": "zephyrine-meeting", "title": "Zephyrine review meeting",
                 "type": "meeting", "bodies": ["Fixture Assembly"], "date": "2025-03"}]}}]})
        .to_string(),
    )
    .unwrap();
    focal(
        &site.data,
        &["library", "import", fixture.to_str().unwrap()],
    );
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let driver = start_driver();
    let c = browser(&driver).await;
    let (clear_title, amber_title) = (
        "Sandbox escape in Widgetron 4 (browser test)",
        "Widgetron exposure details for partners (browser test)",
    );

    // An analyst writes both advisories from the Advisories page in the navigation and sends
    // them for review; publishing their own is refused (four eyes).
    sign_in(&c, &base, "analyst2").await;
    click(&c, "header nav a[href='/advisories']").await;
    wait_path(&c, "/advisories").await;
    let clear = write_advisory(&c, &base, clear_title, "CLEAR").await;
    shot(&c, "advisory-draft").await;
    click(&c, "#adv-submit").await;
    wait_text(&c, "#saved", "Submitted for review").await;
    assert_eq!(text(&c, "#adv-state").await, "in_review");
    click(&c, "#adv-publish").await;
    wait_text(&c, "#refused", "someone other than the author").await;
    let amber = write_advisory(&c, &base, amber_title, "AMBER").await;
    click(&c, "#adv-submit").await;
    wait_text(&c, "#saved", "Submitted for review").await;
    c.goto(&format!("{base}/advisories")).await.unwrap();
    let list = text(&c, "#advisories").await;
    assert!(
        list.contains(&clear) && list.contains(&amber) && list.contains("in_review"),
        "{list}"
    );
    shot(&c, "advisories-list").await;
    sign_out(&c, &base).await;

    // An admin publishes both.
    sign_in(&c, &base, "admin2").await;
    for id in [&clear, &amber] {
        c.goto(&format!("{base}/advisories/{id}")).await.unwrap();
        click(&c, "#adv-publish").await;
        wait_text(&c, "#saved", "Published").await;
        assert_eq!(text(&c, "#adv-state").await, "published");
        let history = text(&c, "#revisions").await;
        assert!(
            history.contains("Initial version") && history.contains("user:admin2"),
            "{history}"
        );
    }
    c.goto(&format!("{base}/advisories/{clear}")).await.unwrap();
    shot(&c, "advisory-published").await;
    sign_out(&c, &base).await;

    // The public feed and pages carry the TLP:CLEAR advisory and not the TLP:AMBER one.
    let (b, cl, am) = (base.clone(), clear.clone(), amber.clone());
    let (feed, clear_page, amber_page) = tokio::task::spawn_blocking(move || {
        let http = client();
        let feed = http
            .get(format!("{b}/public/advisories.atom"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        let page = |id: &str| {
            let r = http
                .get(format!("{b}/public/advisories/{id}"))
                .send()
                .unwrap();
            (r.status().as_u16(), r.text().unwrap())
        };
        (feed, page(&cl), page(&am))
    })
    .await
    .unwrap();
    assert!(
        feed.contains(clear_title) && feed.contains(&clear),
        "{feed}"
    );
    assert!(
        !feed.contains(amber_title) && !feed.contains(&amber),
        "{feed}"
    );
    assert_eq!(clear_page.0, 200);
    assert!(clear_page.1.contains(clear_title));
    assert_eq!(amber_page.0, 404);
    assert!(!amber_page.1.contains(amber_title));

    // A constituent (cleared up to TLP:GREEN by default) reads the CLEAR advisory only, and
    // searches the library: the imported document is found, narrowed by a facet, and opened.
    sign_in(&c, &base, "constituent_a").await;
    c.goto(&format!("{base}/advisories")).await.unwrap();
    let list = text(&c, "#advisories").await;
    assert!(list.contains(&clear) && !list.contains(&amber), "{list}");
    c.goto(&format!("{base}/advisories/{amber}")).await.unwrap();
    assert!(!c.source().await.unwrap().contains(amber_title));
    click(&c, "header nav a[href='/library']").await;
    wait_path(&c, "/library").await;
    fill(&c, "#library-q", "zephyrine").await;
    click(&c, "#library-go").await;
    let hits = wait_text(&c, "#library-hits", "Zephyrine protocol").await;
    assert!(hits.contains("Zephyrine review meeting"), "{hits}");
    assert_eq!(text(&c, "#library-total").await, "2 matches");
    shot(&c, "library-search").await;
    // The type facet narrows to the resolution.
    click(&c, "#facet-type a[href*='type=resolution']").await;
    wait_text(&c, "#library-total", "1 matches").await;
    let hits = text(&c, "#library-hits").await;
    assert!(
        hits.contains("Zephyrine protocol") && !hits.contains("review meeting"),
        "{hits}"
    );
    // By symbol, and then the document's page.
    c.goto(&format!("{base}/library?q=FX%2FRES%2F2024%2F7"))
        .await
        .unwrap();
    click(&c, "#library-hits a[href='/library/fixture-org/zephyrine']").await;
    wait_path(&c, "/library/fixture-org/zephyrine").await;
    assert_eq!(text(&c, "#item-symbol").await, "FX/RES/2024/7");
    assert!(text(&c, "#item-summary").await.contains("resilient"));
    shot(&c, "library-item").await;
    sign_out(&c, &base).await;
    c.close().await.unwrap();
}

/// The stored incident, as `focal incidents show` prints it.
fn stored_incident(site: &Site, id: i64) -> Value {
    focal_json(&site.data, &["incidents", "show", &id.to_string()])["incident"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_bulk_assigns_and_moves_incidents_and_sets_a_severity_a_constituent_cannot() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let new: Vec<i64> = focal_json(&site.data, &["incidents", "--open", "--limit", "1000"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["state"] == "new")
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert!(new.len() >= 2, "two new incidents: {new:?}");
    let (x, y) = (new[0], new[1]);

    let driver = start_driver();
    let c = browser(&driver).await;
    sign_in(&c, &base, "analyst2").await;

    // Tick two rows, pick admin2 from the staff accounts, and assign both at once.
    c.goto(&format!("{base}/incidents?state=new&limit=1000"))
        .await
        .unwrap();
    wait_text(&c, "h1", "Incidents").await;
    let offered: Vec<String> = {
        let mut v = Vec::new();
        for o in c
            .find_all(Locator::Css("#bulk-assignee option"))
            .await
            .unwrap()
        {
            v.push(o.attr("value").await.unwrap().unwrap_or_default());
        }
        v
    };
    // The enabled admins and analysts, and nobody else (no auditor, constituent or peer).
    assert_eq!(offered.first().map(String::as_str), Some(""), "{offered:?}");
    for staff in ["admin2", "analyst2"] {
        assert!(offered.iter().any(|o| o == staff), "{staff}: {offered:?}");
    }
    for other in ["auditor", "constituent_a", "constituent_b", "peer"] {
        assert!(!offered.iter().any(|o| o == other), "{other}: {offered:?}");
    }
    click(&c, &format!("#sel-{x}")).await;
    click(&c, &format!("#sel-{y}")).await;
    click(&c, "#bulk-assign").await;
    click(&c, "#bulk-assignee option[value='admin2']").await;
    shot(&c, "incidents-bulk-selected").await;
    click(&c, "#bulk-apply").await;
    let done = wait_text(&c, "#bulk-done", "assigned to admin2").await;
    assert!(done.starts_with("2 incidents assigned to admin2"), "{done}");
    shot(&c, "incidents-bulk-assigned").await;
    for id in [x, y] {
        assert_eq!(stored_incident(&site, id)["assignee"], "admin2", "{id}");
    }

    // Then move both to acknowledged at once.
    c.goto(&format!("{base}/incidents?state=new&limit=1000"))
        .await
        .unwrap();
    wait_text(&c, "h1", "Incidents").await;
    click(&c, &format!("#sel-{x}")).await;
    click(&c, &format!("#sel-{y}")).await;
    click(&c, "#bulk-transition").await;
    click(&c, "#bulk-state option[value='acknowledged']").await;
    click(&c, "#bulk-apply").await;
    let done = wait_text(&c, "#bulk-done", "moved to acknowledged").await;
    assert!(
        done.starts_with("2 incidents moved to acknowledged"),
        "{done}"
    );
    for id in [x, y] {
        let i = stored_incident(&site, id);
        assert_eq!(i["state"], "acknowledged", "{id}: {i}");
    }
    // The same timeline as a move on the incident's own page.
    let timeline =
        focal_json(&site.data, &["incidents", "show", &x.to_string()])["timeline"].to_string();
    assert!(timeline.contains("user:analyst2"), "{timeline}");

    // The severity, on the incident's page: the SLA due time follows.
    c.goto(&format!("{base}/incidents/{x}")).await.unwrap();
    wait_path(&c, &format!("/incidents/{x}")).await;
    let before = stored_incident(&site, x);
    let was = before["severity"].as_str().unwrap().to_string();
    let to = if was == "critical" { "low" } else { "critical" };
    let due_before = text(&c, "#due").await;
    click(&c, &format!("#severity-pick option[value='{to}']")).await;
    click(&c, "#set-severity").await;
    wait_text(&c, "#severity", to).await;
    let after = stored_incident(&site, x);
    assert_eq!(after["severity"], to, "{after}");
    assert_ne!(after["due_at"], before["due_at"], "the due time follows");
    let due_after = text(&c, "#due").await;
    assert_ne!(due_after, due_before);
    let due_at: jiff::Timestamp = after["due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        due_after,
        format!("{} UTC", due_at.strftime("%Y-%m-%d %H:%M:%S"))
    );
    let timeline = text(&c, "#timeline").await;
    assert!(
        timeline.contains(&format!(
            "user:analyst2 changed the severity from {was} to {to}"
        )),
        "{timeline}"
    );
    assert!(
        audit_entries(&site.data, "incident.severity")
            .iter()
            .any(|e| e["actor"] == "user:analyst2"),
        "the severity change is audited with the analyst as actor"
    );
    shot(&c, "incident-severity").await;

    // Every event of a large incident is reachable from its page, 50 a page.
    let (big, count) = focal_json(&site.data, &["incidents", "--limit", "1000"])
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_i64().unwrap(),
                i["event_count"].as_u64().unwrap(),
            )
        })
        .max_by_key(|(_, n)| *n)
        .unwrap();
    assert!(count > 50, "an incident with more than 50 events: {count}");
    c.goto(&format!("{base}/incidents/{big}")).await.unwrap();
    wait_text(&c, "h1", &format!("Incident {big}")).await;
    assert_eq!(
        text(&c, "#events-heading").await,
        format!("Events 1–50 of {count}")
    );
    let rows = |c: &Client| {
        let c = c.clone();
        async move {
            let mut out = Vec::new();
            for r in c
                .find_all(Locator::Css("#incident-events tbody tr"))
                .await
                .unwrap()
            {
                out.push(r.text().await.unwrap());
            }
            out
        }
    };
    let first = rows(&c).await;
    assert_eq!(first.len(), 50);
    click(&c, "#events-next").await;
    wait_query(&c, "events_page=2").await;
    let last = (count as usize).min(100);
    assert_eq!(
        text(&c, "#events-heading").await,
        format!("Events 51–{last} of {count}")
    );
    let second = rows(&c).await;
    assert_eq!(second.len(), last - 50);
    assert_ne!(first, second);
    shot(&c, "incident-events-page-2").await;
    sign_out(&c, &base).await;

    // A constituent's user sees neither the bulk form nor the manage forms, and is refused
    // their routes.
    let z = focal_json(
        &site.data,
        &["incidents", "--constituent", &site.org_a, "--limit", "1"],
    )[0]["id"]
        .as_i64()
        .unwrap();
    let z_severity = stored_incident(&site, z)["severity"].clone();
    sign_in(&c, &base, "constituent_a").await;
    c.goto(&format!("{base}/incidents")).await.unwrap();
    wait_text(&c, "h1", "Incidents").await;
    assert!(c.find(Locator::Css("#bulk")).await.is_err());
    assert!(c.find(Locator::Css("input[name='id']")).await.is_err());
    c.goto(&format!("{base}/incidents/{z}")).await.unwrap();
    wait_text(&c, "h1", &format!("Incident {z}")).await;
    assert!(c.find(Locator::Css("#manage")).await.is_err());
    assert!(c.find(Locator::Css("#severity-pick")).await.is_err());
    shot(&c, "incident-constituent").await;
    c.close().await.unwrap();
    let b = base.clone();
    let statuses = tokio::task::spawn_blocking(move || {
        let s = login(&b, "constituent_a");
        let zs = z.to_string();
        [
            s.post_form(
                "/incidents/bulk",
                &[("id", &zs), ("action", "comment"), ("text", "mine")],
                Some(&s.csrf),
            )
            .status()
            .as_u16(),
            s.post_form(
                &format!("/incidents/{z}/severity"),
                &[("severity", "low")],
                Some(&s.csrf),
            )
            .status()
            .as_u16(),
            s.post_form(
                &format!("/incidents/{z}/assign"),
                &[("assignee", "analyst2")],
                Some(&s.csrf),
            )
            .status()
            .as_u16(),
        ]
    })
    .await
    .unwrap();
    assert_eq!(statuses, [403, 403, 403]);
    assert_eq!(stored_incident(&site, z)["severity"], z_severity);
}
