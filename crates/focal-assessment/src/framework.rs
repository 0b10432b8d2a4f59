//! Frameworks as data: the schema of a framework file (`focal-framework/1`, TOML or JSON), its
//! loading with precise errors, and the frameworks shipped in the repository's `frameworks/`.
//!
//! A framework is sections of items; an item may have one level of sub-items, whose answers make
//! up the item's score (partial credit). Every item is answered on the framework's one scale.
//! The schema is documented in docs/ASSESSMENT.md; a fact about a framework is written once, in
//! its file, and everything else (which items exist, their order, weights, targets) is read from
//! there.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

/// The `format` value every framework file carries, so that a later schema can be told apart.
pub const FORMAT: &str = "focal-framework/1";
/// The answer value meaning "does not apply to this subject": left out of every score.
pub const NOT_APPLICABLE: &str = "n/a";
/// Largest framework file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 1 << 20;
/// Most items (sub-items included) one framework may have.
pub const MAX_ITEMS: usize = 5_000;
/// Longest id (framework, section, item, level), in bytes.
pub const MAX_ID_BYTES: usize = 64;

/// Whether a text is the source's own wording or a summary of it. A summary must never be shown
/// as a quotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextKind {
    Verbatim,
    Summary,
}

impl TextKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TextKind::Verbatim => "verbatim",
            TextKind::Summary => "summary",
        }
    }
}

/// Whom a framework assesses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectRule {
    Organisation,
    Country,
    Any,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Framework {
    /// Always [`FORMAT`].
    pub format: String,
    /// A stable identifier: lower-case letters, digits, `.`, `_` and `-`.
    pub id: String,
    /// The framework's own version or edition; an assessment names id and version.
    pub version: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_title: Option<String>,
    pub subject: SubjectRule,
    /// Months from completion to the next assessment's due date (our default, not the source's).
    pub reassess_months: u32,
    pub source: Source,
    pub scale: Scale,
    /// Named score bands (lowest `min` first or in any order), e.g. the GCI tiers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bands: Vec<Band>,
    pub sections: Vec<Section>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Where the content comes from, as a reader would cite it.
    pub citation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Whether item texts are verbatim or summaries, unless an item says otherwise.
    pub text_kind: TextKind,
    /// How sure the extraction is, what was checked against what.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    pub name: String,
    /// From the lowest to the highest, each with its points.
    pub levels: Vec<Level>,
    /// The level every item aims for unless it names its own target; the highest if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_target: Option<String>,
    /// Whether the level descriptions are the source's wording.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_kind: Option<TextKind>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Level {
    pub id: String,
    pub label: String,
    pub points: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// Lowest overall score (0..=100) in the band.
    pub min: f64,
    pub name: String,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default = "one")]
    pub weight: f64,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Unique across the whole framework (answers are keyed by it).
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_kind: Option<TextKind>,
    #[serde(default = "one")]
    pub weight: f64,
    /// This item's target level, instead of the scale's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Our own hint for answering (never the source's text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance: Option<String>,
    /// Parts answered separately; the item's score is theirs combined. One level only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subitems: Vec<Item>,
}

/// One thing wrong with a framework file: where in the document, and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The path inside the document, such as `sections[2].items[0].weight` (`.` for the whole).
    pub path: String,
    /// The line in the file, where the parser could tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub message: String,
}

/// A framework file that cannot be used, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
pub struct FrameworkError {
    pub file: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for FrameworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, p) in self.problems.iter().enumerate() {
            if n > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.file)?;
            if let Some(line) = p.line {
                write!(f, ":{line}")?;
            }
            write!(f, ": {}: {}", p.path, p.message)?;
        }
        Ok(())
    }
}

/// The syntax of a framework file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Syntax {
    Toml,
    Json,
}

impl Syntax {
    /// JSON when the first non-blank character opens an object, else TOML.
    pub fn detect(text: &str) -> Syntax {
        if text.trim_start().starts_with('{') {
            Syntax::Json
        } else {
            Syntax::Toml
        }
    }
}

/// An answerable item in framework order: a plain item or a sub-item.
#[derive(Debug, Clone, Copy)]
pub struct Leaf<'a> {
    pub section: &'a Section,
    /// The item this is a sub-item of, if it is one.
    pub parent: Option<&'a Item>,
    pub item: &'a Item,
}

impl Framework {
    /// Reads and checks a framework file's text. `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Framework, FrameworkError> {
        let fail = |problems| FrameworkError {
            file: file.to_string(),
            problems,
        };
        if text.len() > MAX_FILE_BYTES {
            return Err(fail(vec![Problem {
                path: ".".into(),
                line: None,
                message: format!(
                    "the file has {} bytes; at most {MAX_FILE_BYTES} are accepted",
                    text.len()
                ),
            }]));
        }
        let framework: Framework = match Syntax::detect(text) {
            Syntax::Json => {
                let mut de = serde_json::Deserializer::from_str(text);
                serde_path_to_error::deserialize(&mut de).map_err(|e| {
                    let line = e.inner().line();
                    fail(vec![Problem {
                        path: path_text(e.path()),
                        line: (line > 0).then_some(line),
                        message: strip_position(&e.inner().to_string()),
                    }])
                })?
            }
            Syntax::Toml => {
                let de = toml::Deserializer::parse(text).map_err(|e| {
                    fail(vec![Problem {
                        path: ".".into(),
                        line: e.span().map(|s| line_of(text, s.start)),
                        message: e.message().trim().to_string(),
                    }])
                })?;
                serde_path_to_error::deserialize(de).map_err(|e| {
                    fail(vec![Problem {
                        path: path_text(e.path()),
                        line: e.inner().span().map(|s| line_of(text, s.start)),
                        message: e.inner().message().trim().to_string(),
                    }])
                })?
            }
        };
        let problems = framework.problems();
        if problems.is_empty() {
            Ok(framework)
        } else {
            Err(fail(problems))
        }
    }

    /// Everything wrong with the framework's content (the syntax being right).
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut say = |path: String, message: String| {
            out.push(Problem {
                path,
                line: None,
                message,
            })
        };
        if self.format != FORMAT {
            say(
                "format".into(),
                format!("is {:?}; this Focal reads {FORMAT:?}", self.format),
            );
        }
        if let Some(m) = id_problem(&self.id) {
            say("id".into(), m);
        }
        text_problem(&mut say, "version", &self.version, MAX_ID_BYTES);
        text_problem(&mut say, "title", &self.title, 512);
        text_problem(&mut say, "source.citation", &self.source.citation, 2048);
        if !(1..=120).contains(&self.reassess_months) {
            say(
                "reassess_months".into(),
                format!("is {}; it must be 1 to 120", self.reassess_months),
            );
        }
        // The scale.
        let levels = &self.scale.levels;
        if levels.len() < 2 {
            say(
                "scale.levels".into(),
                format!("has {} level(s); a scale needs at least 2", levels.len()),
            );
        }
        let mut seen_levels: HashMap<&str, usize> = HashMap::new();
        for (n, level) in levels.iter().enumerate() {
            let path = format!("scale.levels[{n}]");
            if level.id == NOT_APPLICABLE {
                say(
                    format!("{path}.id"),
                    format!("{NOT_APPLICABLE:?} is reserved for \"does not apply\""),
                );
            } else if let Some(m) = id_problem(&level.id) {
                say(format!("{path}.id"), m);
            }
            if let Some(first) = seen_levels.insert(&level.id, n) {
                say(
                    format!("{path}.id"),
                    format!(
                        "duplicate level id {:?} (first at scale.levels[{first}])",
                        level.id
                    ),
                );
            }
            text_problem(&mut say, &format!("{path}.label"), &level.label, 128);
            if !level.points.is_finite() {
                say(format!("{path}.points"), "must be a finite number".into());
            }
        }
        let (low, high) = self.points_range();
        if levels.len() >= 2 && high.partial_cmp(&low) != Some(std::cmp::Ordering::Greater) {
            say(
                "scale.levels".into(),
                "every level has the same points; a scale must separate low from high".into(),
            );
        }
        let level_known = |id: &str| levels.iter().any(|l| l.id == id);
        if let Some(t) = &self.scale.default_target
            && !level_known(t)
        {
            say(
                "scale.default_target".into(),
                format!("{t:?} is not a level of the scale"),
            );
        }
        for (n, band) in self.bands.iter().enumerate() {
            if !(0.0..=100.0).contains(&band.min) {
                say(
                    format!("bands[{n}].min"),
                    format!("is {}; it must be 0 to 100", band.min),
                );
            }
            text_problem(&mut say, &format!("bands[{n}].name"), &band.name, 128);
            if let Some(m) = self.bands[..n].iter().position(|b| b.min == band.min) {
                say(
                    format!("bands[{n}].min"),
                    format!("{} is also the minimum of bands[{m}]", band.min),
                );
            }
        }
        // Sections and items.
        if self.sections.is_empty() {
            say(
                "sections".into(),
                "a framework needs at least one section".into(),
            );
        }
        let mut section_ids: HashMap<&str, usize> = HashMap::new();
        let mut item_ids: HashMap<String, String> = HashMap::new();
        let mut count = 0usize;
        let mut total_weight = 0.0;
        for (s, section) in self.sections.iter().enumerate() {
            let path = format!("sections[{s}]");
            if let Some(m) = id_problem(&section.id) {
                say(format!("{path}.id"), m);
            }
            if let Some(first) = section_ids.insert(&section.id, s) {
                say(
                    format!("{path}.id"),
                    format!(
                        "duplicate section id {:?} (first at sections[{first}])",
                        section.id
                    ),
                );
            }
            text_problem(&mut say, &format!("{path}.title"), &section.title, 512);
            weight_problem(&mut say, &format!("{path}.weight"), section.weight);
            total_weight += section.weight.max(0.0);
            if section.items.is_empty() {
                say(
                    format!("{path}.items"),
                    "a section needs at least one item".into(),
                );
            }
            let mut section_weight = 0.0;
            for (i, item) in section.items.iter().enumerate() {
                let path = format!("{path}.items[{i}]");
                section_weight += item.weight.max(0.0);
                let mut check_item =
                    |item: &Item, path: &str, say: &mut dyn FnMut(String, String)| {
                        count += 1;
                        if let Some(m) = id_problem(&item.id) {
                            say(format!("{path}.id"), m);
                        }
                        if let Some(first) = item_ids.get(item.id.as_str()) {
                            say(
                                format!("{path}.id"),
                                format!("duplicate item id {:?} (first at {first})", item.id),
                            );
                        } else {
                            item_ids.insert(item.id.clone(), path.to_string());
                        }
                        if item.text.trim().is_empty() {
                            say(format!("{path}.text"), "is empty".into());
                        } else if item.text.len() > 8192 {
                            say(format!("{path}.text"), "is longer than 8192 bytes".into());
                        }
                        weight_problem(say, &format!("{path}.weight"), item.weight);
                        if let Some(t) = &item.target
                            && !level_known(t)
                        {
                            say(
                                format!("{path}.target"),
                                format!("{t:?} is not a level of the scale"),
                            );
                        }
                    };
                check_item(item, &path, &mut say);
                let mut sub_weight = 0.0;
                for (k, sub) in item.subitems.iter().enumerate() {
                    let sub_path = format!("{path}.subitems[{k}]");
                    check_item(sub, &sub_path, &mut say);
                    sub_weight += sub.weight.max(0.0);
                    if !sub.subitems.is_empty() {
                        say(
                            format!("{sub_path}.subitems"),
                            "sub-items cannot have sub-items of their own (one level only)".into(),
                        );
                    }
                }
                if !item.subitems.is_empty() && sub_weight <= 0.0 {
                    say(
                        format!("{path}.subitems"),
                        "the sub-items' weights add up to 0, so the item could never score".into(),
                    );
                }
            }
            if !section.items.is_empty() && section_weight <= 0.0 {
                say(
                    format!("{path}.items"),
                    "the items' weights add up to 0, so the section could never score".into(),
                );
            }
        }
        if !self.sections.is_empty() && total_weight <= 0.0 {
            say(
                "sections".into(),
                "the sections' weights add up to 0, so nothing could score".into(),
            );
        }
        if count > MAX_ITEMS {
            say(
                "sections".into(),
                format!("{count} items and sub-items; at most {MAX_ITEMS} are accepted"),
            );
        }
        out
    }

    /// The lowest and highest points of the scale.
    pub fn points_range(&self) -> (f64, f64) {
        let points = self.scale.levels.iter().map(|l| l.points);
        let low = points.clone().fold(f64::INFINITY, f64::min);
        let high = points.fold(f64::NEG_INFINITY, f64::max);
        (low, high)
    }

    pub fn level(&self, id: &str) -> Option<&Level> {
        self.scale.levels.iter().find(|l| l.id == id)
    }

    /// A level's points on 0..=1: 0 for the scale's lowest points, 1 for its highest.
    pub fn normalised(&self, level: &str) -> Option<f64> {
        let (low, high) = self.points_range();
        self.level(level).map(|l| (l.points - low) / (high - low))
    }

    /// The level an item aims for: its own target, else the scale's default, else the highest.
    pub fn default_target_of<'a>(&'a self, item: &'a Item) -> &'a str {
        if let Some(t) = &item.target {
            return t;
        }
        if let Some(t) = &self.scale.default_target {
            return t;
        }
        self.scale
            .levels
            .iter()
            .max_by(|a, b| a.points.total_cmp(&b.points))
            .map(|l| l.id.as_str())
            .unwrap_or_default()
    }

    /// The answerable items (plain items and sub-items; not items that have sub-items), in
    /// document order.
    pub fn leaves(&self) -> Vec<Leaf<'_>> {
        let mut out = Vec::new();
        for section in &self.sections {
            for item in &section.items {
                if item.subitems.is_empty() {
                    out.push(Leaf {
                        section,
                        parent: None,
                        item,
                    });
                } else {
                    for sub in &item.subitems {
                        out.push(Leaf {
                            section,
                            parent: Some(item),
                            item: sub,
                        });
                    }
                }
            }
        }
        out
    }

    /// The answerable item with this id.
    pub fn leaf(&self, id: &str) -> Option<Leaf<'_>> {
        self.leaves().into_iter().find(|l| l.item.id == id)
    }

    /// Whether this item's text is the source's wording.
    pub fn text_kind_of(&self, item: &Item) -> TextKind {
        item.text_kind.unwrap_or(self.source.text_kind)
    }

    /// The band an overall score falls in (the one with the highest `min` not above it).
    pub fn band_of(&self, score: f64) -> Option<&Band> {
        self.bands
            .iter()
            .filter(|b| b.min <= score)
            .max_by(|a, b| a.min.total_cmp(&b.min))
    }

    /// The SHA-256 of the framework's canonical JSON: two files with the same content (in TOML
    /// or JSON, formatted any way) have the same digest.
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(sha2::Sha256::digest(&canonical))
    }
}

fn id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        return Some("is empty".into());
    }
    if id.len() > MAX_ID_BYTES {
        return Some(format!("is longer than {MAX_ID_BYTES} bytes"));
    }
    let ok = id.chars().all(|c| {
        c.is_ascii_lowercase() || c.is_ascii_uppercase() || c.is_ascii_digit() || "._-/".contains(c)
    });
    (!ok).then(|| format!("{id:?} may hold only ASCII letters, digits, '.', '_', '-' and '/'"))
}

fn text_problem(say: &mut dyn FnMut(String, String), path: &str, text: &str, max: usize) {
    if text.trim().is_empty() {
        say(path.to_string(), "is empty".into());
    } else if text.len() > max {
        say(path.to_string(), format!("is longer than {max} bytes"));
    }
}

fn weight_problem(say: &mut dyn FnMut(String, String), path: &str, weight: f64) {
    if !weight.is_finite() || weight < 0.0 {
        say(
            path.to_string(),
            format!("is {weight}; a weight must be a finite number, 0 or more"),
        );
    }
}

fn path_text(path: &serde_path_to_error::Path) -> String {
    let text = path.to_string();
    if text.is_empty() { ".".into() } else { text }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// serde_json appends " at line L column C"; the line is reported on its own.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// The frameworks shipped in the repository's `frameworks/` folder, compiled in.
pub const BUILTIN_FILES: &[(&str, &str)] = &[
    (
        "un-ares-57-239.toml",
        include_str!("../../../frameworks/un-ares-57-239.toml"),
    ),
    (
        "un-ares-64-211.toml",
        include_str!("../../../frameworks/un-ares-64-211.toml"),
    ),
    (
        "un-ares-58-199.toml",
        include_str!("../../../frameworks/un-ares-58-199.toml"),
    ),
    (
        "itu-gci.toml",
        include_str!("../../../frameworks/itu-gci.toml"),
    ),
    (
        "gcscc-cmm-2021.toml",
        include_str!("../../../frameworks/gcscc-cmm-2021.toml"),
    ),
    (
        "nist-csf-2.0.toml",
        include_str!("../../../frameworks/nist-csf-2.0.toml"),
    ),
];

/// The shipped frameworks, parsed. They are checked by the tests, so a failure here is a
/// broken build, reported rather than panicking.
pub fn builtin() -> Result<Vec<Framework>, FrameworkError> {
    BUILTIN_FILES
        .iter()
        .map(|(name, text)| Framework::parse(&format!("frameworks/{name}"), text))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_framework_loads_and_keeps_its_counts() {
        let all = builtin().unwrap();
        let count = |id: &str| {
            let f = all.iter().find(|f| f.id == id).unwrap();
            (f.sections.len(), f.leaves().len())
        };
        assert_eq!(count("un-ares-57-239"), (1, 9));
        // 18 items, item 5 answered through its four sub-items.
        assert_eq!(count("un-ares-64-211"), (7, 21));
        assert_eq!(count("un-ares-58-199"), (1, 11));
        assert_eq!(count("itu-gci"), (5, 18));
        assert_eq!(count("gcscc-cmm-2021"), (5, 23));
        assert_eq!(count("nist-csf-2.0"), (6, 22));
    }

    #[test]
    fn texts_are_marked_verbatim_or_summary_as_their_sources_allow() {
        let all = builtin().unwrap();
        let kind = |id: &str| all.iter().find(|f| f.id == id).unwrap().source.text_kind;
        assert_eq!(kind("un-ares-57-239"), TextKind::Verbatim);
        assert_eq!(kind("un-ares-64-211"), TextKind::Summary);
        assert_eq!(kind("un-ares-58-199"), TextKind::Summary);
        assert_eq!(kind("itu-gci"), TextKind::Summary);
        let f = all.iter().find(|f| f.id == "un-ares-57-239").unwrap();
        let awareness = f.leaf("a").unwrap().item;
        assert_eq!(awareness.title.as_deref(), Some("Awareness"));
        assert_eq!(
            awareness.text,
            "Participants should be aware of the need for security of information systems and networks and what they can do to enhance security;"
        );
    }

    #[test]
    fn the_same_framework_in_json_parses_to_the_same_value() {
        let toml_text = BUILTIN_FILES[0].1;
        let f = Framework::parse("a.toml", toml_text).unwrap();
        let json = serde_json::to_string_pretty(&f).unwrap();
        let g = Framework::parse("a.json", &json).unwrap();
        assert_eq!(f, g);
        assert_eq!(f.digest(), g.digest());
    }
}
