//! The cyber-policy library, shaped like an entry of the UNIDIR Cyber Policy Portal: an entity
//! (a country or an organisation) with four sections, each with its lists of items.
//!
//! | section | lists |
//! |---|---|
//! | `policy` | `strategy_documents`, `other_documents` |
//! | `structure` | `agencies` (agencies and bodies, with a founding year) |
//! | `legislation` | `regulations_and_directives`, `resolutions` |
//! | `cooperation` | `meetings`, `activities`, `external_cooperation` |
//!
//! The JSON exchange format ([`LibraryFile`], documented in docs/AWARENESS.md) is read with
//! every problem reported by its path (`entities[0].legislation.resolutions[3].date`), and
//! syntax errors by line and column; nothing is stored unless the whole file is valid.

pub mod search;

pub use search::{Facet, Hit, SearchQuery, SearchRequest, SearchResults};

use crate::FieldProblem;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The `format` value of a library file.
pub const FORMAT: &str = "focal-policy-library";
/// The version of the format this build reads and writes.
pub const VERSION: u32 = 1;
/// A library file larger than this is refused before it is parsed.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
const MAX_TEXT: usize = 4_000;
const MAX_LIST: usize = 200;

/// A library file: some entities, each replacing the stored entity with its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LibraryFile {
    pub format: String,
    pub version: u32,
    pub entities: Vec<Entity>,
}

impl LibraryFile {
    pub fn new(entities: Vec<Entity>) -> Self {
        LibraryFile {
            format: FORMAT.into(),
            version: VERSION,
            entities,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Country,
    Organisation,
}

/// A country or an organisation and what the library knows of its cyber policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entity {
    /// A short stable id: lower-case letters, digits and dashes (`un`, `itu`, `de`).
    pub id: String,
    pub name: String,
    pub kind: EntityKind,
    /// ISO 3166-1 alpha-2 code, for a country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// When the entry was last brought up to date: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    pub last_updated: String,
    #[serde(default)]
    pub policy: Policy,
    #[serde(default)]
    pub structure: Structure,
    #[serde(default)]
    pub legislation: Legislation,
    #[serde(default)]
    pub cooperation: Cooperation,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub strategy_documents: Vec<Item>,
    #[serde(default)]
    pub other_documents: Vec<Item>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Structure {
    #[serde(default)]
    pub agencies: Vec<Item>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Legislation {
    #[serde(default)]
    pub regulations_and_directives: Vec<Item>,
    #[serde(default)]
    pub resolutions: Vec<Item>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cooperation {
    #[serde(default)]
    pub meetings: Vec<Item>,
    #[serde(default)]
    pub activities: Vec<Item>,
    #[serde(default)]
    pub external_cooperation: Vec<Item>,
}

/// What kind of thing an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemType {
    Strategy,
    Law,
    Resolution,
    Report,
    Standard,
    Guideline,
    Meeting,
    Programme,
    /// An agency or body (the structure section).
    Body,
}

impl ItemType {
    pub const ALL: [ItemType; 9] = [
        ItemType::Strategy,
        ItemType::Law,
        ItemType::Resolution,
        ItemType::Report,
        ItemType::Standard,
        ItemType::Guideline,
        ItemType::Meeting,
        ItemType::Programme,
        ItemType::Body,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemType::Strategy => "strategy",
            ItemType::Law => "law",
            ItemType::Resolution => "resolution",
            ItemType::Report => "report",
            ItemType::Standard => "standard",
            ItemType::Guideline => "guideline",
            ItemType::Meeting => "meeting",
            ItemType::Programme => "programme",
            ItemType::Body => "body",
        }
    }

    pub fn parse(text: &str) -> Result<ItemType, String> {
        ItemType::ALL
            .into_iter()
            .find(|t| t.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "{text:?} is not an item type ({})",
                    ItemType::ALL.map(ItemType::as_str).join(", ")
                )
            })
    }
}

/// How one item relates to another (by the other's symbol or id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelationKind {
    /// A resolution recalls an earlier one.
    Recalls,
    /// A report or body is mandated (or established) by a resolution.
    MandatedBy,
    /// A study or report was prepared pursuant to another instrument.
    PursuantTo,
    /// A body produced a report.
    Produced,
    /// Organised, supported or coordinated by a body.
    SupportedBy,
    /// Aligned with, cites or follows up another text.
    Cites,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relation {
    pub kind: RelationKind,
    /// The other item's symbol (`A/RES/56/121`) or `entity/item` id.
    pub target: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub title: String,
    pub url: String,
}

/// One document, body, meeting or programme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Unique within its entity: lower-case letters, digits and dashes.
    pub id: String,
    pub title: String,
    /// The document symbol (`A/RES/57/239`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    #[serde(rename = "type")]
    pub item_type: ItemType,
    /// Issuing or organising bodies.
    #[serde(default)]
    pub bodies: Vec<String>,
    /// The date it was adopted, issued, held or started: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The end of a period (a meeting series, a programme).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    /// Dates as the source writes them, when they are more than one date (`annually since 2006`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dates_note: Option<String>,
    /// The year a body was founded (structure section).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub founded: Option<i32>,
    /// One-line points, in the library's own words.
    #[serde(default)]
    pub summary: Vec<String>,
    #[serde(default)]
    pub topics: Vec<String>,
    #[serde(default)]
    pub links: Vec<Link>,
    #[serde(default)]
    pub relations: Vec<Relation>,
}

impl Item {
    /// The year for the year facet: of `date`, else `founded`.
    pub fn year(&self) -> Option<i32> {
        self.date
            .as_deref()
            .and_then(|d| d.get(..4))
            .and_then(|y| y.parse().ok())
            .or(self.founded)
    }
}

/// The section and list an item sits in, as `section/list` (`legislation/resolutions`).
pub type Place = &'static str;

impl Entity {
    /// Every item with its place, in file order.
    pub fn items(&self) -> Vec<(Place, &Item)> {
        let lists: [(Place, &Vec<Item>); 8] = [
            ("policy/strategy_documents", &self.policy.strategy_documents),
            ("policy/other_documents", &self.policy.other_documents),
            ("structure/agencies", &self.structure.agencies),
            (
                "legislation/regulations_and_directives",
                &self.legislation.regulations_and_directives,
            ),
            ("legislation/resolutions", &self.legislation.resolutions),
            ("cooperation/meetings", &self.cooperation.meetings),
            ("cooperation/activities", &self.cooperation.activities),
            (
                "cooperation/external_cooperation",
                &self.cooperation.external_cooperation,
            ),
        ];
        lists
            .into_iter()
            .flat_map(|(place, items)| items.iter().map(move |i| (place, i)))
            .collect()
    }

    pub fn item_count(&self) -> usize {
        self.items().len()
    }
}

/// An entity without its items, for lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntitySummary {
    pub id: String,
    pub name: String,
    pub kind: EntityKind,
    pub country: Option<String>,
    pub last_updated: String,
    pub items: u64,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    pub entities: u64,
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub items: u64,
}

/// Why a library file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LibraryError {
    #[error("{source_name}: not valid JSON at line {line}, column {column}: {message}")]
    Syntax {
        source_name: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{source_name}: {path}: {message}")]
    Shape {
        source_name: String,
        path: String,
        message: String,
    },
    #[error("{source_name}: the library is not valid:\n{}", crate::describe_problems(.problems))]
    Invalid {
        source_name: String,
        problems: Vec<FieldProblem>,
    },
    #[error(
        "{source_name}: {bytes} bytes is larger than the {MAX_FILE_BYTES} a library file may have"
    )]
    TooLarge { source_name: String, bytes: u64 },
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 80
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

/// Checks `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (a real calendar date).
pub fn check_partial_date(text: &str) -> Result<(), String> {
    let bad = || format!("{text:?} is not YYYY, YYYY-MM or YYYY-MM-DD");
    let parts: Vec<&str> = text.split('-').collect();
    let number = |p: &str, len: usize| -> Option<i32> {
        (p.len() == len && p.bytes().all(|b| b.is_ascii_digit())).then(|| p.parse().ok())?
    };
    let year = parts.first().and_then(|p| number(p, 4)).ok_or_else(bad)?;
    match parts.len() {
        1 => Ok(()),
        2 => match number(parts[1], 2) {
            Some(1..=12) => Ok(()),
            _ => Err(bad()),
        },
        3 => {
            let month = number(parts[1], 2).ok_or_else(bad)?;
            let day = number(parts[2], 2).ok_or_else(bad)?;
            jiff::civil::Date::new(year as i16, month as i8, day as i8)
                .map(|_| ())
                .map_err(|_| format!("{text:?} is not a date in the calendar"))
        }
        _ => Err(bad()),
    }
}

fn check_text(out: &mut Vec<FieldProblem>, path: &str, value: &str, required: bool) {
    if required && value.trim().is_empty() {
        out.push(FieldProblem::new(path, "must not be empty"));
    } else if value.chars().count() > MAX_TEXT {
        out.push(FieldProblem::new(
            path,
            format!("is longer than {MAX_TEXT} characters"),
        ));
    } else if value.chars().any(char::is_control) {
        out.push(FieldProblem::new(
            path,
            "contains control characters (one line only)",
        ));
    }
}

fn check_item(out: &mut Vec<FieldProblem>, path: &str, item: &Item) {
    if !is_slug(&item.id) {
        out.push(FieldProblem::new(
            format!("{path}.id"),
            format!(
                "{:?} must be lower-case letters, digits and dashes",
                item.id
            ),
        ));
    }
    check_text(out, &format!("{path}.title"), &item.title, true);
    if let Some(s) = &item.symbol {
        check_text(out, &format!("{path}.symbol"), s, true);
    }
    for (name, list) in [
        ("bodies", &item.bodies),
        ("summary", &item.summary),
        ("topics", &item.topics),
    ] {
        if list.len() > MAX_LIST {
            out.push(FieldProblem::new(
                format!("{path}.{name}"),
                format!("has more than {MAX_LIST} entries"),
            ));
        }
        for (i, v) in list.iter().enumerate() {
            check_text(out, &format!("{path}.{name}[{i}]"), v, true);
        }
    }
    for (name, date) in [("date", &item.date), ("end_date", &item.end_date)] {
        if let Some(d) = date
            && let Err(e) = check_partial_date(d)
        {
            out.push(FieldProblem::new(format!("{path}.{name}"), e));
        }
    }
    if let (Some(a), Some(b)) = (&item.date, &item.end_date)
        && b < a
    {
        out.push(FieldProblem::new(
            format!("{path}.end_date"),
            format!("{b} is before date {a}"),
        ));
    }
    if let Some(note) = &item.dates_note {
        check_text(out, &format!("{path}.dates_note"), note, true);
    }
    if let Some(y) = item.founded
        && !(1800..=2200).contains(&y)
    {
        out.push(FieldProblem::new(
            format!("{path}.founded"),
            format!("{y} is not a plausible year"),
        ));
    }
    for (i, l) in item.links.iter().enumerate() {
        check_text(out, &format!("{path}.links[{i}].title"), &l.title, true);
        if !(l.url.starts_with("https://") || l.url.starts_with("http://"))
            || l.url.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            out.push(FieldProblem::new(
                format!("{path}.links[{i}].url"),
                format!("{:?} is not an http(s) URL", l.url),
            ));
        }
    }
    for (i, r) in item.relations.iter().enumerate() {
        check_text(
            out,
            &format!("{path}.relations[{i}].target"),
            &r.target,
            true,
        );
    }
}

/// Every problem in a parsed library, each named by its path.
pub fn problems(file: &LibraryFile) -> Vec<FieldProblem> {
    let mut out = Vec::new();
    if file.format != FORMAT {
        out.push(FieldProblem::new(
            "format",
            format!("{:?} is not {FORMAT:?}", file.format),
        ));
    }
    if file.version != VERSION {
        out.push(FieldProblem::new(
            "version",
            format!(
                "{} is not a version this build reads ({VERSION})",
                file.version
            ),
        ));
    }
    let mut entity_ids = BTreeSet::new();
    for (e_at, e) in file.entities.iter().enumerate() {
        let path = format!("entities[{e_at}]");
        if !is_slug(&e.id) {
            out.push(FieldProblem::new(
                format!("{path}.id"),
                format!("{:?} must be lower-case letters, digits and dashes", e.id),
            ));
        } else if !entity_ids.insert(&e.id) {
            out.push(FieldProblem::new(
                format!("{path}.id"),
                format!("{:?} appears twice in the file", e.id),
            ));
        }
        check_text(&mut out, &format!("{path}.name"), &e.name, true);
        if let Err(m) = check_partial_date(&e.last_updated) {
            out.push(FieldProblem::new(format!("{path}.last_updated"), m));
        }
        match (&e.kind, &e.country) {
            (EntityKind::Country, None) => out.push(FieldProblem::new(
                format!("{path}.country"),
                "a country needs its ISO 3166 two-letter code",
            )),
            (_, Some(c)) if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) => {
                out.push(FieldProblem::new(
                    format!("{path}.country"),
                    format!("{c:?} is not two upper-case letters"),
                ))
            }
            _ => {}
        }
        let mut item_ids = BTreeSet::new();
        let lists: [(&str, &Vec<Item>); 8] = [
            ("policy.strategy_documents", &e.policy.strategy_documents),
            ("policy.other_documents", &e.policy.other_documents),
            ("structure.agencies", &e.structure.agencies),
            (
                "legislation.regulations_and_directives",
                &e.legislation.regulations_and_directives,
            ),
            ("legislation.resolutions", &e.legislation.resolutions),
            ("cooperation.meetings", &e.cooperation.meetings),
            ("cooperation.activities", &e.cooperation.activities),
            (
                "cooperation.external_cooperation",
                &e.cooperation.external_cooperation,
            ),
        ];
        for (list_name, items) in lists {
            for (i_at, item) in items.iter().enumerate() {
                let item_path = format!("{path}.{list_name}[{i_at}]");
                check_item(&mut out, &item_path, item);
                if is_slug(&item.id) && !item_ids.insert(&item.id) {
                    out.push(FieldProblem::new(
                        format!("{item_path}.id"),
                        format!("{:?} is used by another item of {:?}", item.id, e.id),
                    ));
                }
            }
        }
    }
    out
}

/// Reads a library file: JSON syntax (line and column), shape (path of the first bad value) and
/// content (every problem, by path). `source_name` names the input in messages.
pub fn parse(bytes: &[u8], source_name: &str) -> Result<LibraryFile, LibraryError> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(LibraryError::TooLarge {
            source_name: source_name.into(),
            bytes: bytes.len() as u64,
        });
    }
    // Syntax first, so a broken file is reported by line and column rather than by path.
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| LibraryError::Syntax {
            source_name: source_name.into(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
    let file: LibraryFile = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        LibraryError::Shape {
            source_name: source_name.into(),
            path: if path == "." {
                "(top level)".into()
            } else {
                path
            },
            message: e.into_inner().to_string(),
        }
    })?;
    let problems = problems(&file);
    if !problems.is_empty() {
        return Err(LibraryError::Invalid {
            source_name: source_name.into(),
            problems,
        });
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> LibraryFile {
        let bytes = include_bytes!("../../../../data/library/un-cyber-policy.json");
        parse(bytes, "data/library/un-cyber-policy.json").unwrap()
    }

    #[test]
    fn the_shipped_library_is_valid_and_round_trips() {
        let file = shipped();
        assert!(file.entities.iter().any(|e| e.id == "un"));
        let again = serde_json::to_vec(&file).unwrap();
        assert_eq!(parse(&again, "again").unwrap(), file);
    }

    #[test]
    fn errors_name_the_line_or_the_path() {
        let e = parse(
            b"{\n  \"format\": \"focal-policy-library\",\n  oops\n}",
            "lib.json",
        )
        .unwrap_err();
        assert!(matches!(e, LibraryError::Syntax { line: 3, .. }), "{e}");
        let e = parse(
            br#"{"format":"focal-policy-library","version":1,"entities":[{"id":"un","name":"UN","kind":"organisation","last_updated":"2019-10","legislation":{"resolutions":[{"id":"x","title":"T","type":"decree"}]}}]}"#,
            "lib.json",
        )
        .unwrap_err();
        match e {
            LibraryError::Shape { path, message, .. } => {
                assert_eq!(path, "entities[0].legislation.resolutions[0].type");
                assert!(message.contains("decree"), "{message}");
            }
            other => panic!("{other}"),
        }
        let e = parse(
            br#"{"format":"focal-policy-library","version":1,"entities":[{"id":"un","name":"UN","kind":"organisation","last_updated":"2019-13","policy":{"other_documents":[{"id":"a","title":"T","type":"report","date":"2013-02-30"},{"id":"a","title":"U","type":"report"}]}}]}"#,
            "lib.json",
        )
        .unwrap_err();
        let LibraryError::Invalid { problems, .. } = e else {
            panic!("{e}")
        };
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "entities[0].last_updated",
                "entities[0].policy.other_documents[0].date",
                "entities[0].policy.other_documents[1].id"
            ]
        );
    }
}
