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
    /// Further addresses a notification goes to (Cc), each one addr-spec like `abuse_email`;
    /// at most [`MAX_ALSO_NOTIFY`]. Empty (and absent in JSON) when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_notify: Vec<String>,
}

/// Most bytes an id may have: it is part of URLs, audit subjects and mail headers.
pub const MAX_ID_BYTES: usize = 128;
/// Most bytes a name may have.
pub const MAX_NAME_BYTES: usize = 256;
/// Most entries in one list (ASNs, netblocks or domains) of one constituent.
pub const MAX_LIST_ENTRIES: usize = 100_000;
/// Most addresses in `also_notify`: copies of a digest, not a mailing list.
pub const MAX_ALSO_NOTIFY: usize = 10;
/// What separates the entries of `also_notify` as text (a CSV cell, the form): `;` or a line
/// break. Not a comma or a space, so `a@x.example,b@y.example` or `Name <a@x.example>` stays
/// one entry and is refused as it is, rather than read as other addresses.
pub const ALSO_NOTIFY_SEPARATORS: [char; 3] = [';', '\n', '\r'];
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
    /// Addresses separated by [`ALSO_NOTIFY_SEPARATORS`].
    pub also_notify: &'a str,
}

impl ConstituentDraft<'_> {
    /// The constituent, or every field that is wrong (in the order id, name, abuse_email, asns,
    /// netblocks, domains, language, also_notify), each with a message quoting the bad values.
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
        if !email.is_empty()
            && let Some(why) = addr_spec_problem(email)
        {
            refuse(
                "abuse_email",
                format!("{email:?} is not one e-mail address: it {why}"),
            );
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
        let also_notify = match also_notify(self.also_notify) {
            Ok(list) => list,
            Err(message) => {
                refuse("also_notify", message);
                Vec::new()
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
            also_notify,
        })
    }
}

/// The `also_notify` entries of `text`, each checked with [`addr_spec_problem`]; the message
/// names every bad entry (by position and value) and why, or the count when there are too many.
/// Empty entries (a trailing `;`) are skipped.
pub fn also_notify(text: &str) -> Result<Vec<String>, String> {
    let entries: Vec<&str> = text
        .split(ALSO_NOTIFY_SEPARATORS)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if entries.len() > MAX_ALSO_NOTIFY {
        return Err(format!(
            "has {} addresses; at most {MAX_ALSO_NOTIFY} are allowed",
            entries.len()
        ));
    }
    let bad: Vec<String> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            addr_spec_problem(e)
                .map(|why| format!("entry {} {e:?} is not one e-mail address: it {why}", i + 1))
        })
        .collect();
    if !bad.is_empty() {
        return Err(bad.join("; "));
    }
    Ok(entries.into_iter().map(str::to_string).collect())
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

/// Whether `s` is exactly one address, an RFC 5322 `addr-spec` (`local@domain.tld`): see
/// [`addr_spec_problem`].
pub fn looks_like_email(s: &str) -> bool {
    addr_spec_problem(s).is_none()
}

/// What keeps `s` from being exactly one RFC 5322 `addr-spec`, if anything: the local part a
/// dot-atom (RFC 6532 lets it hold UTF-8), the domain a host name with a dot, at most 254
/// bytes, no whitespace or control characters. No display name (`Evil <evil@evil.example>`),
/// no list (`a@x.example,b@y.example`), no comments, quoted local parts or domain literals:
/// mail libraries read such text as another address than the one shown, so it is refused
/// rather than interpreted. Whether the address receives mail is for the mail server to say.
pub fn addr_spec_problem(s: &str) -> Option<&'static str> {
    if s.len() > 254 {
        return Some("is longer than 254 bytes");
    }
    if s.chars().any(|c| c.is_control()) {
        return Some("contains a control character");
    }
    if s.chars().any(char::is_whitespace) {
        return Some("contains whitespace; give the address alone, without a name");
    }
    if s.contains(['<', '>']) {
        return Some("has a display name or angle brackets; give the address alone");
    }
    if s.contains([',', ';']) {
        return Some("is a list; give one address");
    }
    if s.contains(['"', '(', ')', '[', ']', '\\']) {
        return Some("has quotes, a comment or a domain literal, which are not accepted");
    }
    let Some((local, domain)) = s.split_once('@') else {
        return Some("has no @");
    };
    if domain.contains('@') {
        return Some("has more than one @");
    }
    // atext (RFC 5322 3.2.3), and UTF-8 beyond ASCII (RFC 6532).
    let atext =
        |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii();
    if local.is_empty()
        || local
            .split('.')
            .any(|atom| atom.is_empty() || !atom.chars().all(atext))
    {
        return Some("has an invalid part before the @");
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
    };
    if !domain.contains('.') || !domain.split('.').all(label_ok) {
        return Some("has an invalid domain (a host name like example.org)");
    }
    None
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
            also_notify: "soc@one.example; noc@one.example\n",
        }
        .validate()
        .unwrap();
        assert_eq!(c.id, "org-1");
        assert_eq!(c.asns, [64500, 64501, 64502]);
        assert_eq!(c.netblocks.len(), 2);
        assert_eq!(c.domains, ["one.example"]);
        assert_eq!(c.language.as_deref(), Some("pt-BR"));
        assert_eq!(c.also_notify, ["soc@one.example", "noc@one.example"]);
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

    #[test]
    fn an_abuse_address_is_exactly_one_addr_spec() {
        for good in [
            "abuse@b.example",
            "first.last+tag@sub.b-c.example",
            "o'neil@b.example",
            "josé@exämple.example",
        ] {
            assert!(looks_like_email(good), "{good}");
        }
        for bad in [
            "Evil<evil@evil.example>",
            "Evil <evil@evil.example>",
            "<evil@evil.example>",
            "a@x.example,b@y.example",
            "a@x.example;b@y.example",
            "\"quoted\"@b.example",
            "a@[192.0.2.1]",
            "a(comment)@b.example",
            "a@b@c.example",
            "a..b@c.example",
            ".a@c.example",
            "a@-c.example",
            "a@localhost",
            "a\u{0}b@c.example",
            "a@c.example\r\nBcc: x@y.example",
            "",
        ] {
            assert!(!looks_like_email(bad), "{bad:?}");
        }
        let e = ConstituentDraft {
            id: "a",
            abuse_email: "Evil<evil@evil.example>",
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e[0].field, "abuse_email");
        assert!(e[0].message.contains("display name"), "{e:?}");
    }

    #[test]
    fn also_notify_is_a_list_of_addr_specs_each_checked_and_bounded() {
        assert_eq!(also_notify(""), Ok(vec![]));
        assert_eq!(
            also_notify(" a@x.example ;\r\nb@y.example;"),
            Ok(vec!["a@x.example".to_string(), "b@y.example".to_string()])
        );
        for (bad, why) in [
            ("Evil<evil@evil.example>", "display name"),
            ("Evil <evil@evil.example>", "whitespace"),
            ("a@x.example,b@y.example", "is a list"),
            ("a\u{0}b@x.example", "control character"),
            ("nobody", "no @"),
        ] {
            let text = format!("ok@x.example;{bad}");
            let e = ConstituentDraft {
                id: "a",
                also_notify: &text,
                ..Default::default()
            }
            .validate()
            .unwrap_err();
            assert_eq!(e.len(), 1, "{e:?}");
            assert_eq!(e[0].field, "also_notify");
            assert!(e[0].message.contains("entry 2"), "{e:?}");
            assert!(e[0].message.contains(why), "{bad:?}: {e:?}");
        }
        let many = (0..=MAX_ALSO_NOTIFY)
            .map(|i| format!("n{i}@x.example"))
            .collect::<Vec<_>>()
            .join(";");
        let e = also_notify(&many).unwrap_err();
        assert!(e.contains("at most 10"), "{e}");
        let ten = many.rsplit_once(';').unwrap().0;
        assert_eq!(also_notify(ten).unwrap().len(), MAX_ALSO_NOTIFY);
    }
}
