//! Events of every shape Focal exports, built through the model's own validation.
#![allow(dead_code)]

use focal_model::{ClassificationType, DedupKey, Event, Field, Tlp};

pub fn event(type_: &str, fields: &[(&str, &str)], tlp: Tlp) -> Event {
    let t: ClassificationType = type_.parse().expect("an RSIT type");
    let mut e = Event::new(
        "test-feed".into(),
        "2026-11-23T10:00:00Z".parse().unwrap(),
        t,
    );
    for (name, value) in fields {
        let field: Field = name.parse().expect("a known field");
        e.set_text(&field, value).expect("a valid value");
    }
    e.tlp = tlp;
    e.id = DedupKey::default().event_id(&e, &mut Vec::new());
    e
}

pub fn sample_events() -> Vec<Event> {
    vec![
        event(
            "infected-system",
            &[
                ("source.ip", "198.51.100.7"),
                ("malware.name", "mirai"),
                ("time.source", "2026-11-23T09:00:00Z"),
                ("constituent", "acme"),
            ],
            Tlp::Amber,
        ),
        event(
            "c2-server",
            &[
                ("source.ip", "2001:db8::1"),
                ("source.fqdn", "c2.example.net"),
                ("destination.ip", "203.0.113.9"),
            ],
            Tlp::Green,
        ),
        event(
            "phishing",
            &[
                ("source.url", "http://bad.example/x?a='b'"),
                ("source.fqdn", "bad.example"),
            ],
            Tlp::Clear,
        ),
        event("scanner", &[("source.network", "192.0.2.0/24")], Tlp::Green),
        event(
            "malware-distribution",
            &[
                ("source.url", "http://dl.example/m.exe"),
                ("extra.malware.hash.md5", "d41d8cd98f00b204e9800998ecf8427e"),
                (
                    "extra.malware.hash.sha256",
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                ),
            ],
            Tlp::AmberStrict,
        ),
        event("ddos", &[("source.ip", "192.0.2.66")], Tlp::Red),
    ]
}
