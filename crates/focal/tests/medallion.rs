//! Focal's TAXII client against the OASIS reference server, medallion, on loopback: it pulls
//! medallion's objects, pushes its own through the policy (TLP:RED and above-clearance objects
//! stay home), and a second sync neither imports nor pushes anything twice.

mod sharing;

use serde_json::{Value, json};
use sharing::*;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const COLLECTION: &str = "472c94ae-3113-4e3e-a4dd-a9f4ac7471d4";

struct Medallion {
    child: Child,
    port: u16,
}

impl Drop for Medallion {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_medallion(dir: &std::path::Path) -> Medallion {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let data = json!({
        "/discovery": {"title": "medallion", "default": format!("{base}/api1/"), "api_roots": [format!("{base}/api1/")]},
        "api1": {
            "information": {"title": "api1", "versions": ["application/taxii+json;version=2.1"], "max_content_length": 10485760},
            "status": [],
            "collections": [{"id": COLLECTION, "title": "Indicators", "can_read": true, "can_write": true,
                             "media_types": ["application/stix+json;version=2.1"], "objects": [], "manifest": []}]
        }
    });
    let data_file = dir.join("medallion-data.json");
    std::fs::write(&data_file, data.to_string()).unwrap();
    let config = json!({
        "backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                    "filename": data_file, "session_timeout": 30, "check_interval": 10},
        "users": {"admin": "Password0"},
        "taxii": {"max_page_size": 100}
    });
    let config_file = dir.join("medallion-config.json");
    std::fs::write(&config_file, config.to_string()).unwrap();
    let child = Command::new(focal_testkit::pytool("medallion"))
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--log-level",
            "WARN",
        ])
        .arg(&config_file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("medallion starts (scripts/pytools.sh installs it)");
    let m = Medallion { child, port };
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "medallion did not start listening on {port}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    m
}

/// Calls medallion with Python's requests (an independent client): POST an envelope, or list ids.
fn medallion_call(port: u16, post: Option<&Value>) -> Value {
    let script = r#"
import json, sys, requests
url = "http://127.0.0.1:%s/api1/collections/%s/objects/" % (sys.argv[1], sys.argv[2])
h = {"Accept": "application/taxii+json;version=2.1", "Content-Type": "application/taxii+json;version=2.1"}
if len(sys.argv) > 3:
    r = requests.post(url, data=sys.argv[3], headers=h, auth=("admin", "Password0"))
    r.raise_for_status(); print(json.dumps(r.json()))
else:
    ids, params = [], {"limit": 100}
    while True:
        r = requests.get(url, headers=h, params=params, auth=("admin", "Password0")); r.raise_for_status()
        env = r.json(); ids += [o["id"] for o in env.get("objects", [])]
        if not env.get("more"): break
        params["next"] = env["next"]
    print(json.dumps(ids))
"#;
    let mut cmd = Command::new(focal_testkit::pytool("python"));
    cmd.args(["-c", script, &port.to_string(), COLLECTION]);
    if let Some(body) = post {
        cmd.arg(body.to_string());
    }
    let out = cmd.output().expect("python runs");
    assert!(
        out.status.success(),
        "request to medallion failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from the script")
}

#[test]
fn pulls_from_and_pushes_to_medallion() {
    let node = Node::new("Node M");
    let med = start_medallion(node.dir.path());
    let theirs: Vec<Value> = (0..2).map(|n| indicator(0xe, n, GREEN)).collect();
    let status = medallion_call(med.port, Some(&json!({"objects": theirs})));
    assert_eq!(status["success_count"], 2, "{status}");

    let amber = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
    let mut ours: Vec<Value> = (0..3).map(|n| indicator(0xd, n, GREEN)).collect();
    ours.push(indicator(0xd, 10, RED));
    ours.push(indicator(0xd, 11, amber));
    let file = node.write_file("ours.json", &bundle(ours.clone()));
    node.ok(&["share", "import", file.to_str().unwrap()]);
    let url = format!("http://127.0.0.1:{}/api1/", med.port);
    node.ok(&[
        "peers",
        "add",
        "medallion",
        "--url",
        &url,
        "--collection",
        COLLECTION,
        "--user",
        "admin",
        "--password",
        "Password0",
        "--pull",
        "--push",
        "--max-tlp",
        "GREEN",
    ]);

    let first = node.json(&["peers", "sync", "medallion"]);
    let report = &first["synced"][0]["report"];
    assert_eq!(report["pulled"], 2, "{first}");
    assert_eq!(report["pushed"], 3, "{first}");
    assert_eq!(report["withheld"], 2, "{first}");

    let stored = node.objects();
    for o in &theirs {
        let row = stored
            .iter()
            .find(|s| s["id"] == o["id"])
            .expect("pulled object stored");
        assert_eq!(row["origin"], "medallion");
    }
    let at_medallion: Vec<String> = serde_json::from_value(medallion_call(med.port, None)).unwrap();
    assert_eq!(at_medallion.len(), 5, "{at_medallion:?}");
    for o in &ours[..3] {
        assert!(
            at_medallion.iter().any(|id| o["id"] == id.as_str()),
            "{} not pushed",
            o["id"]
        );
    }
    for o in &ours[3..] {
        assert!(
            !at_medallion.iter().any(|id| o["id"] == id.as_str()),
            "{} (RED/AMBER) reached medallion",
            o["id"]
        );
    }

    // Again: what we pushed comes back in the pull, and is recognised; nothing new either way.
    let second = node.json(&["peers", "sync", "medallion"]);
    let report = &second["synced"][0]["report"];
    assert_eq!(report["pulled"], 0, "{second}");
    assert_eq!(report["pushed"], 0, "{second}");
    assert_eq!(node.objects().len(), stored.len());
    let at_medallion: Vec<String> = serde_json::from_value(medallion_call(med.port, None)).unwrap();
    assert_eq!(at_medallion.len(), 5);
}
