//! Library search: the request, the parsed query both backends translate (SQLite FTS5,
//! PostgreSQL tsvector), the answer with its facets, and what of an item is indexed.
//!
//! **Query language.** Words are all required (AND); `"double quotes"` make a phrase; a word
//! with a `/` and a digit (`57/239`, `A/RES/64/211`) is also looked up as a document symbol, and
//! a symbol match ranks above every text match. Words are stemmed (English), so
//! `infrastructure` finds `infrastructures`. Filters narrow by type, body, country and year.
//! Facet counts are over every match of the query and filters, not only the page shown.

use super::{Entity, Item, ItemType, Place};
use serde::{Deserialize, Serialize};

/// At most this many hits in one page.
pub const MAX_LIMIT: usize = 200;
/// Queries longer than this are refused.
pub const MAX_QUERY: usize = 500;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchRequest {
    pub query: String,
    #[serde(default)]
    pub types: Vec<ItemType>,
    #[serde(default)]
    pub bodies: Vec<String>,
    #[serde(default)]
    pub countries: Vec<String>,
    /// Only items of this entity.
    #[serde(default)]
    pub entity: Option<String>,
    /// Years, inclusive.
    #[serde(default)]
    pub year_from: Option<i32>,
    #[serde(default)]
    pub year_to: Option<i32>,
    pub limit: usize,
    #[serde(default)]
    pub offset: usize,
}

/// A query split into what the backends match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// Single words, each required.
    pub words: Vec<String>,
    /// Phrases, each required as consecutive words.
    pub phrases: Vec<String>,
    /// Normalised symbol keys to look up (see [`symbol_keys`]).
    pub symbols: Vec<String>,
}

impl SearchQuery {
    /// Splits a query; refuses one that is too long or has an unclosed quote.
    pub fn parse(text: &str) -> Result<SearchQuery, String> {
        if text.chars().count() > MAX_QUERY {
            return Err(format!("the query is longer than {MAX_QUERY} characters"));
        }
        if text.chars().filter(|c| *c == '"').count() % 2 == 1 {
            return Err("the query has an unclosed \" (a phrase is written \"like this\")".into());
        }
        let mut q = SearchQuery::default();
        for (i, part) in text.split('"').enumerate() {
            if i % 2 == 1 {
                let phrase = words(part).join(" ");
                if !phrase.is_empty() {
                    q.phrases.push(phrase);
                }
                continue;
            }
            for token in part.split_whitespace() {
                let token = token.trim_matches(|c: char| !c.is_alphanumeric());
                if token.contains('/') && token.chars().any(|c| c.is_ascii_digit()) {
                    q.symbols.push(normalise_symbol(token));
                    // The symbol's parts are also searched as a phrase, so 57/239 finds text
                    // that cites it.
                    let parts = words(token).join(" ");
                    if !parts.is_empty() {
                        q.phrases.push(parts);
                    }
                } else {
                    q.words.extend(words(token));
                }
            }
        }
        Ok(q)
    }

    /// Nothing to match: the request lists by its filters only.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty() && self.phrases.is_empty() && self.symbols.is_empty()
    }

    /// The FTS5 MATCH expression: every word and phrase quoted (so no query syntax can be
    /// injected), joined by AND. Symbols are looked up separately.
    pub fn fts5(&self) -> Option<String> {
        let quoted: Vec<String> = self
            .words
            .iter()
            .chain(&self.phrases)
            .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
            .collect();
        (!quoted.is_empty()).then(|| quoted.join(" AND "))
    }
}

/// Letters and digits runs, lower-cased: what both backends' tokenisers see as words.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn normalise_symbol(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase()
}

/// The keys a symbol is found by: the whole symbol and every tail of two or more `/` parts
/// (`A/RES/57/239` → `A/RES/57/239`, `RES/57/239`, `57/239`), upper-cased without spaces.
pub fn symbol_keys(symbol: &str) -> Vec<String> {
    let s = normalise_symbol(symbol);
    let parts: Vec<&str> = s.split('/').collect();
    let mut keys = vec![s.clone()];
    for start in 1..parts.len().saturating_sub(1) {
        keys.push(parts[start..].join("/"));
    }
    keys.dedup();
    keys
}

/// An item as the backends index it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedItem {
    pub entity: String,
    pub item: String,
    pub place: Place,
    pub item_type: ItemType,
    pub title: String,
    pub symbol: Option<String>,
    pub symbol_keys: Vec<String>,
    pub bodies: Vec<String>,
    pub country: Option<String>,
    pub year: Option<i32>,
    pub date: Option<String>,
    /// The summary points and dates note, one text.
    pub text: String,
    pub topics: String,
    /// The item as JSON, for `show`.
    pub doc: String,
}

/// What of an entity's items is indexed.
pub fn index_entity(entity: &Entity) -> Vec<IndexedItem> {
    entity
        .items()
        .into_iter()
        .map(|(place, item): (Place, &Item)| {
            let mut text = item.summary.join("\n");
            if let Some(note) = &item.dates_note {
                text.push('\n');
                text.push_str(note);
            }
            IndexedItem {
                entity: entity.id.clone(),
                item: item.id.clone(),
                place,
                item_type: item.item_type,
                title: item.title.clone(),
                symbol: item.symbol.clone(),
                symbol_keys: item.symbol.as_deref().map(symbol_keys).unwrap_or_default(),
                bodies: item.bodies.clone(),
                country: entity.country.clone(),
                year: item.year(),
                date: item.date.clone(),
                text,
                topics: item.topics.join(", "),
                doc: serde_json::to_string(item).unwrap_or_default(),
            }
        })
        .collect()
}

/// One search hit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub entity: String,
    pub item: String,
    pub place: String,
    #[serde(rename = "type")]
    pub item_type: String,
    pub title: String,
    pub symbol: Option<String>,
    pub bodies: Vec<String>,
    pub country: Option<String>,
    pub year: Option<i32>,
    pub date: Option<String>,
    /// True when the query named this item's symbol.
    pub symbol_match: bool,
    /// The backend's text relevance (bigger is better; comparable within one answer only).
    pub score: f64,
}

/// A facet value and how many matches have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facet {
    pub value: String,
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facets {
    #[serde(rename = "type")]
    pub types: Vec<Facet>,
    pub body: Vec<Facet>,
    pub country: Vec<Facet>,
    pub year: Vec<Facet>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SearchResults {
    pub total: u64,
    pub hits: Vec<Hit>,
    pub facets: Facets,
}

impl SearchRequest {
    /// Checks bounds; returns the parsed query.
    pub fn check(&self) -> Result<SearchQuery, String> {
        if self.limit == 0 || self.limit > MAX_LIMIT {
            return Err(format!(
                "limit {} must be between 1 and {MAX_LIMIT}",
                self.limit
            ));
        }
        if self.offset > 100_000 {
            return Err(format!(
                "offset {} is past the 100000 an answer may page to",
                self.offset
            ));
        }
        for list in [&self.bodies, &self.countries] {
            if list.len() > 50 || list.iter().any(|v| v.chars().count() > 300) {
                return Err("at most 50 filter values of at most 300 characters each".into());
            }
        }
        SearchQuery::parse(&self.query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_split_into_words_phrases_and_symbols() {
        let q =
            SearchQuery::parse(r#"57/239 "Critical information  infrastructure" privacy"#).unwrap();
        assert_eq!(q.symbols, ["57/239"]);
        assert_eq!(q.phrases, ["57 239", "critical information infrastructure"]);
        assert_eq!(q.words, ["privacy"]);
        assert_eq!(
            q.fts5().unwrap(),
            r#""privacy" AND "57 239" AND "critical information infrastructure""#
        );
        assert!(SearchQuery::parse("\"open").is_err());
        let q = SearchQuery::parse(r#"a" OR b NEAR(x"#).unwrap_err();
        assert!(q.contains("unclosed"));
        let q = SearchQuery::parse("NEAR(x) OR *").unwrap();
        assert_eq!(q.fts5().unwrap(), r#""near" AND "x" AND "or""#);
    }

    #[test]
    fn symbols_are_found_by_their_tails() {
        assert_eq!(
            symbol_keys("A/RES/57/239"),
            ["A/RES/57/239", "RES/57/239", "57/239"]
        );
        assert_eq!(
            symbol_keys("E/CN.15/2002/8"),
            ["E/CN.15/2002/8", "CN.15/2002/8", "2002/8"]
        );
    }
}
