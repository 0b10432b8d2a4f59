//! Self-assessment in a real headless Chromium (the same driver setup as `web_browser.rs`): an
//! analyst answers an item on an assessment page and the overall score shown changes to the one
//! the API computes; the dashboard shows an overdue reassessment in its card; the assessments
//! list marks it overdue. Screenshots of the pages go to `target/screenshots/` (not committed).
//!
//! Needs `chromium` and `chromium-driver`; fails, never skips, when they are missing.

mod browser;
mod web;

use browser::*;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use web::*;

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

/// The `id` of every element the selector finds, in page order.
async fn row_ids(c: &Client, css: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for row in c.find_all(Locator::Css(css)).await.unwrap() {
        ids.push(row.attr("id").await.unwrap().unwrap_or_default());
    }
    ids
}

/// The overall score the API computes, as the page shows it (one decimal). reqwest's blocking
/// client runs on a blocking thread, outside the test's runtime.
async fn overall_by_api(base: &str, token: &str, id: i64) -> String {
    let (base, token) = (base.to_string(), token.to_string());
    tokio::task::spawn_blocking(move || overall_blocking(&base, &token, id))
        .await
        .unwrap()
}

fn overall_blocking(base: &str, token: &str, id: i64) -> String {
    let v: Value = client()
        .get(format!("{base}/api/v1/assessments/{id}"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    format!(
        "{:.1}",
        v["score"]["overall"].as_f64().expect("an overall score")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_answers_an_item_and_the_score_changes_and_the_dashboard_shows_the_overdue() {
    let site = Site::new();
    let new = |subject: &str| -> i64 {
        focal_json(
            &site.data,
            &[
                "assess",
                "new",
                "--framework",
                "un-ares-57-239",
                "--subject",
                subject,
                "--constituent",
                &site.org_a,
                "--blank",
            ],
        )["assessment"]["id"]
            .as_i64()
            .unwrap()
    };
    let draft = new("Browser Draft Org");
    // A completed assessment whose reassessment was due long ago: overdue today.
    let late = new("Browser Overdue Org");
    focal(
        &site.data,
        &[
            "assess",
            "complete",
            &late.to_string(),
            "--due",
            "2020-01-31",
        ],
    );
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let token = site.token("admin2", "read");
    let driver = start_driver();
    let c = browser(&driver).await;
    sign_in(&c, &base, "analyst2").await;

    // The dashboard's card lists the overdue reassessment, linked to it.
    let card = text(&c, "#overdue-reassessments").await;
    assert!(card.contains("Browser Overdue Org"), "{card}");
    assert!(card.contains("2020-01-31"), "{card}");
    assert!(!card.contains("Browser Draft Org"), "{card}");
    shot(&c, "dashboard-overdue").await;

    // The list marks it overdue, and only it among ours.
    c.goto(&format!("{base}/assessments")).await.unwrap();
    let list = text(&c, "#assessments").await;
    let line = |subject: &str| -> String {
        list.lines()
            .find(|l| l.contains(subject))
            .unwrap_or_else(|| panic!("{subject} in {list}"))
            .to_string()
    };
    assert!(line("Browser Overdue Org").contains("overdue"), "{list}");
    assert!(!line("Browser Draft Org").contains("overdue"), "{list}");
    shot(&c, "assessments").await;

    // Answer item b on the draft: the overall shown changes to what the API computes.
    c.goto(&format!("{base}/assessments/{draft}"))
        .await
        .unwrap();
    let before = text(&c, "#overall").await;
    assert_eq!(
        before,
        overall_by_api(&base, &token, draft).await,
        "an unanswered draft"
    );
    c.find(Locator::Css("#level-b"))
        .await
        .unwrap()
        .select_by_value("yes")
        .await
        .unwrap();
    fill(
        &c,
        "#item-b input[name=evidence]",
        "Policy approved by the board",
    )
    .await;
    click(&c, "#save-b").await;
    wait_text(&c, "#saved", "item b").await;
    let after = text(&c, "#overall").await;
    assert_ne!(after, before, "the overall score changed");
    assert_eq!(after, overall_by_api(&base, &token, draft).await);
    assert!(
        text(&c, "#item-b")
            .await
            .contains("Policy approved by the board")
    );
    shot(&c, "assessment").await;
    // The answer is audited with the analyst as actor, as the command's would be.
    let entries = audit_entries(&site.data, "assessment.answer");
    assert!(
        entries.iter().any(|e| e["actor"] == json!("user:analyst2")),
        "{entries:?}"
    );

    // Evidence on the same form: a link and a file for item b. The page lists both; the file
    // downloads, with the session, as it was uploaded; another organisation's user gets 404.
    let upload_dir = tempfile::tempdir().unwrap();
    let upload = upload_dir.path().join("board-minutes.txt");
    let minutes = "Minutes: the board approved the policy on 2026-11-30.\n";
    std::fs::write(&upload, minutes).unwrap();
    fill(&c, "#link-b", "https://intranet.example/policy-2026.pdf").await;
    fill(&c, "#file-b", upload.to_str().unwrap()).await;
    click(&c, "#save-b").await;
    let cell = wait_text(&c, "#item-b", "intranet.example/policy-2026.pdf").await;
    assert!(cell.contains("board-minutes.txt"), "{cell}");
    let file_href = c
        .find(Locator::Css("#item-b .evidence-file a"))
        .await
        .expect("the file is listed with the answer")
        .attr("href")
        .await
        .unwrap()
        .expect("a download link");
    let session = c
        .get_all_cookies()
        .await
        .unwrap()
        .iter()
        .map(|k| format!("{}={}", k.name(), k.value()))
        .collect::<Vec<_>>()
        .join("; ");
    let (b, href) = (base.clone(), file_href.clone());
    let (status, disposition, body, foreign) = tokio::task::spawn_blocking(move || {
        let r = client()
            .get(format!("{b}{href}"))
            .header("cookie", session)
            .send()
            .unwrap();
        let disposition = r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_string();
        let status = r.status();
        let body = r.text().unwrap();
        let foreign = login(&b, "constituent_b").get(&href).status();
        (status, disposition, body, foreign)
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, minutes, "the file as uploaded");
    assert!(
        disposition.starts_with("attachment;") && disposition.contains("board-minutes.txt"),
        "{disposition}"
    );
    assert_eq!(foreign, 404, "another organisation's user");
    assert!(
        audit_entries(&site.data, "assessment.evidence_file")
            .iter()
            .any(|e| e["actor"] == json!("user:analyst2")
                && e["after"]["name"] == json!("board-minutes.txt")),
        "the upload is audited"
    );
    shot(&c, "assessment-evidence").await;

    // The report export: the page's links download, with the session, the bytes
    // `focal assess export` writes, and they carry the new score and the gap list.
    let gap_items: Vec<String> = text(&c, "#gaps tbody")
        .await
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect();
    assert!(!gap_items.is_empty(), "a blank draft has gaps");
    assert!(!gap_items.contains(&"b".to_string()), "{gap_items:?}");
    let cookies = c
        .get_all_cookies()
        .await
        .unwrap()
        .iter()
        .map(|k| format!("{}={}", k.name(), k.value()))
        .collect::<Vec<_>>()
        .join("; ");
    for (link, format) in [("#export-html", "html"), ("#export-json", "json")] {
        let href = c
            .find(Locator::Css(link))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .expect("the export link has an href");
        let (url, cookie) = (format!("{base}{href}"), cookies.clone());
        let (status, kind, body) = tokio::task::spawn_blocking(move || {
            let r = client().get(url).header("cookie", cookie).send().unwrap();
            let kind = r.headers()["content-type"].to_str().unwrap().to_string();
            (r.status(), kind, r.text().unwrap())
        })
        .await
        .unwrap();
        assert_eq!(status, 200, "{href}: {body}");
        assert!(kind.contains(format), "{href}: {kind}");
        let cli = focal(
            &site.data,
            &["assess", "export", &draft.to_string(), "--format", format],
        );
        assert_eq!(body, cli, "{href} serves what the command writes");
        if format == "html" {
            assert!(
                body.contains(&format!("<span class=\"big\">{after}</span>")),
                "the new score in the report"
            );
            assert!(body.contains("Gaps, largest first"));
            for item in &gap_items {
                assert!(
                    body.contains(&format!("<td>{item} ")),
                    "gap {item} in the report"
                );
            }
        } else {
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(
                format!("{:.1}", v["score"]["overall"].as_f64().unwrap()),
                after
            );
            let gaps: Vec<&str> = v["score"]["gaps"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|g| g["item"].as_str())
                .collect();
            assert_eq!(gaps, gap_items);
        }
    }
    // Another constituent's user cannot download it (the assessment is org A's).
    let url = format!("/assessments/{draft}/report?format=html");
    let b = base.clone();
    let status = tokio::task::spawn_blocking(move || login(&b, "constituent_b").get(&url).status())
        .await
        .unwrap();
    assert_eq!(status, 404);

    c.goto(&format!("{base}/assessments/{draft}"))
        .await
        .unwrap();
    shot(&c, "assessment-top").await;
    // The demo's reassessment of Network 49832 is compared with its first assessment: exactly
    // the items the demo changed (f, h, i improved; a regressed).
    let list = focal_json(
        &site.data,
        &["assess", "list", "--subject", "Network 49832"],
    );
    let second = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["id"].as_i64())
        .max()
        .unwrap();
    c.goto(&format!("{base}/assessments/{second}"))
        .await
        .unwrap();
    let comparison = text(&c, "#comparison").await;
    let changed: Vec<&str> = comparison
        .lines()
        .filter(|l| l.starts_with("improved") || l.starts_with("regressed"))
        .collect();
    assert_eq!(changed.len(), 4, "{comparison}");
    assert!(comparison.contains("regressed a"), "{comparison}");
    shot(&c, "assessment-compare").await;

    // A completed assessment has no answer form.
    c.goto(&format!("{base}/assessments/{late}")).await.unwrap();
    assert!(c.find(Locator::Css("#save-b")).await.is_err());
    assert!(text(&c, "#overdue").await.contains("overdue"));

    // The risk register: list and one risk.
    c.goto(&format!("{base}/risks")).await.unwrap();
    let risks = text(&c, "#risks").await;
    assert!(risks.contains("×"), "{risks}");
    shot(&c, "risks").await;
    c.find(Locator::Css("#risks tbody a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&c, "#level", "×").await;
    shot(&c, "risk").await;
    // The analyst changes likelihood, impact and owner through the form: the page shows the
    // new rating, the API agrees, and the change is audited with the analyst as actor.
    let risk_url = c.current_url().await.unwrap();
    let risk_id: i64 = risk_url.path().rsplit('/').next().unwrap().parse().unwrap();
    for (field, value) in [
        ("#likelihood", "4"),
        ("#impact", "5"),
        ("#owner", "CISO office"),
    ] {
        let e = c.find(Locator::Css(field)).await.unwrap();
        e.clear().await.unwrap();
        e.send_keys(value).await.unwrap();
    }
    click(&c, "#save-risk").await;
    wait_text(&c, "#saved", "Saved").await;
    let level = text(&c, "#level").await;
    assert!(level.starts_with("4 × 5 = 20"), "{level}");
    let (b, t) = (base.clone(), token.clone());
    let api: Value = tokio::task::spawn_blocking(move || {
        client()
            .get(format!("{b}/api/v1/risks/{risk_id}"))
            .header("authorization", format!("Bearer {t}"))
            .send()
            .unwrap()
            .json()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(api["risk"]["likelihood"], json!(4), "{api}");
    assert_eq!(api["risk"]["impact"], json!(5), "{api}");
    assert_eq!(api["risk"]["owner"], json!("CISO office"), "{api}");
    assert!(
        audit_entries(&site.data, "risk.update")
            .iter()
            .any(|e| e["actor"] == json!("user:analyst2")
                && e["subject"] == json!(format!("risk:{risk_id}"))),
        "the change is audited"
    );
    shot(&c, "risk-edited").await;
    // A value off the scale is refused by the same check as the API's (ops::check_risk).
    let b = base.clone();
    let (status, body) = tokio::task::spawn_blocking(move || {
        let s = login(&b, "analyst2");
        let r = s.post_form(
            &format!("/risks/{risk_id}/edit"),
            &[("likelihood", "9")],
            Some(&s.csrf),
        );
        (r.status(), r.text().unwrap())
    })
    .await
    .unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("likelihood: 9 is not on the scale 1-5"),
        "{body}"
    );

    // Findings: the analyst moves one to in_progress with a resolution; the list shows it and
    // the change is audited with the analyst as actor, as `focal vulns finding` audits it.
    let finding = focal_json(&site.data, &["vulns", "findings"])[0]["id"]
        .as_i64()
        .expect("the demo has an open finding");
    c.goto(&format!("{base}/findings")).await.unwrap();
    c.find(Locator::Css(&format!("#status-{finding}")))
        .await
        .unwrap()
        .select_by_value("in_progress")
        .await
        .unwrap();
    fill(
        &c,
        &format!("#resolution-{finding}"),
        "Patch scheduled for Friday",
    )
    .await;
    click(&c, &format!("#save-{finding}")).await;
    wait_text(&c, "#saved", &format!("finding {finding}")).await;
    let row = text(&c, &format!("#finding-{finding}")).await;
    assert!(row.contains("in_progress"), "{row}");
    assert!(row.contains("Patch scheduled for Friday"), "{row}");
    let stored = focal_json(&site.data, &["vulns", "findings", "--all"]);
    let stored = stored
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == json!(finding))
        .unwrap()
        .clone();
    assert_eq!(stored["status"], json!("in_progress"));
    assert!(
        audit_entries(&site.data, "finding.update")
            .iter()
            .any(|e| e["actor"] == json!("user:analyst2")
                && e["subject"] == json!(format!("finding:{finding}"))),
        "the change is audited"
    );
    shot(&c, "findings").await;

    // The same form sets a remediation due date and links the finding to a risk and to an
    // incident; the row shows them, linked.
    let incident = focal_json(&site.data, &["incidents", "--limit", "1"])[0]["id"]
        .as_i64()
        .expect("the demo has an incident");
    c.execute(
        &format!("document.getElementById('due-{finding}').value = '2027-01-15';"),
        vec![],
    )
    .await
    .unwrap();
    fill(&c, &format!("#risk-{finding}"), &risk_id.to_string()).await;
    fill(&c, &format!("#incident-{finding}"), &incident.to_string()).await;
    click(&c, &format!("#save-{finding}")).await;
    let row = wait_text(&c, &format!("#finding-{finding}"), "due 2027-01-15").await;
    assert!(row.contains(&format!("risk {risk_id}")), "{row}");
    assert!(row.contains(&format!("incident {incident}")), "{row}");
    let href = c
        .find(Locator::Css(&format!("#finding-{finding} a.incident-link")))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap();
    assert_eq!(href, Some(format!("/incidents/{incident}")));
    shot(&c, "findings-linked").await;
    // An incident that does not exist is refused, and nothing is linked.
    let b = base.clone();
    let (status, body) = tokio::task::spawn_blocking(move || {
        let s = login(&b, "analyst2");
        let r = s.post_form(
            &format!("/findings/{finding}"),
            &[("incident", "999999"), ("due", "2027-02-01")],
            Some(&s.csrf),
        );
        (r.status(), r.text().unwrap())
    })
    .await
    .unwrap();
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("incident 999999"), "{body}");
    let stored = focal_json(&site.data, &["vulns", "findings", "--all"]);
    let stored = stored
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == json!(finding))
        .unwrap()
        .clone();
    assert_eq!(stored["due"], json!("2027-01-15"), "{stored}");
    assert_eq!(stored["incidents"], json!([incident]), "{stored}");
    assert_eq!(stored["risks"], json!([risk_id]), "{stored}");

    // Paging: the second page starts after the first finding, in the same order.
    let all = row_ids(&c, "#findings tbody tr").await;
    c.goto(&format!("{base}/findings?offset=1")).await.unwrap();
    let rest = row_ids(&c, "#findings tbody tr").await;
    assert!(all.len() >= 2, "{all:?}");
    assert_eq!(rest, all[1..].to_vec());
    assert!(c.find(Locator::Css("#findings-prev")).await.is_ok());
    c.close().await.unwrap();
}
