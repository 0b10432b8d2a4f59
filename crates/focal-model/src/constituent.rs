//! A constituent: a network owner the focal point is responsible for (an ISP, a university, a ministry).
//!
//! [`ConstituentDraft`] is the one set of rules for what a constituent may hold, used alike by
//! the CSV import, the web form and the REST API, so the three accept and refuse the same values.

use ipnet::IpNet;

/// One organisation of the constituency, as imported from `id,name,abuse_email,asns,netblocks,domains`
/// (plus an optional `language` column).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Constituent {
    /// The stable id the organisation was imported with (e.g. `org-00012`).
    pub id: String,
    pub name: String,
    pub abuse_email: String,
    pub asns: Vec<u32>,
    pub netblocks: Vec<IpNet>,
    /// Domain suffixes the organisation is responsible for (`example.org` covers `www.example.org`).
    pub domains: Vec<String>,
    /// The language notifications are written in (a BCP 47 tag such as `de` or `pt-BR`); `None` for
    /// the default. Optional, so data written before it existed still reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// Most bytes an id may have: it is part of URLs, audit subjects and mail headers.
pub const MAX_ID_BYTES: usize = 128;
/// Most bytes a name may have.
pub const MAX_NAME_BYTES: usize = 256;
/// Most entries in one list (ASNs, netblocks or domains) of one constituent.
pub const MAX_LIST_ENTRIES: usize = 100_000;
/// How many bad values one field's message quotes before counting the rest.
const QUOTED_BAD_VALUES: usize = 5;

/// A field whose value was refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name as the CSV header, the form and the API spell it (`netblocks`, ...).
    pub field: &'static str,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A constituent as text, the way a CSV row or a form holds it. Lists are separated by
/// whitespace (spaces or line breaks) or commas; surrounding whitespace of every value is
/// ignored; an empty `language` means the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConstituentDraft<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub abuse_email: &'a str,
    pub asns: &'a str,
    pub netblocks: &'a str,
    pub domains: &'a str,
    pub language: &'a str,
}

impl ConstituentDraft<'_> {
    /// The constituent, or every field that is wrong (in the order id, name, abuse_email, asns,
    /// netblocks, domains, language), each with a message quoting the bad values.
    pub fn validate(&self) -> Result<Constituent, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut refuse =
            |field: &'static str, message: String| errors.push(FieldError { field, message });
        let id = self.id.trim();
        if id.is_empty() {
            refuse("id", "is empty".into());
        } else if id.len() > MAX_ID_BYTES {
            refuse("id", format!("is longer than {MAX_ID_BYTES} bytes"));
        } else if id.chars().any(char::is_control) {
            refuse("id", format!("{id:?} contains a control character"));
        }
        let name = self.name.trim();
        if name.len() > MAX_NAME_BYTES {
            refuse("name", format!("is longer than {MAX_NAME_BYTES} bytes"));
        } else if name.chars().any(char::is_control) {
            refuse("name", "contains a control character".into());
        }
        let email = self.abuse_email.trim();
        if !email.is_empty() && !looks_like_email(email) {
            refuse("abuse_email", format!("{email:?} is not an e-mail address"));
        }
        let asns = list("asns", self.asns, asn_text, &mut refuse);
        let netblocks = list(
            "netblocks",
            self.netblocks,
            |n| crate::event::parse_network(n).map_err(|e| e.to_string()),
            &mut refuse,
        );
        let domains = list(
            "domains",
            self.domains,
            |d| crate::event::parse_fqdn(d).map_err(|e| e.to_string()),
            &mut refuse,
        );
        let language = match self.language.trim() {
            "" => None,
            tag if looks_like_language_tag(tag) => Some(tag.to_string()),
            tag => {
                refuse(
                    "language",
                    format!("{tag:?} is not a language tag like \"de\" or \"pt-BR\""),
                );
                None
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Constituent {
            id: id.to_string(),
            name: name.to_string(),
            abuse_email: email.to_string(),
            asns,
            netblocks,
            domains,
            language,
        })
    }
}

fn asn_text(a: &str) -> Result<u32, String> {
    crate::event::parse_asn(a).map_err(|e| e.to_string())
}

/// Parses each entry of a list field; on failure records one error for the field that quotes
/// the first few bad entries and counts the rest.
fn list<T>(
    field: &'static str,
    text: &str,
    parse: impl Fn(&str) -> Result<T, String>,
    refuse: &mut impl FnMut(&'static str, String),
) -> Vec<T> {
    let entries = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty());
    let mut out = Vec::new();
    let mut bad = Vec::new();
    let mut bad_count = 0usize;
    for (n, entry) in entries.enumerate() {
        if n == MAX_LIST_ENTRIES {
            refuse(field, format!("has more than {MAX_LIST_ENTRIES} entries"));
            return Vec::new();
        }
        match parse(entry) {
            Ok(v) => out.push(v),
            Err(e) => {
                bad_count += 1;
                if bad.len() < QUOTED_BAD_VALUES {
                    bad.push(e);
                }
            }
        }
    }
    if bad_count > 0 {
        let mut message = bad.join("; ");
        if bad_count > bad.len() {
            message.push_str(&format!(" (and {} more)", bad_count - bad.len()));
        }
        refuse(field, message);
    }
    out
}

/// A BCP 47 shape check (primary subtag of 2-3 letters, then alphanumeric subtags), enough to
/// pick a template file safely; the tag is not checked against the IANA registry.
pub fn looks_like_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let primary_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    primary_ok
        && s.len() <= 35
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// The shape of an address (`local@domain.tld`, no whitespace, at most 254 bytes); whether it
/// receives mail is for the mail server to say.
pub fn looks_like_email(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && s.len() <= 254
                && !s.contains(|c: char| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draft_becomes_a_constituent_with_lists_split_on_spaces_lines_and_commas() {
        let c = ConstituentDraft {
            id: " org-1 ",
            name: "Org One",
            abuse_email: "abuse@one.example",
            asns: "AS64500\n64501, 64502",
            netblocks: "192.0.2.0/24\r\n2001:db8::/32",
            domains: "One.Example",
            language: "pt-BR",
        }
        .validate()
        .unwrap();
        assert_eq!(c.id, "org-1");
        assert_eq!(c.asns, [64500, 64501, 64502]);
        assert_eq!(c.netblocks.len(), 2);
        assert_eq!(c.domains, ["one.example"]);
        assert_eq!(c.language.as_deref(), Some("pt-BR"));
    }

    #[test]
    fn every_bad_field_is_named_with_its_bad_values() {
        let errors = ConstituentDraft {
            id: "",
            abuse_email: "not-an-address",
            asns: "AS12x 64500",
            netblocks: "10.0.0.0/33 192.0.2.1/24 198.51.100.0/24",
            domains: "bad domain!",
            language: "../etc",
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "id",
                "abuse_email",
                "asns",
                "netblocks",
                "domains",
                "language"
            ]
        );
        let nets = &errors[3].message;
        assert!(
            nets.contains("10.0.0.0/33") && nets.contains("192.0.2.1/24"),
            "{nets}"
        );
        assert!(!nets.contains("198.51.100.0/24"), "{nets}");
        let many = ["x"; 8].join(" ");
        let errors = ConstituentDraft {
            id: "a",
            asns: &many,
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(errors[0].message.ends_with("(and 3 more)"), "{errors:?}");
    }

    #[test]
    fn sizes_are_bounded() {
        let long = "a".repeat(MAX_ID_BYTES + 1);
        let e = ConstituentDraft {
            id: &long,
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e[0].field, "id");
        let asns = "1 ".repeat(MAX_LIST_ENTRIES + 1);
        let e = ConstituentDraft {
            id: "a",
            asns: &asns,
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(e[0].message.contains("more than"), "{e:?}");
        assert!(!looks_like_email("a@b."));
        assert!(looks_like_email("abuse@b.example"));
    }
}
