//! Helpers for the sharing tests: Focal nodes in temporary folders, `focal serve` on a free
//! loopback port, and generated STIX bundles.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
pub const AMBER: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
pub const RED: &str = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One Focal node: a data folder and the binary.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
}

impl Node {
    pub fn new(name: &str) -> Node {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let node = Node { dir, data };
        node.ok(&["init"]);
        node.ok(&["share", "settings", "--node-name", name]);
        node
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_focal"))
            .arg("--data")
            .arg(&self.data)
            .args(args)
            .env("FOCAL_LOG", "warn")
            .output()
            .expect("the focal binary runs")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "focal {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let text = self.ok(&a);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("focal {args:?}: invalid JSON ({e}): {text}"))
    }

    /// Every stored object version (id, origin, tlp).
    pub fn objects(&self) -> Vec<Value> {
        self.json(&["share", "list", "--limit", "100000"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn write_file(&self, name: &str, value: &Value) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
        path
    }

    /// Starts `focal serve` on a free loopback port; stopped when the handle drops.
    pub fn serve(&self) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_focal"))
            .arg("--data")
            .arg(&self.data)
            .args(["--json", "serve", "--listen", "127.0.0.1:0"])
            .env("FOCAL_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("focal serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("focal serve prints its address");
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("focal serve printed {line:?}: {e}"));
        Server {
            child,
            addr: v["listening"]
                .as_str()
                .expect("listening address")
                .to_string(),
        }
    }
}

pub struct Server {
    child: Child,
    pub addr: String,
}

impl Server {
    pub fn discovery(&self) -> String {
        format!("http://{}/taxii2/", self.addr)
    }
    pub fn api_root(&self) -> String {
        format!("http://{}/taxii2/root/", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A valid UUIDv4 text from a number (deterministic, so failures are reproducible).
pub fn uuid_from(tag: u32, n: u32) -> String {
    format!("{tag:08x}-{:04x}-4{:03x}-8000-{n:012x}", n >> 16, n & 0xfff)
}

pub fn indicator(tag: u32, n: u32, marking: &str) -> Value {
    json!({
        "type": "indicator", "spec_version": "2.1", "id": format!("indicator--{}", uuid_from(tag, n)),
        "created": "2026-11-23T10:00:00.000Z", "modified": "2026-11-23T10:00:00.000Z",
        "name": format!("c2-server {n}"), "labels": ["malicious-code", "c2-server"],
        "indicator_types": ["malicious-activity"],
        "pattern": format!("[ipv4-addr:value = '198.18.{}.{}']", n / 250, n % 250 + 1),
        "pattern_type": "stix", "valid_from": "2026-11-23T10:00:00Z",
        "object_marking_refs": [marking],
    })
}

pub fn bundle(objects: Vec<Value>) -> Value {
    json!({"type": "bundle", "id": format!("bundle--{}", uuid_from(0xb, objects.len() as u32)), "objects": objects})
}

/// Every node's default collection, by its alias (its id is random, per node).
pub const SHARED: &str = "shared";

/// `on` pulls from (and optionally pushes to) `remote`, logging in as `account`.
pub fn link(on: &Node, name: &str, remote: &Server, account: &str, push: bool) {
    link_with(on, name, remote, account, true, push);
}

/// `on` adds `remote` as the peer `name`, logging in as `account`, pulling and pushing as told.
pub fn link_with(on: &Node, name: &str, remote: &Server, account: &str, pull: bool, push: bool) {
    let url = remote.api_root();
    let mut args = vec![
        "peers",
        "add",
        name,
        "--url",
        &url,
        "--collection",
        SHARED,
        "--user",
        account,
        "--password",
        "federation-pass",
    ];
    if pull {
        args.push("--pull");
    }
    if push {
        args.push("--push");
    }
    on.ok(&args);
}

/// Peer accounts on `node` that may read and write its default collection.
pub fn accounts(node: &Node, names: &[&str]) {
    for n in names {
        node.ok(&[
            "users",
            "add",
            n,
            "--role",
            "peer",
            "--password",
            "federation-pass",
            "--read",
            "shared",
            "--write",
            "shared",
        ]);
    }
}
