//! The risk register: assets (ICT systems and the software they run), threats, vulnerabilities
//! and risks, each risk rated likelihood × impact on [`RISK_SCALE`], compared with its acceptable
//! level, treated (accept, mitigate, transfer, avoid), linked to the framework items that are its
//! controls, and reviewed by a date.

use crate::software::Software;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// The scale every risk is rated on, as shown with every rating.
pub const RISK_SCALE: &str = "likelihood 1-5 (1 rare, 2 unlikely, 3 possible, 4 likely, 5 almost certain) x impact 1-5 (1 negligible, 2 minor, 3 moderate, 4 major, 5 severe) = level 1-25; bands: 1-4 low, 5-9 medium, 10-16 high, 17-25 critical (Focal's scale)";
pub const LIKELIHOOD: [&str; 5] = ["rare", "unlikely", "possible", "likely", "almost certain"];
pub const IMPACT: [&str; 5] = ["negligible", "minor", "moderate", "major", "severe"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Criticality {
    Low,
    Medium,
    High,
    Critical,
}

impl Criticality {
    pub fn as_str(self) -> &'static str {
        match self {
            Criticality::Low => "low",
            Criticality::Medium => "medium",
            Criticality::High => "high",
            Criticality::Critical => "critical",
        }
    }
    pub fn parse(s: &str) -> Option<Criticality> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Some(Criticality::Low),
            "medium" => Some(Criticality::Medium),
            "high" => Some(Criticality::High),
            "critical" => Some(Criticality::Critical),
            _ => None,
        }
    }
}

/// An ICT system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    pub id: String,
    pub name: String,
    /// The organisation that runs it (a constituent's name, or one's own).
    pub organisation: String,
    /// The constituent id, when the organisation is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constituent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub criticality: Criticality,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub software: Vec<Software>,
}

/// An asset as text, the way a CSV row or a form holds it (software identifiers separated by
/// whitespace).
#[derive(Debug, Clone, Copy, Default)]
pub struct AssetText<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub organisation: &'a str,
    pub constituent: &'a str,
    pub owner: &'a str,
    pub criticality: &'a str,
    pub software: &'a str,
    pub description: &'a str,
}

/// One piece of software on one asset (what the matcher indexes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    pub asset: String,
    pub organisation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constituent: Option<String>,
    pub software: Software,
}

/// A refused asset value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct AssetError {
    pub field: &'static str,
    pub message: String,
}

/// Most software entries on one asset.
pub const MAX_SOFTWARE: usize = 10_000;

impl Asset {
    /// Builds an asset from text values (a CSV row, a command line), checking each.
    pub fn from_text(text: &AssetText<'_>) -> Result<Asset, AssetError> {
        let AssetText {
            id,
            name,
            organisation,
            constituent,
            owner,
            criticality,
            software,
            description,
        } = *text;
        let e = |field, message: String| AssetError { field, message };
        let id = id.trim();
        if id.is_empty()
            || id.len() > 128
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-:/".contains(c))
        {
            return Err(e(
                "id",
                format!("{id:?} must be 1 to 128 ASCII letters, digits or . _ - : /"),
            ));
        }
        let name = name.trim();
        if name.is_empty() || name.len() > 256 {
            return Err(e("name", "must be 1 to 256 bytes".into()));
        }
        let organisation = organisation.trim();
        if organisation.is_empty() || organisation.len() > 256 {
            return Err(e("organisation", "must be 1 to 256 bytes".into()));
        }
        let criticality = Criticality::parse(criticality).ok_or_else(|| {
            e(
                "criticality",
                format!("{criticality:?} is not low, medium, high or critical"),
            )
        })?;
        let mut list = Vec::new();
        for spec in software.split_whitespace() {
            let s = Software::parse(spec).map_err(|x| e("software", x.to_string()))?;
            if !list.contains(&s) {
                list.push(s);
            }
        }
        if list.len() > MAX_SOFTWARE {
            return Err(e(
                "software",
                format!("{} entries; at most {MAX_SOFTWARE}", list.len()),
            ));
        }
        let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        Ok(Asset {
            id: id.to_string(),
            name: name.to_string(),
            organisation: organisation.to_string(),
            constituent: opt(constituent),
            owner: opt(owner),
            criticality,
            description: description.trim().to_string(),
            software: list,
        })
    }
}

/// Reads an asset inventory CSV with the header
/// `id,name,organisation,constituent,owner,criticality,software[,description]` (software
/// identifiers separated by spaces). All or nothing: every bad row is reported with its line and
/// field.
pub fn parse_assets_csv(file: &str, text: &str) -> Result<Vec<Asset>, Vec<String>> {
    let mut problems = Vec::new();
    let mut out = Vec::new();
    let mut seen = std::collections::HashMap::new();
    let mut lines = text.lines().enumerate();
    let header: Vec<String> = match lines.next() {
        Some((_, h)) => split_csv(h)
            .into_iter()
            .map(|c| c.trim().to_string())
            .collect(),
        None => return Err(vec![format!("{file}: the file is empty")]),
    };
    let expected = [
        "id",
        "name",
        "organisation",
        "constituent",
        "owner",
        "criticality",
        "software",
    ];
    if header.len() < expected.len() || header[..expected.len()] != expected {
        return Err(vec![format!(
            "{file}:1: the header must start with {}",
            expected.join(",")
        )]);
    }
    for (n, line) in lines {
        let line_no = n + 1;
        if line.trim().is_empty() {
            continue;
        }
        let cols = split_csv(line);
        if cols.len() < expected.len() || cols.len() > header.len() {
            problems.push(format!(
                "{file}:{line_no}: {} columns; the header has {}",
                cols.len(),
                header.len()
            ));
            continue;
        }
        let col = |i: usize| cols.get(i).map(String::as_str).unwrap_or("");
        match Asset::from_text(&AssetText {
            id: col(0),
            name: col(1),
            organisation: col(2),
            constituent: col(3),
            owner: col(4),
            criticality: col(5),
            software: col(6),
            description: col(7),
        }) {
            Ok(a) => {
                if let Some(first) = seen.insert(a.id.clone(), line_no) {
                    problems.push(format!(
                        "{file}:{line_no}: id: {:?} is also on line {first}",
                        a.id
                    ));
                }
                out.push(a);
            }
            Err(e) => problems.push(format!("{file}:{line_no}: {e}")),
        }
        if problems.len() > 100 {
            problems.push(format!("{file}: stopped after 100 problems"));
            break;
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Splits one CSV line (RFC 4180 quoting; no line breaks inside fields).
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.is_empty() => quoted = true,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// A threat or a vulnerability in the register (not an advisory's: one a person describes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    Threat,
    Vulnerability,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Threat => "threat",
            EntryKind::Vulnerability => "vulnerability",
        }
    }
    pub fn parse(s: &str) -> Option<EntryKind> {
        match s {
            "threat" => Some(EntryKind::Threat),
            "vulnerability" => Some(EntryKind::Vulnerability),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterEntry {
    pub id: i64,
    pub kind: EntryKind,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The asset it concerns, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    /// A CVE or other reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Treatment {
    Accept,
    Mitigate,
    Transfer,
    Avoid,
}

impl Treatment {
    pub fn as_str(self) -> &'static str {
        match self {
            Treatment::Accept => "accept",
            Treatment::Mitigate => "mitigate",
            Treatment::Transfer => "transfer",
            Treatment::Avoid => "avoid",
        }
    }
    pub fn parse(s: &str) -> Option<Treatment> {
        match s {
            "accept" => Some(Treatment::Accept),
            "mitigate" => Some(Treatment::Mitigate),
            "transfer" => Some(Treatment::Transfer),
            "avoid" => Some(Treatment::Avoid),
            _ => None,
        }
    }
}

/// A control: a framework item that treats the risk.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Control {
    pub framework: String,
    pub item: String,
}

/// A risk as written by a person (everything but its id and history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskDraft {
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vulnerability: Option<i64>,
    pub likelihood: u8,
    pub impact: u8,
    /// The highest level (1-25) accepted without treatment.
    pub acceptable: u8,
    pub treatment: Treatment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_due: Option<Date>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<Control>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Risk {
    pub id: i64,
    #[serde(flatten)]
    pub draft: RiskDraft,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A risk's level and band on [`RISK_SCALE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rating {
    pub level: u8,
    pub band: &'static str,
    pub acceptable: u8,
    /// Above its acceptable level.
    pub exceeds_appetite: bool,
}

impl RiskDraft {
    /// Checks the values a person gave.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.title.trim().is_empty() || self.title.len() > 512 {
            out.push("title: must be 1 to 512 bytes".to_string());
        }
        if !(1..=5).contains(&self.likelihood) {
            out.push(format!(
                "likelihood: {} is not on the scale 1-5",
                self.likelihood
            ));
        }
        if !(1..=5).contains(&self.impact) {
            out.push(format!("impact: {} is not on the scale 1-5", self.impact));
        }
        if !(1..=25).contains(&self.acceptable) {
            out.push(format!(
                "acceptable: {} is not a level 1-25",
                self.acceptable
            ));
        }
        out
    }

    pub fn rating(&self) -> Rating {
        let level = self.likelihood.saturating_mul(self.impact);
        Rating {
            level,
            band: band(level),
            acceptable: self.acceptable,
            exceeds_appetite: level > self.acceptable,
        }
    }
}

pub fn band(level: u8) -> &'static str {
    match level {
        0..=4 => "low",
        5..=9 => "medium",
        10..=16 => "high",
        _ => "critical",
    }
}

/// Risks counted per likelihood (rows, 5 first) × impact (columns, 1 first).
pub fn heat_map(risks: &[Risk]) -> [[u32; 5]; 5] {
    let mut grid = [[0u32; 5]; 5];
    for r in risks {
        let (l, i) = (r.draft.likelihood, r.draft.impact);
        if (1..=5).contains(&l) && (1..=5).contains(&i) {
            grid[5 - l as usize][i as usize - 1] += 1;
        }
    }
    grid
}
