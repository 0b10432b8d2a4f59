//! Three Focal nodes on loopback federate over TAXII 2.1: an indicator added on one reaches the
//! others exactly once, syncing again (in any direction) stores nothing twice and sends nothing
//! back where it came from, and a TLP:RED object never leaves its node.

mod sharing;

use sharing::*;

fn count(node: &Node, id: &str) -> usize {
    node.objects().iter().filter(|o| o["id"] == id).count()
}

#[test]
fn three_nodes_share_once_never_loop_and_keep_red_home() {
    let (a, b, c) = (
        Node::new("Node A"),
        Node::new("Node B"),
        Node::new("Node C"),
    );
    accounts(&a, &["node-b", "node-c"]);
    accounts(&b, &["node-a", "node-c"]);
    accounts(&c, &["node-a", "node-b"]);
    let green = indicator(0xf, 1, GREEN);
    let red = indicator(0xf, 2, RED);
    let (gid, rid) = (
        green["id"].as_str().unwrap().to_string(),
        red["id"].as_str().unwrap().to_string(),
    );
    let amber = indicator(0xf, 3, AMBER);
    let aid = amber["id"].as_str().unwrap().to_string();
    let file = a.write_file("local.json", &bundle(vec![green, red, amber]));
    a.ok(&["share", "import", file.to_str().unwrap()]);
    // Everyone is cleared for AMBER; A's AMBER may go to B and C directly, but B and C must not
    // pass it on to each other (TLP:AMBER: the recipient's organisation and its clients).
    for (node, peers) in [
        (&a, ["node-b", "node-c"]),
        (&b, ["node-a", "node-c"]),
        (&c, ["node-a", "node-b"]),
    ] {
        for p in peers {
            node.ok(&["share", "policy", p, "--max-tlp", "AMBER"]);
        }
    }

    let (sa, sb, sc) = (a.serve(), b.serve(), c.serve());
    // B pulls from and pushes to A; C pulls from A, and pulls from and pushes to B; A pulls
    // from both: every path an object could loop along.
    link(&b, "node-a", &sa, "node-b", true);
    link(&c, "node-a", &sa, "node-c", false);
    link(&c, "node-b", &sb, "node-c", true);
    link(&a, "node-b", &sb, "node-a", false);
    link(&a, "node-c", &sc, "node-a", false);
    for round in 0..2 {
        b.ok(&["peers", "sync"]);
        c.ok(&["peers", "sync"]);
        a.ok(&["peers", "sync"]);
        for (name, node) in [("A", &a), ("B", &b), ("C", &c)] {
            assert_eq!(
                count(node, &gid),
                1,
                "round {round}: node {name} holds the GREEN indicator {} times",
                count(node, &gid)
            );
        }
        assert_eq!(count(&a, &rid), 1);
        assert_eq!(
            count(&b, &aid),
            1,
            "round {round}: B holds A's AMBER indicator {} times",
            count(&b, &aid)
        );
        assert_eq!(count(&c, &aid), 1);
        assert_eq!(count(&b, &rid), 0, "TLP:RED reached B");
        assert_eq!(count(&c, &rid), 0, "TLP:RED reached C");
    }
    // Where each copy came from: A made it, B and C got it from A (C's pull from B found it
    // already present), and nothing went back to A.
    let origin = |node: &Node| {
        node.objects()
            .into_iter()
            .find(|o| o["id"] == gid.as_str())
            .unwrap()["origin"]
            .clone()
    };
    assert!(origin(&a).is_null());
    assert_eq!(origin(&b), "node-a");
    assert_eq!(origin(&c), "node-a");
    let amber_origin = c
        .objects()
        .into_iter()
        .find(|o| o["id"] == aid.as_str())
        .unwrap()["origin"]
        .clone();
    assert_eq!(amber_origin, "node-a", "C got A's AMBER indicator from B");
    // Nor does B's export for C carry A's AMBER indicator (198.18.0.4), though it carries A's GREEN one.
    let export = b.ok(&["share", "export", "--peer", "node-c"]);
    assert!(
        export.contains("198.18.0.2") && !export.contains("198.18.0.4"),
        "{export}"
    );
    // The indicator also became an event on the receiving nodes, once.
    let events = b.json(&["events", "--format", "json", "--limit", "0"]);
    let from_a: Vec<_> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["feed.name"] == "peer:node-a")
        .collect();
    let mut ips: Vec<&str> = from_a
        .iter()
        .filter_map(|e| e["source.ip"].as_str())
        .collect();
    ips.sort();
    assert_eq!(ips, ["198.18.0.2", "198.18.0.4"], "{events}");
    let status = c.json(&["peers", "status"]);
    assert!(
        status
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["last_error"].is_null()),
        "{status}"
    );
}

#[test]
fn serve_pulls_from_peers_on_a_schedule() {
    let (a, d) = (Node::new("Node A"), Node::new("Node D"));
    accounts(&a, &["node-d"]);
    let green = indicator(0xf, 7, GREEN);
    let gid = green["id"].as_str().unwrap().to_string();
    let file = a.write_file("local.json", &bundle(vec![green]));
    let sa = a.serve();
    link(&d, "node-a", &sa, "node-d", false);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_focal"))
        .arg("--data")
        .arg(&d.data)
        .args(["serve", "--listen", "127.0.0.1:0", "--sync-every", "1"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Added on A after D started: only a scheduled pull can bring it.
    a.ok(&["share", "import", file.to_str().unwrap()]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while count(&d, &gid) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        count(&d, &gid),
        1,
        "the scheduled sync did not bring the indicator"
    );
}
