//! The REST API against its own OpenAPI document, with schemathesis (from PyPI, in the tools
//! virtualenv made by `scripts/pytools.sh`): generated requests for every operation, run against
//! the live `focal serve` on the demo dataset with an admin's write token; no request may be
//! answered with a server error, and every answer must conform to the document.

mod web;

use std::process::Command;
use web::*;

#[test]
fn schemathesis_finds_no_server_error_and_every_answer_matches_the_document() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let token = site.token("admin2", "write");
    let st = focal_testkit::pytool("schemathesis");
    assert!(
        st.exists(),
        "{} is missing: run scripts/pytools.sh (it installs schemathesis from \
         scripts/pytools-requirements.txt)",
        st.display()
    );
    let out = Command::new(&st)
        .args([
            "run",
            &format!("{}/api/v1/openapi.json", server.base),
            "--url",
            &server.base,
            "--header",
            &format!("Authorization: Bearer {token}"),
            // Beyond "no 5xx": every answer's status, content type and body must be the ones
            // the document declares for that operation.
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            "30",
            "--seed",
            "6",
            "--no-color",
        ])
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(site.dir.path())
        .output()
        .expect("schemathesis runs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{report}"
    );
    // It really exercised every operation of the document (an empty run would also pass).
    let doc: serde_json::Value = client()
        .get(format!("{}/api/v1/openapi.json", server.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let operations: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert!(operations >= 12, "{operations} operations documented");
    assert!(
        report.contains(&format!("Tested: {operations}")),
        "every one of the {operations} operations tested:\n{report}"
    );
}
