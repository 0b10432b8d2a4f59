//! Version ordering per ecosystem, and the two range languages advisories use: OSV's events
//! (`introduced`, `fixed`, `last_affected`, `limit`) and `vers` (the Package URL project's
//! version range specifier, which CSAF 2.0 names for `product_version_range`).
//!
//! Orderings: semantic versioning (npm, crates.io, Go, Hex, Pub, NuGet and OSV `SEMVER`, via the
//! `semver` crate), PEP 440 (PyPI, via `pep440_rs`), dpkg (Debian and Ubuntu, via `debversion`),
//! and a generic natural ordering for everything else (CPE versions, Maven, RubyGems, Alpine,
//! Packagist). A version the ecosystem's parser refuses is compared with the generic ordering,
//! on both sides, rather than dropped.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// How the versions of a package are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Semver,
    Pypi,
    Deb,
    Generic,
}

impl Scheme {
    /// The ordering for a Package URL type (or a `vers` scheme, which uses the same names).
    pub fn for_purl_type(ty: &str) -> Scheme {
        match ty {
            "npm" | "cargo" | "golang" | "hex" | "pub" | "nuget" | "semver" | "swift" => {
                Scheme::Semver
            }
            "pypi" => Scheme::Pypi,
            "deb" => Scheme::Deb,
            _ => Scheme::Generic,
        }
    }

    pub fn compare(self, a: &str, b: &str) -> Ordering {
        let parsed = match self {
            Scheme::Semver => parse_semver(a)
                .zip(parse_semver(b))
                .map(|(x, y)| x.cmp_precedence(&y)),
            Scheme::Pypi => a
                .trim()
                .parse::<pep440_rs::Version>()
                .ok()
                .zip(b.trim().parse::<pep440_rs::Version>().ok())
                .map(|(x, y)| x.cmp(&y)),
            Scheme::Deb => a
                .trim()
                .parse::<debversion::Version>()
                .ok()
                .zip(b.trim().parse::<debversion::Version>().ok())
                .map(|(x, y)| x.cmp(&y)),
            Scheme::Generic => None,
        };
        parsed.unwrap_or_else(|| generic_compare(a, b))
    }

    pub fn equal(self, a: &str, b: &str) -> bool {
        self.compare(a, b) == Ordering::Equal
    }
}

fn parse_semver(v: &str) -> Option<semver::Version> {
    let v = v.trim();
    let v = v.strip_prefix('v').unwrap_or(v);
    semver::Version::parse(v).ok()
}

/// Words that mark a pre-release when they follow a release ("1.0rc1" comes before "1.0").
const PRE_RELEASE: &[&str] = &[
    "dev",
    "snapshot",
    "alpha",
    "a",
    "beta",
    "b",
    "pre",
    "preview",
    "rc",
    "c",
    "cr",
    "m",
    "milestone",
    "ea",
];

#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    Number(&'a str),
    Word(String),
}

fn tokens(v: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let bytes = v.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        if bytes[i].is_ascii_digit() {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            out.push(Token::Number(&v[start..i]));
        } else if bytes[i].is_ascii_alphabetic() {
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            out.push(Token::Word(v[start..i].to_ascii_lowercase()));
        } else {
            i += 1;
        }
    }
    out
}

fn number_cmp(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// A natural ordering: runs of digits compare as numbers, runs of letters as lower-case words,
/// separators are ignored; a number sorts after a word; when one version is a prefix of the other,
/// a following pre-release word ("rc", "beta", ...) makes the longer one earlier, anything else
/// makes it later ("1.0rc1" < "1.0" < "1.0.1" < "1.0a-final"...).
pub fn generic_compare(a: &str, b: &str) -> Ordering {
    let (ta, tb) = (tokens(a), tokens(b));
    for (x, y) in ta.iter().zip(&tb) {
        let o = match (x, y) {
            (Token::Number(x), Token::Number(y)) => number_cmp(x, y),
            (Token::Word(x), Token::Word(y)) => x.cmp(y),
            (Token::Number(_), Token::Word(_)) => Ordering::Greater,
            (Token::Word(_), Token::Number(_)) => Ordering::Less,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    let tail_is_pre = |t: &[Token<'_>]| matches!(t.first(), Some(Token::Word(w)) if PRE_RELEASE.contains(&w.as_str()));
    match ta.len().cmp(&tb.len()) {
        Ordering::Equal => Ordering::Equal,
        Ordering::Greater if tail_is_pre(&ta[tb.len()..]) => Ordering::Less,
        Ordering::Greater => Ordering::Greater,
        Ordering::Less if tail_is_pre(&tb[ta.len()..]) => Ordering::Greater,
        Ordering::Less => Ordering::Less,
    }
}

/// One OSV range event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

impl Event {
    fn version(&self) -> &str {
        match self {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => v,
        }
    }
}

/// Whether `version` falls in one OSV `SEMVER` or `ECOSYSTEM` range, by the OSV schema's
/// evaluation: the events are sorted by version (`introduced: "0"` first), and the last event at
/// or below the version decides (`introduced` opens, `fixed` and `limit` close at their version,
/// `last_affected` closes just after it).
pub fn in_osv_range(scheme: Scheme, events: &[Event], version: &str) -> bool {
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by(|a, b| match (a.version(), b.version()) {
        ("0", "0") => Ordering::Equal,
        ("0", _) if matches!(a, Event::Introduced(_)) => Ordering::Less,
        (_, "0") if matches!(b, Event::Introduced(_)) => Ordering::Greater,
        (x, y) => scheme.compare(x, y),
    });
    let mut affected = false;
    for event in sorted {
        match event {
            Event::Introduced(v) => {
                if v == "0" || scheme.compare(version, v) != Ordering::Less {
                    affected = true;
                }
            }
            Event::Fixed(v) | Event::Limit(v) => {
                if scheme.compare(version, v) != Ordering::Less {
                    affected = false;
                }
            }
            Event::LastAffected(v) => {
                if scheme.compare(version, v) == Ordering::Greater {
                    affected = false;
                }
            }
        }
    }
    affected
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparator {
    #[serde(rename = "=")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

/// A parsed `vers:` range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vers {
    pub scheme_name: String,
    pub scheme: Scheme,
    /// `vers:<scheme>/*`: every version.
    pub any: bool,
    pub constraints: Vec<(Comparator, String)>,
}

impl Vers {
    /// Parses `vers:<scheme>/<constraint>|<constraint>...`.
    pub fn parse(text: &str) -> Result<Vers, String> {
        let rest = text
            .trim()
            .strip_prefix("vers:")
            .ok_or_else(|| format!("{text:?} does not start with \"vers:\""))?;
        let (scheme_name, list) = rest
            .split_once('/')
            .ok_or_else(|| format!("{text:?} has no \"/\" after its versioning scheme"))?;
        let scheme_name = scheme_name.to_ascii_lowercase();
        if scheme_name.is_empty() {
            return Err(format!("{text:?} names no versioning scheme"));
        }
        let scheme = Scheme::for_purl_type(&scheme_name);
        let list = list.trim();
        if list == "*" {
            return Ok(Vers {
                scheme_name,
                scheme,
                any: true,
                constraints: vec![],
            });
        }
        let mut constraints = Vec::new();
        for part in list.split('|') {
            let part = part.trim();
            let (op, version) = [
                ("!=", Comparator::Ne),
                ("<=", Comparator::Le),
                (">=", Comparator::Ge),
                ("<", Comparator::Lt),
                (">", Comparator::Gt),
                ("=", Comparator::Eq),
            ]
            .iter()
            .find_map(|(p, c)| part.strip_prefix(p).map(|v| (*c, v)))
            .unwrap_or((Comparator::Eq, part));
            let version = percent_decode(version.trim());
            if version.is_empty() || version == "*" {
                return Err(format!("{text:?}: constraint {part:?} has no version"));
            }
            constraints.push((op, version));
        }
        Ok(Vers {
            scheme_name,
            scheme,
            any: false,
            constraints,
        })
    }

    /// Whether the version is in the range, by the vers specification's algorithm: equal to an
    /// `=` version is in, equal to a `!=` version is out; the remaining constraints, sorted by
    /// version, are read as intervals between each `>`/`>=` and the `<`/`<=` after it, open
    /// below the first `<`/`<=` and above the last `>`/`>=`.
    pub fn contains(&self, version: &str) -> bool {
        if self.any {
            return true;
        }
        let s = self.scheme;
        for (op, v) in &self.constraints {
            match op {
                Comparator::Eq if s.equal(version, v) => return true,
                Comparator::Ne if s.equal(version, v) => return false,
                _ => {}
            }
        }
        let mut rest: Vec<&(Comparator, String)> = self
            .constraints
            .iter()
            .filter(|(op, _)| !matches!(op, Comparator::Eq | Comparator::Ne))
            .collect();
        if rest.is_empty() {
            return false;
        }
        rest.sort_by(|a, b| s.compare(&a.1, &b.1));
        let below = |op: Comparator, bound: &str| match op {
            Comparator::Lt => s.compare(version, bound) == Ordering::Less,
            Comparator::Le => s.compare(version, bound) != Ordering::Greater,
            _ => false,
        };
        let above = |op: Comparator, bound: &str| match op {
            Comparator::Gt => s.compare(version, bound) == Ordering::Greater,
            Comparator::Ge => s.compare(version, bound) != Ordering::Less,
            _ => false,
        };
        if let [(op, v)] = rest.as_slice() {
            return below(*op, v) || above(*op, v);
        }
        let last = rest.len() - 2;
        for (n, pair) in rest.windows(2).enumerate() {
            let ((cur_op, cur), (next_op, next)) = (pair[0], pair[1]);
            if n == 0 && below(*cur_op, cur) {
                return true;
            }
            if n == last && above(*next_op, next) {
                return true;
            }
            if matches!(cur_op, Comparator::Gt | Comparator::Ge)
                && matches!(next_op, Comparator::Lt | Comparator::Le)
                && above(*cur_op, cur)
                && below(*next_op, next)
            {
                return true;
            }
        }
        false
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orderings_per_ecosystem() {
        use Ordering::*;
        // PEP 440: pre-releases, post-releases, epochs, normalisation.
        assert_eq!(Scheme::Pypi.compare("1.0rc1", "1.0"), Less);
        assert_eq!(Scheme::Pypi.compare("1.0.post1", "1.0"), Greater);
        assert_eq!(Scheme::Pypi.compare("1!0.1", "2.0"), Greater);
        assert_eq!(Scheme::Pypi.compare("1.0", "1.0.0"), Equal);
        assert_eq!(Scheme::Pypi.compare("2.0.dev1", "2.0a1"), Less);
        // dpkg: epochs, tildes before anything, Debian revisions.
        assert_eq!(Scheme::Deb.compare("1:1.0", "2.0"), Greater);
        assert_eq!(Scheme::Deb.compare("1.0~rc1", "1.0"), Less);
        assert_eq!(
            Scheme::Deb.compare("1.1.1n-0+deb11u4", "1.1.1n-0+deb11u5"),
            Less
        );
        assert_eq!(
            Scheme::Deb.compare("2.36-9+deb12u3", "2.36-9+deb12u10"),
            Less
        );
        // Semantic versions: pre-releases, numeric not lexical, a leading v (Go).
        assert_eq!(Scheme::Semver.compare("1.0.0-rc.1", "1.0.0"), Less);
        assert_eq!(Scheme::Semver.compare("1.10.0", "1.9.0"), Greater);
        assert_eq!(Scheme::Semver.compare("v1.2.3", "1.2.3"), Equal);
        assert_eq!(Scheme::Semver.compare("1.0.0+build", "1.0.0"), Equal);
        // Generic.
        assert_eq!(generic_compare("2.14.1", "2.9"), Greater);
        assert_eq!(generic_compare("1.0rc1", "1.0"), Less);
        assert_eq!(generic_compare("1.0", "1.0.1"), Less);
        assert_eq!(generic_compare("2.0-beta", "2.0"), Less);
        assert_eq!(generic_compare("007", "7"), Equal);
    }

    #[test]
    fn osv_events() {
        let ev = |list: &[(&str, &str)]| {
            list.iter()
                .map(|(k, v)| match *k {
                    "introduced" => Event::Introduced(v.to_string()),
                    "fixed" => Event::Fixed(v.to_string()),
                    "last_affected" => Event::LastAffected(v.to_string()),
                    _ => Event::Limit(v.to_string()),
                })
                .collect::<Vec<_>>()
        };
        let s = Scheme::Semver;
        let r = ev(&[("introduced", "0"), ("fixed", "1.2.3")]);
        assert!(in_osv_range(s, &r, "0.0.1"));
        assert!(in_osv_range(s, &r, "1.2.3-rc.1"));
        assert!(!in_osv_range(s, &r, "1.2.3"));
        // Two intervals in one range, given out of order.
        let r = ev(&[
            ("fixed", "2.0.5"),
            ("introduced", "1.0.0"),
            ("introduced", "2.0.0"),
            ("fixed", "1.4.0"),
        ]);
        assert!(!in_osv_range(s, &r, "0.9.0"));
        assert!(in_osv_range(s, &r, "1.3.9"));
        assert!(!in_osv_range(s, &r, "1.4.0"));
        assert!(!in_osv_range(s, &r, "1.9.9"));
        assert!(in_osv_range(s, &r, "2.0.4"));
        assert!(!in_osv_range(s, &r, "2.0.5"));
        // last_affected includes its own version.
        let r = ev(&[("introduced", "1.0.0"), ("last_affected", "1.5.0")]);
        assert!(in_osv_range(s, &r, "1.5.0"));
        assert!(!in_osv_range(s, &r, "1.5.1"));
        // Introduced only: every later version.
        let r = ev(&[("introduced", "3.0.0")]);
        assert!(in_osv_range(s, &r, "99.0.0"));
        assert!(!in_osv_range(s, &r, "2.99.0"));
        // limit bounds the range.
        let r = ev(&[("introduced", "0"), ("limit", "2.0.0")]);
        assert!(in_osv_range(s, &r, "1.0.0"));
        assert!(!in_osv_range(s, &r, "2.0.0"));
    }

    #[test]
    fn vers_ranges() {
        let v = Vers::parse("vers:npm/1.2.3|>=2.0.0|<5.0.0").unwrap();
        assert!(v.contains("1.2.3"));
        assert!(!v.contains("1.2.4"));
        assert!(v.contains("2.0.0"));
        assert!(v.contains("4.9.9"));
        assert!(!v.contains("5.0.0"));
        let v = Vers::parse("vers:pypi/<1.0|>=2.0|!=2.1").unwrap();
        assert!(v.contains("0.9"));
        assert!(!v.contains("1.5"));
        assert!(v.contains("2.0.0"));
        assert!(!v.contains("2.1"));
        assert!(v.contains("3.0"));
        let v = Vers::parse("vers:deb/>=1.1.1n-0+deb11u4|<=1.1.1n-0+deb11u5").unwrap();
        assert!(v.contains("1.1.1n-0+deb11u5"));
        assert!(!v.contains("1.1.1n-0+deb11u6"));
        assert!(Vers::parse("vers:generic/*").unwrap().contains("anything"));
        assert_eq!(
            Vers::parse("vers:semver/>=1.0.0%2Bbuild")
                .unwrap()
                .constraints,
            [(Comparator::Ge, "1.0.0+build".to_string())]
        );
        assert!(Vers::parse("npm/>=1").is_err());
        assert!(Vers::parse("vers:npm/>=").is_err());
    }
}
