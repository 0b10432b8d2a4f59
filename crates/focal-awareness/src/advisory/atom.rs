//! The public Atom feed (RFC 4287) of advisories, written with the `atom_syndication` crate.
//!
//! Only advisories whose latest published revision is TLP:CLEAR are in it: the choice is made
//! here, whatever the caller passes, so no route or command can put a restricted advisory in
//! the public feed. An advisory re-labelled above CLEAR by a later revision leaves the feed.

use super::Advisory;
use super::csaf::page_url;
use crate::AwarenessConfig;
use atom_syndication::{Content, Entry, Feed, FixedDateTime, Link, Person, Text};
use focal_model::Tlp;
use jiff::Timestamp;

/// At most this many entries, newest first.
pub const MAX_ENTRIES: usize = 100;

fn atom_time(t: Timestamp) -> FixedDateTime {
    // jiff writes RFC 3339; chrono (inside atom_syndication) reads it back. A timestamp jiff
    // wrote always parses, so the fallback is never taken.
    t.strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
        .parse()
        .unwrap_or_default()
}

/// The advisories that may be in the public feed: published, and TLP:CLEAR as published.
pub fn public(advisories: &[Advisory]) -> impl Iterator<Item = &Advisory> {
    advisories
        .iter()
        .filter(|a| a.published().is_some_and(|r| r.content.tlp == Tlp::Clear))
}

/// The feed document. `base_url` is where the public pages are; entries link to
/// `<base_url>/advisories/<id>` and the feed to `<base_url>/advisories.atom`.
pub fn render_atom(advisories: &[Advisory], config: &AwarenessConfig, now: Timestamp) -> String {
    let mut chosen: Vec<&Advisory> = public(advisories).collect();
    chosen.sort_by_key(|a| std::cmp::Reverse(a.published().map(|r| r.date)));
    chosen.truncate(MAX_ENTRIES);
    let base = config.base_url.trim_end_matches('/');
    let updated = chosen
        .first()
        .and_then(|a| a.published())
        .map_or(now, |r| r.date);
    let entries: Vec<Entry> = chosen
        .iter()
        .filter_map(|a| {
            let r = a.published()?;
            let url = page_url(base, &a.id);
            Some(Entry {
                id: url.clone(),
                title: Text::plain(format!("{}: {}", a.id, r.content.title)),
                updated: atom_time(r.date),
                published: a.revisions.first().map(|f| atom_time(f.date)),
                summary: Some(Text::plain(r.content.summary.clone())),
                links: vec![Link {
                    href: url,
                    rel: "alternate".into(),
                    mime_type: Some("text/html".into()),
                    ..Default::default()
                }],
                content: Some(Content {
                    value: Some(format!(
                        "Revision {} ({}). TLP:CLEAR. {}",
                        r.number, r.summary, r.content.summary
                    )),
                    content_type: Some("text".into()),
                    ..Default::default()
                }),
                ..Default::default()
            })
        })
        .collect();
    let feed = Feed {
        title: Text::plain(format!("{} security advisories", config.publisher)),
        id: format!("{base}/advisories.atom"),
        updated: atom_time(updated),
        authors: vec![Person {
            name: config.publisher.clone(),
            uri: Some(config.namespace.clone()),
            ..Default::default()
        }],
        links: vec![
            Link {
                href: format!("{base}/advisories.atom"),
                rel: "self".into(),
                mime_type: Some("application/atom+xml".into()),
                ..Default::default()
            },
            Link {
                href: format!("{base}/advisories"),
                rel: "alternate".into(),
                mime_type: Some("text/html".into()),
                ..Default::default()
            },
        ],
        entries,
        ..Default::default()
    };
    feed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::tests::content;

    fn published(id: &str, tlp: Tlp) -> Advisory {
        let now = "2026-11-01T10:00:00Z".parse().unwrap();
        let mut a = Advisory::create(id, content(tlp), "alice", now).unwrap();
        a.submit("alice", now).unwrap();
        a.publish("bob", now).unwrap();
        a
    }

    #[test]
    fn only_clear_published_advisories_are_in_the_feed() {
        let draft = Advisory::create(
            "FOCAL-2026-0009",
            content(Tlp::Clear),
            "alice",
            "2026-11-01T10:00:00Z".parse().unwrap(),
        )
        .unwrap();
        let list = vec![
            published("FOCAL-2026-0001", Tlp::Clear),
            published("FOCAL-2026-0002", Tlp::Green),
            published("FOCAL-2026-0003", Tlp::Red),
            draft,
        ];
        let xml = render_atom(&list, &AwarenessConfig::default(), Timestamp::now());
        assert!(xml.contains("FOCAL-2026-0001"));
        for absent in ["FOCAL-2026-0002", "FOCAL-2026-0003", "FOCAL-2026-0009"] {
            assert!(!xml.contains(absent), "{absent} must not be in the feed");
        }
    }
}
