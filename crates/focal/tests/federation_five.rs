//! Five Focal nodes on loopback federate over TAXII 2.1, once as a ring and once as a star
//! (issue 12, "How it will be checked"). Each node ingests events at every TLP (CLEAR, GREEN,
//! AMBER, AMBER+STRICT for two constituents, RED) and publishes them; the peers' policies mix
//! clearances, constituent scoping and pseudonymisation of `source.ip`. After two sync rounds:
//!
//! - each node holds exactly what the policies allow: the indicators (by origin, value and TLP),
//!   the observables, the other SDOs and SROs and the events made from what it received are
//!   compared with a model computed here from the inputs and the policies alone (the TLP rules
//!   of docs/SHARING.md restated over plain values; pseudonyms are HMAC-SHA256 computed here
//!   from each node's key), never with Focal's own release code;
//! - the OASIS stix2-validator with `--enforce-refs` finds no dangling reference in any node's
//!   collection;
//! - the second round moves nothing and stores nothing: the sync's own counters, every node's
//!   stored object versions and its events, before and after.

mod sharing;

use serde_json::Value;
use sharing::*;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

const NODES: usize = 5;
/// The sinkhole every event's host talked to: one observable shared by every node and TLP.
const SINKHOLE: &str = "192.0.2.1";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Tlp {
    Clear,
    Green,
    Amber,
    Strict,
    Red,
}

impl Tlp {
    const ALL: [Tlp; 5] = [Tlp::Clear, Tlp::Green, Tlp::Amber, Tlp::Strict, Tlp::Red];

    fn name(self) -> &'static str {
        match self {
            Tlp::Clear => "CLEAR",
            Tlp::Green => "GREEN",
            Tlp::Amber => "AMBER",
            Tlp::Strict => "AMBER+STRICT",
            Tlp::Red => "RED",
        }
    }

    /// The TLP 2.0 marking-definition ids (OASIS), as the objects carry them.
    fn of_marking(id: &str) -> Option<Tlp> {
        Some(match id {
            "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487" => Tlp::Clear,
            "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb" => Tlp::Green,
            "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421" => Tlp::Amber,
            "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003" => Tlp::Strict,
            "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1" => Tlp::Red,
            _ => return None,
        })
    }

    fn of_object(o: &Value) -> Option<Tlp> {
        o["object_marking_refs"]
            .as_array()?
            .iter()
            .filter_map(|m| m.as_str().and_then(Tlp::of_marking))
            .max()
    }
}

/// One event of a node's feeds: its source address, TLP and constituent.
#[derive(Clone, Debug)]
struct Ev {
    ip: String,
    tlp: Tlp,
    constituent: &'static str,
}

/// Node `k`'s events: four per TLP, and for AMBER+STRICT two per constituent (c-a owns
/// 198.18.0.0/16, c-b 198.19.0.0/16 on every node).
fn events_of(k: usize) -> Vec<Ev> {
    let mut out = Vec::new();
    for (i, tlp) in Tlp::ALL.into_iter().enumerate() {
        for j in 1..=4 {
            let (net, constituent) = if tlp == Tlp::Strict && j > 2 {
                (19, "c-b")
            } else {
                (18, "c-a")
            };
            out.push(Ev {
                ip: format!("198.{net}.{k}.{}", i * 10 + j),
                tlp,
                constituent,
            });
        }
    }
    out
}

/// What a node's policy gives one principal (a peer, by its account name).
#[derive(Clone, Debug)]
struct Pol {
    max: Tlp,
    constituent: Option<&'static str>,
    pseudonymise: bool,
}

impl Default for Pol {
    fn default() -> Pol {
        Pol {
            max: Tlp::Amber,
            constituent: None,
            pseudonymise: false,
        }
    }
}

/// A federation: the peer entries, each node's policy for each neighbour, and one sync round.
struct Net {
    /// (node, the peer it adds, pull, push).
    peers: Vec<(usize, usize, bool, bool)>,
    /// (sender, receiver) → the sender's policy for the receiver's account (what the receiver
    /// pulls, and what the sender pushes to it); absent: `Pol::default()`.
    policies: BTreeMap<(usize, usize), Pol>,
    /// One round: `peers sync PEER` on a node, in this order.
    round: Vec<(usize, usize)>,
}

impl Net {
    fn policy(&self, sender: usize, receiver: usize) -> Pol {
        self.policies
            .get(&(sender, receiver))
            .cloned()
            .unwrap_or_default()
    }

    /// Which way objects can go: (sender, receiver).
    fn flows(&self) -> BTreeSet<(usize, usize)> {
        let mut f = BTreeSet::new();
        for &(on, remote, pull, push) in &self.peers {
            if pull {
                f.insert((remote, on));
            }
            if push {
                f.insert((on, remote));
            }
        }
        f
    }
}

/// The TLP rules of docs/SHARING.md, restated: may `sender` pass an object of `tlp` (its own, or
/// received from a peer) to a principal under `p`?
fn may_pass(p: &Pol, tlp: Tlp, foreign: bool, constituent: &str) -> bool {
    match tlp {
        Tlp::Red => false,
        t if t > p.max => false,
        // AMBER from another organisation: only to this node's constituents, never to peers.
        Tlp::Amber if foreign => p.constituent.is_some(),
        // AMBER+STRICT from another organisation stays in this one.
        Tlp::Strict if foreign => false,
        // Own AMBER+STRICT: only to the constituent it concerns.
        Tlp::Strict => p.constituent == Some(constituent),
        _ => true,
    }
}

/// An event's indicator as a node holds it: its TLP and the value shown (the address, or the
/// pseudonym the origin's policy put in its place).
#[derive(Clone, Debug, PartialEq)]
struct Held {
    tlp: Tlp,
    shown: String,
}

/// What each node holds once nothing more can move: (origin node, event address) → as held.
/// Computed to a fixpoint, so it does not depend on the order of syncs; a scenario where it
/// would (the same event reaching a node pseudonymised one way and in clear another) panics.
fn expected(
    net: &Net,
    events: &[Vec<Ev>],
    keys: &[Vec<u8>],
) -> Vec<BTreeMap<(usize, String), Held>> {
    let mut hold: Vec<BTreeMap<(usize, String), Held>> = (0..NODES)
        .map(|k| {
            events[k]
                .iter()
                .map(|e| {
                    (
                        (k, e.ip.clone()),
                        Held {
                            tlp: e.tlp,
                            shown: e.ip.clone(),
                        },
                    )
                })
                .collect()
        })
        .collect();
    loop {
        let mut changed = false;
        for (s, r) in net.flows() {
            {
                let p = net.policy(s, r);
                let outgoing: Vec<_> = hold[s]
                    .iter()
                    .filter(|((origin, _), _)| *origin != r)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                for ((origin, ip), held) in outgoing {
                    let ev = events[origin].iter().find(|e| e.ip == ip).unwrap();
                    if !may_pass(&p, held.tlp, origin != s, ev.constituent) {
                        continue;
                    }
                    // Redaction applies to the sender's own events; what it relays goes on as
                    // it was received.
                    let shown = if origin == s && p.pseudonymise {
                        pseudonym(&keys[s], &ip)
                    } else {
                        held.shown.clone()
                    };
                    let arriving = Held {
                        tlp: held.tlp,
                        shown,
                    };
                    match hold[r].get(&(origin, ip.clone())) {
                        None => {
                            hold[r].insert((origin, ip), arriving);
                            changed = true;
                        }
                        Some(h) => assert_eq!(
                            h, &arriving,
                            "the scenario is order-dependent: node {origin}'s {ip} reaches node {r} in two forms"
                        ),
                    }
                }
            }
        }
        if !changed {
            return hold;
        }
    }
}

/// HMAC-SHA256 (RFC 2104) over SHA-256, written out here so the pseudonyms the test expects do
/// not come from Focal's code: `p-<first 16 bytes in hex>.pseudonym.invalid`.
fn pseudonym(key: &[u8], value: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(value.as_bytes())
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    format!("p-{}.pseudonym.invalid", hex::encode(&outer[..16]))
}

/// The node's pseudonymisation key, read from its store.
fn key_of(node: &Node) -> Vec<u8> {
    let db = rusqlite::Connection::open(node.data.join("focal.db")).expect("opening the store");
    let hex_key: String = db
        .query_row(
            "SELECT value FROM sharing_settings WHERE key = 'pseudonym_key'",
            [],
            |r| r.get(0),
        )
        .expect("the node has a pseudonym key");
    hex::decode(hex_key).expect("the key is hex")
}

fn name(k: usize) -> String {
    format!("node-{k}")
}

/// A node with its constituents, its events ingested from one feed per TLP, and published.
fn node(k: usize, evs: &[Ev]) -> Node {
    let n = Node::new(&format!("Node {k}"));
    let constituents = n.dir.path().join("constituents.csv");
    std::fs::write(
        &constituents,
        "id,name,abuse_email,asns,netblocks,domains\n\
         c-a,Constituent A,abuse@a.example,,198.18.0.0/16,\n\
         c-b,Constituent B,abuse@b.example,,198.19.0.0/16,\n",
    )
    .unwrap();
    n.ok(&["constituents", "import", constituents.to_str().unwrap()]);
    let def = std::fs::read_to_string(repo().join("bench/reference-feed.toml")).unwrap();
    for tlp in Tlp::ALL {
        let feed_def = def
            .replace(
                "name = \"reference-drones\"",
                &format!("name = \"drones-{}\"", tlp.name().to_lowercase()),
            )
            .replace("tlp = \"AMBER\"", &format!("tlp = \"{}\"", tlp.name()));
        let def_path = n.dir.path().join(format!("feed-{}.toml", tlp.name()));
        std::fs::write(&def_path, feed_def).unwrap();
        let mut csv = String::from("timestamp,ip,port,protocol,hostname,malware,dst_ip,dst_port\n");
        for e in evs.iter().filter(|e| e.tlp == tlp) {
            csv.push_str(&format!(
                "2026-11-24T10:00:00Z,{},4242,tcp,,qakbot,{SINKHOLE},443\n",
                e.ip
            ));
        }
        let feed = n.dir.path().join(format!("feed-{}.csv", tlp.name()));
        std::fs::write(&feed, csv).unwrap();
        n.ok(&[
            "ingest",
            "--feed",
            def_path.to_str().unwrap(),
            feed.to_str().unwrap(),
        ]);
    }
    n.ok(&["share", "publish"]);
    n
}

fn set_policy(on: &Node, principal: &str, p: &Pol) {
    let mut args = vec!["share", "policy", principal, "--max-tlp", p.max.name()];
    if let Some(c) = p.constituent {
        args.extend(["--constituent", c]);
    }
    if p.pseudonymise {
        args.extend(["--redact", "source.ip=pseudonymise"]);
    }
    on.ok(&args);
}

/// The sync counters of one `peers sync NAME`, summed over the peers it synced.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Moved {
    pulled: u64,
    pushed: u64,
    events: u64,
    already_present: u64,
}

fn sync(node: &Node, peer: Option<&str>) -> Moved {
    let mut args = vec!["peers", "sync"];
    args.extend(peer);
    let out = node.json(&args);
    assert_eq!(out["failed"], serde_json::json!([]), "{out}");
    let mut m = Moved::default();
    for s in out["synced"].as_array().unwrap() {
        m.pulled += s["report"]["pulled"].as_u64().unwrap();
        m.pushed += s["report"]["pushed"].as_u64().unwrap();
        m.already_present += s["report"]["already_present"].as_u64().unwrap()
            + s["report"]["push_already_present"].as_u64().unwrap();
        m.events += s["events_stored"].as_u64().unwrap();
    }
    m
}

/// Every stored object version of a node, with its body.
fn bodies(node: &Node) -> Vec<Value> {
    node.json(&["share", "list", "--limit", "1000000", "--bodies"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["object"].clone())
        .collect()
}

fn events(node: &Node) -> Vec<Value> {
    node.json(&["events", "--format", "json", "--limit", "0"])
        .as_array()
        .unwrap()
        .clone()
}

/// The value an indicator of Focal's (one address or pseudonym) points at.
fn pattern_value(pattern: &str) -> Option<String> {
    let start = pattern.find("value = '")? + "value = '".len();
    let end = start + pattern[start..].find('\'')?;
    Some(pattern[start..end].to_string())
}

/// Every reference an object holds, at any depth (`*_ref`, `*_refs`).
fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                match x {
                    Value::String(r) if k.ends_with("_ref") => out.push(r.clone()),
                    Value::Array(list) if k.ends_with("_refs") => {
                        out.extend(list.iter().filter_map(|r| r.as_str().map(str::to_string)))
                    }
                    _ => references(x, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| references(i, out)),
        _ => {}
    }
}

/// Nothing `node` holds dangles: the OASIS validator with `--enforce-refs` (which checks the
/// relationships' endpoints, and reports a missing one as a warning, not an error), and every
/// other reference checked here against what the node holds (or a TLP marking definition).
fn validate_closed(node: &Node, objects: Vec<Value>, label: &str) {
    let held: BTreeSet<&str> = objects.iter().filter_map(|o| o["id"].as_str()).collect();
    for o in &objects {
        let mut refs = Vec::new();
        references(o, &mut refs);
        for r in refs {
            assert!(
                held.contains(r.as_str()) || Tlp::of_marking(&r).is_some(),
                "{label}: {} refers to {r}, which the node does not hold",
                o["id"]
            );
        }
    }
    let path = node.write_file("held.json", &bundle(objects));
    let out = Command::new(focal_testkit::pytool("stix2_validator"))
        .args(["--version", "2.1", "--enforce-refs"])
        .arg(&path)
        .output()
        .expect("stix2_validator runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("STIX JSON: Valid")
            && !text.contains("[X]")
            && !text.contains("enforce-relationship-refs"),
        "{label}: what the node holds does not validate with --enforce-refs:\n{text}"
    );
}

/// A node's stored object versions (id, version, origin) and its number of events.
fn stored(node: &Node) -> (BTreeSet<String>, usize) {
    let versions = node
        .objects()
        .iter()
        .map(|o| format!("{} {} {}", o["id"], o["version"], o["origin"]))
        .collect();
    (versions, events(node).len())
}

/// Sums the counters of a round.
fn run_round(nodes: &[Node], net: &Net) -> Moved {
    let mut total = Moved::default();
    for &(k, peer) in &net.round {
        let m = sync(&nodes[k], Some(&name(peer)));
        total.pulled += m.pulled;
        total.pushed += m.pushed;
        total.events += m.events;
        total.already_present += m.already_present;
    }
    total
}

/// What a node holds, as compared with the model.
#[derive(Debug, PartialEq)]
struct Holdings {
    /// (origin node, value in the pattern, TLP) of every indicator.
    indicators: BTreeSet<(usize, String, Tlp)>,
    /// (type, value) of every address and domain-name observable.
    observables: BTreeSet<(String, String)>,
    /// Distinct ids per type, for the types one event makes one of.
    per_event: BTreeMap<String, usize>,
    /// Distinct identities and malware families.
    catalogue: BTreeMap<String, usize>,
    /// (value, TLP) of every event made from a received indicator.
    received_events: BTreeSet<(String, String)>,
}

fn holdings(node: &Node, origins: &BTreeMap<String, usize>) -> Holdings {
    let objects = bodies(node);
    let mut h = Holdings {
        indicators: BTreeSet::new(),
        observables: BTreeSet::new(),
        per_event: BTreeMap::new(),
        catalogue: BTreeMap::new(),
        received_events: BTreeSet::new(),
    };
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for o in &objects {
        let type_ = o["type"].as_str().unwrap().to_string();
        ids.entry(type_.clone())
            .or_default()
            .insert(o["id"].as_str().unwrap().to_string());
        match type_.as_str() {
            "indicator" => {
                // Focal's indicators carry no creator; the value says whose event it is.
                let value = pattern_value(o["pattern"].as_str().unwrap()).unwrap();
                let origin = *origins
                    .get(&value)
                    .unwrap_or_else(|| panic!("an indicator of no node's event: {o}"));
                h.indicators.insert((
                    origin,
                    value,
                    Tlp::of_object(o).unwrap_or_else(|| panic!("no TLP on {o}")),
                ));
            }
            "ipv4-addr" | "domain-name" => {
                h.observables
                    .insert((type_, o["value"].as_str().unwrap().to_string()));
            }
            _ => {}
        }
    }
    for (t, set) in ids {
        match t.as_str() {
            "observed-data" | "sighting" | "relationship" => {
                h.per_event.insert(t, set.len());
            }
            "identity" | "malware" => {
                h.catalogue.insert(t, set.len());
            }
            _ => {}
        }
    }
    for e in events(node) {
        if !e["feed.name"].as_str().unwrap_or("").starts_with("peer:") {
            continue;
        }
        let value = e["source.ip"]
            .as_str()
            .or(e["source.fqdn"].as_str())
            .unwrap_or_else(|| panic!("a received event without a source: {e}"))
            .to_string();
        // Events are written with IntelMQ's names (TLP:CLEAR is WHITE there) and TLP 2.0's
        // own label in `extra.tlp` where IntelMQ has none (AMBER+STRICT).
        let tlp = match (e["extra.tlp"].as_str(), e["tlp"].as_str().unwrap_or("?")) {
            (Some(t), _) => t.trim_start_matches("TLP:"),
            (None, "WHITE") => "CLEAR",
            (None, t) => t,
        };
        h.received_events.insert((value, tlp.to_string()));
    }
    h
}

fn expected_holdings(k: usize, held: &BTreeMap<(usize, String), Held>) -> Holdings {
    let mut h = Holdings {
        indicators: BTreeSet::new(),
        observables: BTreeSet::from([("ipv4-addr".to_string(), SINKHOLE.to_string())]),
        per_event: BTreeMap::new(),
        catalogue: BTreeMap::from([("identity".into(), NODES), ("malware".into(), NODES)]),
        received_events: BTreeSet::new(),
    };
    for ((origin, _), v) in held {
        h.indicators.insert((*origin, v.shown.clone(), v.tlp));
        let t = if v.shown.ends_with(".pseudonym.invalid") {
            "domain-name"
        } else {
            "ipv4-addr"
        };
        h.observables.insert((t.into(), v.shown.clone()));
        if *origin != k {
            h.received_events
                .insert((v.shown.clone(), v.tlp.name().to_string()));
        }
    }
    for t in ["observed-data", "sighting", "relationship"] {
        h.per_event.insert(t.into(), held.len());
    }
    h
}

/// Sets up five nodes as `net` says, runs two rounds, and checks everything.
fn federate(topology: &str, net: &Net) {
    let evs: Vec<Vec<Ev>> = (0..NODES).map(events_of).collect();
    let nodes: Vec<Node> = (0..NODES).map(|k| node(k, &evs[k])).collect();
    let keys: Vec<Vec<u8>> = nodes.iter().map(key_of).collect();
    let mut accounts_on: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    let mut principals: BTreeSet<(usize, usize)> = BTreeSet::new();
    for &(on, remote, _, _) in &net.peers {
        accounts_on.entry(remote).or_default().insert(name(on));
        principals.insert((on, remote));
        principals.insert((remote, on));
    }
    for (k, names) in &accounts_on {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        accounts(&nodes[*k], &names);
    }
    for (s, r) in principals {
        set_policy(&nodes[s], &name(r), &net.policy(s, r));
    }
    let servers: Vec<Server> = nodes.iter().map(Node::serve).collect();
    for &(on, remote, pull, push) in &net.peers {
        link_with(
            &nodes[on],
            &name(remote),
            &servers[remote],
            &name(on),
            pull,
            push,
        );
    }

    let first = run_round(&nodes, net);
    // (In the star every leaf's push finds the hub holding it already: the hub pulled first.)
    assert!(
        first.pulled > 0 && first.events > 0,
        "{topology}: the first round moved nothing: {first:?}"
    );
    // Whose event each address, or its origin's pseudonym of it, is.
    let mut origins: BTreeMap<String, usize> = BTreeMap::new();
    for (k, es) in evs.iter().enumerate() {
        for e in es {
            origins.insert(e.ip.clone(), k);
            origins.insert(pseudonym(&keys[k], &e.ip), k);
        }
    }
    let before: Vec<(BTreeSet<String>, usize)> = nodes.iter().map(stored).collect();
    let second = run_round(&nodes, net);
    let after: Vec<(BTreeSet<String>, usize)> = nodes.iter().map(stored).collect();
    for (k, (b, a)) in before.iter().zip(&after).enumerate() {
        assert_eq!(
            a.0.difference(&b.0).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "{topology}: the second round stored object versions on node {k}"
        );
        assert_eq!(a, b, "{topology}: the second round changed node {k}");
    }
    assert_eq!(
        (second.pulled, second.pushed, second.events),
        (0, 0, 0),
        "{topology}: the second round moved something: {second:?}"
    );

    let model = expected(net, &evs, &keys);
    for (k, n) in nodes.iter().enumerate() {
        let got = holdings(n, &origins);
        let want = expected_holdings(k, &model[k]);
        assert_eq!(
            got.indicators
                .difference(&want.indicators)
                .collect::<Vec<_>>(),
            Vec::<&(usize, String, Tlp)>::new(),
            "{topology}: node {k} holds indicators the policies do not allow"
        );
        assert_eq!(
            want.indicators
                .difference(&got.indicators)
                .collect::<Vec<_>>(),
            Vec::<&(usize, String, Tlp)>::new(),
            "{topology}: node {k} lacks indicators the policies allow"
        );
        assert_eq!(
            got.observables, want.observables,
            "{topology}: node {k}'s observables"
        );
        assert_eq!(got.per_event, want.per_event, "{topology}: node {k}");
        assert_eq!(got.catalogue, want.catalogue, "{topology}: node {k}");
        assert_eq!(
            got.received_events, want.received_events,
            "{topology}: node {k}'s events from peers"
        );
        validate_closed(n, bodies(n), &format!("{topology}: node {k}"));
    }
    // Nothing RED or pseudonymised in clear left its node: implied by the equalities above,
    // stated once more over the raw bodies.
    for (k, n) in nodes.iter().enumerate() {
        let text = serde_json::to_string(&bodies(n)).unwrap();
        for (o, evs) in evs.iter().enumerate() {
            if o == k {
                continue;
            }
            for e in evs.iter().filter(|e| e.tlp == Tlp::Red) {
                assert!(
                    !text.contains(&format!("\"{}\"", e.ip))
                        && !text.contains(&format!("'{}'", e.ip)),
                    "{topology}: node {o}'s RED {} reached node {k}",
                    e.ip
                );
            }
        }
    }
    drop(servers);
}

/// A ring 0-1-2-3-4-0: each node adds both neighbours (pull and push). A round goes once
/// around: each node syncs its right neighbour, then its left, so an object can travel the
/// whole ring in one round (forward with the pushes, back with the pull-then-push of the
/// node behind) and the second round has nothing left to carry.
#[test]
fn a_ring_of_five_holds_what_the_policies_allow_and_settles_in_one_round() {
    let right = |i: usize| (i + 1) % NODES;
    let left = |i: usize| (i + NODES - 1) % NODES;
    let mut policies = BTreeMap::new();
    // Node 1 never shows its addresses: pseudonyms to both neighbours (so every copy in the
    // ring is the same).
    for r in [0, 2] {
        policies.insert(
            (1, r),
            Pol {
                pseudonymise: true,
                ..Pol::default()
            },
        );
    }
    // Node 3 is constituent c-a's team for node 2, node 4 constituent c-b's for node 0: they
    // receive that constituent's AMBER+STRICT, and AMBER their sender got from peers.
    policies.insert(
        (2, 3),
        Pol {
            max: Tlp::Strict,
            constituent: Some("c-a"),
            ..Pol::default()
        },
    );
    policies.insert(
        (0, 4),
        Pol {
            max: Tlp::Strict,
            constituent: Some("c-b"),
            ..Pol::default()
        },
    );
    // Node 3 gives node 4 GREEN at most.
    policies.insert(
        (3, 4),
        Pol {
            max: Tlp::Green,
            ..Pol::default()
        },
    );
    let net = Net {
        peers: (0..NODES)
            .flat_map(|i| [(i, right(i), true, true), (i, left(i), true, true)])
            .collect(),
        policies,
        round: (0..NODES)
            .flat_map(|i| [(i, right(i)), (i, left(i))])
            .collect(),
    };
    federate("ring", &net);
}

/// A star: node 0 is the hub and pulls from every leaf; each leaf pulls from and pushes to the
/// hub. A round: the hub syncs every leaf, then every leaf syncs the hub.
#[test]
fn a_star_of_five_holds_what_the_policies_allow_and_settles_in_one_round() {
    let mut policies = BTreeMap::new();
    // The hub's policies for its leaves: leaf 1 is constituent c-a's team (AMBER+STRICT of
    // c-a, and the leaves' AMBER); leaf 2 gets the hub's addresses pseudonymised; leaf 3 GREEN,
    // leaf 4 CLEAR.
    policies.insert(
        (0, 1),
        Pol {
            max: Tlp::Strict,
            constituent: Some("c-a"),
            ..Pol::default()
        },
    );
    policies.insert(
        (0, 2),
        Pol {
            pseudonymise: true,
            ..Pol::default()
        },
    );
    policies.insert(
        (0, 3),
        Pol {
            max: Tlp::Green,
            ..Pol::default()
        },
    );
    policies.insert(
        (0, 4),
        Pol {
            max: Tlp::Clear,
            ..Pol::default()
        },
    );
    // The leaves' policies for the hub: leaf 2 pseudonymises, leaf 3 gives GREEN, leaf 4 treats
    // the hub as constituent c-b's team.
    policies.insert(
        (2, 0),
        Pol {
            pseudonymise: true,
            ..Pol::default()
        },
    );
    policies.insert(
        (3, 0),
        Pol {
            max: Tlp::Green,
            ..Pol::default()
        },
    );
    policies.insert(
        (4, 0),
        Pol {
            max: Tlp::Strict,
            constituent: Some("c-b"),
            ..Pol::default()
        },
    );
    let leaves = 1..NODES;
    let net = Net {
        peers: leaves
            .clone()
            .map(|l| (0, l, true, false))
            .chain(leaves.clone().map(|l| (l, 0, true, true)))
            .collect(),
        policies,
        round: leaves
            .clone()
            .map(|l| (0, l))
            .chain(leaves.map(|l| (l, 0)))
            .collect(),
    };
    federate("star", &net);
}
