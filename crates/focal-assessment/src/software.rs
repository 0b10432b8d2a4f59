//! Software identifiers: CPE 2.3 (and the older 2.2 URI form) and Package URLs, reduced to a
//! *package key* that assets and advisories share, a version, its ordering, and a distribution
//! release where one matters (Debian 11 and Debian 12 ship different builds of one package).
//!
//! Keys: `pkg:<type>/<namespace>/<name>` for a purl (names normalised as the type's rules say,
//! e.g. PyPI names lower-cased with `_` and `.` as `-`), `cpe:<part>:<vendor>:<product>` for a
//! CPE (lower-cased). Matching looks advisories up by this key, never by scanning.

use crate::version::Scheme;
use serde::{Deserialize, Serialize};

/// Longest identifier accepted, in bytes.
pub const MAX_SPEC_BYTES: usize = 1024;

/// One piece of software, as an asset runs it or an advisory names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Software {
    /// The identifier as given.
    pub spec: String,
    /// The package key.
    pub key: String,
    /// `None`: no version given (any version, for an advisory; unknown, for an asset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub scheme: Scheme,
    /// The distribution release (`11` for Debian 11, `3.18` for Alpine 3.18), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distro: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{spec:?}: {message}")]
pub struct SoftwareError {
    pub spec: String,
    pub message: String,
}

fn bad(spec: &str, message: impl Into<String>) -> SoftwareError {
    SoftwareError {
        spec: spec.chars().take(200).collect(),
        message: message.into(),
    }
}

impl Software {
    /// Parses a CPE (`cpe:2.3:...` or `cpe:/...`) or a Package URL (`pkg:...`).
    pub fn parse(spec: &str) -> Result<Software, SoftwareError> {
        let spec = spec.trim();
        if spec.len() > MAX_SPEC_BYTES {
            return Err(bad(spec, format!("longer than {MAX_SPEC_BYTES} bytes")));
        }
        let lower = spec.to_ascii_lowercase();
        if lower.starts_with("pkg:") {
            parse_purl(spec)
        } else if lower.starts_with("cpe:2.3:") {
            parse_cpe23(spec)
        } else if lower.starts_with("cpe:/") {
            parse_cpe22(spec)
        } else {
            Err(bad(
                spec,
                "neither a CPE 2.3 name (cpe:2.3:...), a CPE 2.2 URI (cpe:/...) nor a Package URL (pkg:...)",
            ))
        }
    }

    /// Whether this is the same package for the same distribution release (a side without a
    /// release matches any).
    pub fn same_package(&self, other: &Software) -> bool {
        self.key == other.key
            && match (&self.distro, &other.distro) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// PEP 503: runs of `-`, `_` and `.` are one `-`, lower case.
fn pypi_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut dash = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            dash = true;
        } else {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The key of a purl type, namespace and name, with the type's name rules applied.
pub fn purl_key(ty: &str, namespace: Option<&str>, name: &str) -> String {
    let ty = ty.to_ascii_lowercase();
    let (namespace, name) = match ty.as_str() {
        "pypi" => (namespace.map(str::to_string), pypi_name(name)),
        "npm" | "nuget" | "composer" | "github" | "bitbucket" | "deb" | "apk" | "gem" | "hex" => (
            namespace.map(|n| n.to_ascii_lowercase()),
            name.to_ascii_lowercase(),
        ),
        _ => (namespace.map(str::to_string), name.to_string()),
    };
    match namespace.filter(|n| !n.is_empty()) {
        Some(ns) => format!("pkg:{ty}/{ns}/{name}"),
        None => format!("pkg:{ty}/{name}"),
    }
}

fn parse_purl(spec: &str) -> Result<Software, SoftwareError> {
    let purl: packageurl::PackageUrl<'_> = spec
        .parse()
        .map_err(|e: packageurl::Error| bad(spec, format!("not a valid Package URL: {e}")))?;
    let ty = purl.ty().to_ascii_lowercase();
    let key = purl_key(&ty, purl.namespace(), purl.name());
    let distro = purl
        .qualifiers()
        .get("distro")
        .and_then(|d| normalise_release(&ty, purl.namespace(), d));
    Ok(Software {
        spec: spec.to_string(),
        key,
        version: purl.version().map(str::to_string),
        scheme: Scheme::for_purl_type(&ty),
        distro,
    })
}

/// Known Debian and Ubuntu codenames, to compare `distro=bookworm` with `Debian:12`.
const CODENAMES: &[(&str, &str)] = &[
    ("wheezy", "7"),
    ("jessie", "8"),
    ("stretch", "9"),
    ("buster", "10"),
    ("bullseye", "11"),
    ("bookworm", "12"),
    ("trixie", "13"),
    ("forky", "14"),
    ("xenial", "16.04"),
    ("bionic", "18.04"),
    ("focal", "20.04"),
    ("jammy", "22.04"),
    ("noble", "24.04"),
];

/// `debian-11`, `bullseye`, `11`, `v3.18`, `alpine-3.18` → `11` / `3.18`.
pub fn normalise_release(_ty: &str, namespace: Option<&str>, release: &str) -> Option<String> {
    let mut r = release.trim().to_ascii_lowercase();
    if let Some(ns) = namespace {
        let ns = ns.to_ascii_lowercase();
        if let Some(rest) = r.strip_prefix(&format!("{ns}-")) {
            r = rest.to_string();
        }
    }
    for prefix in ["debian-", "ubuntu-", "alpine-"] {
        if let Some(rest) = r.strip_prefix(prefix) {
            r = rest.to_string();
        }
    }
    if let Some(rest) = r.strip_prefix('v') {
        r = rest.to_string();
    }
    if let Some((_, number)) = CODENAMES.iter().find(|(name, _)| *name == r) {
        r = number.to_string();
    }
    // "22.04:LTS" (Ubuntu in OSV) → "22.04".
    if let Some((head, _)) = r.split_once(':') {
        r = head.to_string();
    }
    (!r.is_empty()).then_some(r)
}

/// Splits a CPE 2.3 formatted string on unescaped colons, removing the escapes.
fn cpe23_fields(spec: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = spec.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ':' => fields.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

fn cpe_software(
    spec: &str,
    part: &str,
    vendor: &str,
    product: &str,
    version: &str,
    update: &str,
) -> Result<Software, SoftwareError> {
    let part = part.to_ascii_lowercase();
    if !matches!(part.as_str(), "a" | "o" | "h") {
        return Err(bad(
            spec,
            format!("part {part:?} is not a (application), o (operating system) or h (hardware)"),
        ));
    }
    let specific = |v: &str| !v.is_empty() && v != "*" && v != "-";
    if !specific(vendor) || !specific(product) {
        return Err(bad(spec, "a CPE must name its vendor and product"));
    }
    let version = specific(version).then(|| {
        if specific(update) {
            format!("{version}-{update}")
        } else {
            version.to_string()
        }
    });
    Ok(Software {
        spec: spec.to_string(),
        key: format!(
            "cpe:{part}:{}:{}",
            vendor.to_ascii_lowercase(),
            product.to_ascii_lowercase()
        ),
        version,
        scheme: Scheme::Generic,
        distro: None,
    })
}

fn parse_cpe23(spec: &str) -> Result<Software, SoftwareError> {
    let f = cpe23_fields(spec);
    if f.len() != 13 {
        return Err(bad(
            spec,
            format!(
                "a CPE 2.3 name has 13 colon-separated parts (cpe:2.3:part:vendor:product:version:update:edition:language:sw_edition:target_sw:target_hw:other); this one has {}",
                f.len()
            ),
        ));
    }
    cpe_software(spec, &f[2], &f[3], &f[4], &f[5], &f[6])
}

fn parse_cpe22(spec: &str) -> Result<Software, SoftwareError> {
    let body = &spec[5..];
    let decoded = |s: &str| {
        let mut out = String::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%'
                && i + 2 < b.len()
                && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v as char);
                i += 3;
            } else {
                out.push(b[i] as char);
                i += 1;
            }
        }
        out
    };
    let f: Vec<String> = body.split(':').map(decoded).collect();
    if f.len() < 3 {
        return Err(bad(
            spec,
            "a CPE 2.2 URI has at least part, vendor and product (cpe:/a:vendor:product)",
        ));
    }
    let get = |n: usize| f.get(n).map(String::as_str).unwrap_or("");
    cpe_software(spec, get(0), get(1), get(2), get(3), get(4))
}

/// The package key, ordering and release of an OSV `affected[].package`, from its ecosystem
/// (`Debian:11`, `PyPI`, `Maven`, ...). `None` for ecosystems without a Package URL type.
pub fn osv_package(ecosystem: &str, name: &str) -> Option<(String, Scheme, Option<String>)> {
    let (base, release) = match ecosystem.split_once(':') {
        Some((b, r)) => (b, Some(r)),
        None => (ecosystem, None),
    };
    let split_last = |sep: char| match name.rsplit_once(sep) {
        Some((ns, n)) => (Some(ns), n),
        None => (None, name),
    };
    let (ty, namespace, pkg_name, scheme) = match base {
        "PyPI" => ("pypi", None, name, Scheme::Pypi),
        "npm" => {
            let (ns, n) = split_last('/');
            ("npm", ns, n, Scheme::Semver)
        }
        "crates.io" => ("cargo", None, name, Scheme::Semver),
        "Go" => {
            let (ns, n) = split_last('/');
            ("golang", ns, n, Scheme::Semver)
        }
        "Maven" => {
            let (ns, n) = split_last(':');
            ("maven", ns, n, Scheme::Generic)
        }
        "RubyGems" => ("gem", None, name, Scheme::Generic),
        "NuGet" => ("nuget", None, name, Scheme::Semver),
        "Packagist" => {
            let (ns, n) = split_last('/');
            ("composer", ns, n, Scheme::Generic)
        }
        "Hex" => ("hex", None, name, Scheme::Semver),
        "Pub" => ("pub", None, name, Scheme::Semver),
        "Debian" => ("deb", Some("debian"), name, Scheme::Deb),
        "Ubuntu" => ("deb", Some("ubuntu"), name, Scheme::Deb),
        "Alpine" => ("apk", Some("alpine"), name, Scheme::Generic),
        "SwiftURL" => ("swift", None, name, Scheme::Semver),
        _ => return None,
    };
    let key = purl_key(ty, namespace, pkg_name);
    let release = release.and_then(|r| normalise_release(ty, namespace, r));
    Some((key, scheme, release))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_purls_and_cpes() {
        let s = Software::parse("pkg:pypi/Django_REST.framework@3.14.0").unwrap();
        assert_eq!(s.key, "pkg:pypi/django-rest-framework");
        assert_eq!(s.version.as_deref(), Some("3.14.0"));
        assert_eq!(s.scheme, Scheme::Pypi);
        let s = Software::parse("pkg:npm/%40angular/core@16.0.0").unwrap();
        assert_eq!(s.key, "pkg:npm/@angular/core");
        let s = Software::parse("pkg:deb/debian/openssl@3.0.11-1~deb12u2?distro=bookworm").unwrap();
        assert_eq!(
            (s.key.as_str(), s.distro.as_deref()),
            ("pkg:deb/debian/openssl", Some("12"))
        );
        let s = Software::parse("cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*").unwrap();
        assert_eq!(s.key, "cpe:a:apache:log4j");
        assert_eq!(s.version.as_deref(), Some("2.14.1"));
        let s = Software::parse("cpe:2.3:o:microsoft:windows_10:-:*:*:*:*:*:*:*").unwrap();
        assert_eq!(s.version, None);
        let s = Software::parse(r"cpe:2.3:a:foo\:bar:baz:1.0:*:*:*:*:*:*:*").unwrap();
        assert_eq!(s.key, "cpe:a:foo:bar:baz");
        let s = Software::parse("cpe:/a:csaf-tools:cvrf-csaf-converter:1.0.0-rc1").unwrap();
        assert_eq!(s.key, "cpe:a:csaf-tools:cvrf-csaf-converter");
        assert_eq!(s.version.as_deref(), Some("1.0.0-rc1"));
    }

    #[test]
    fn osv_ecosystems_meet_purls_on_the_same_key() {
        let (k, _, r) = osv_package("Debian:12", "openssl").unwrap();
        assert_eq!(
            (k.as_str(), r.as_deref()),
            ("pkg:deb/debian/openssl", Some("12"))
        );
        let (k, _, _) = osv_package("Maven", "org.apache.logging.log4j:log4j-core").unwrap();
        assert_eq!(
            k,
            Software::parse("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1")
                .unwrap()
                .key
        );
        let (k, _, _) = osv_package("npm", "@angular/core").unwrap();
        assert_eq!(k, "pkg:npm/@angular/core");
        let (k, _, _) = osv_package("Go", "github.com/gin-gonic/gin").unwrap();
        assert_eq!(
            k,
            Software::parse("pkg:golang/github.com/gin-gonic/gin@v1.9.0")
                .unwrap()
                .key
        );
        let (_, _, r) = osv_package("Ubuntu:22.04:LTS", "openssl").unwrap();
        assert_eq!(r.as_deref(), Some("22.04"));
        assert!(osv_package("OSS-Fuzz", "icu").is_none());
    }

    #[test]
    fn malformed_identifiers_say_why() {
        for bad in [
            "openssl 3.0",
            "cpe:2.3:a:vendor:product",
            "cpe:2.3:x:vendor:product:1:*:*:*:*:*:*:*",
            "cpe:2.3:a:*:product:1:*:*:*:*:*:*:*",
            "pkg:",
            "cpe:/a",
        ] {
            let e = Software::parse(bad).unwrap_err();
            assert!(!e.message.is_empty(), "{bad}");
        }
    }
}
