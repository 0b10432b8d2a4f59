//! Policy-library search latency over generated documents, on SQLite (FTS5) and, when
//! `FOCAL_BENCH_POSTGRES` names a database, on PostgreSQL (tsvector + GIN).
//!
//! `FOCAL_BENCH_DOCS` documents (default 100,000) are generated deterministically: 100 entities,
//! titles and summaries from a fixed vocabulary, one item in 50 with the phrase "critical
//! information infrastructure", every resolution with an `A/RES/<session>/<number>` symbol.
//! Run with `bench/library.sh` (which prints the full command); the numbers go to BENCHMARKS.md.

use criterion::{Criterion, criterion_group, criterion_main};
use focal_awareness::library::{
    Cooperation, Entity, EntityKind, Item, ItemType, Legislation, Policy, SearchRequest, Structure,
};
use focal_awareness::store::LibraryStore;
use std::hint::black_box;

const WORDS: [&str; 40] = [
    "security",
    "cyber",
    "network",
    "incident",
    "response",
    "cooperation",
    "capacity",
    "building",
    "norms",
    "state",
    "behaviour",
    "privacy",
    "rights",
    "crime",
    "law",
    "enforcement",
    "evidence",
    "strategy",
    "national",
    "regional",
    "international",
    "development",
    "awareness",
    "risk",
    "assessment",
    "resilience",
    "critical",
    "infrastructure",
    "protection",
    "standard",
    "report",
    "expert",
    "group",
    "programme",
    "training",
    "exchange",
    "information",
    "telecommunications",
    "governance",
    "confidence",
];
const TYPES: [ItemType; 6] = [
    ItemType::Resolution,
    ItemType::Report,
    ItemType::Strategy,
    ItemType::Law,
    ItemType::Meeting,
    ItemType::Programme,
];

/// A small deterministic generator (xorshift), so every run indexes the same documents.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn words(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| WORDS[(self.next() % WORDS.len() as u64) as usize])
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn generate(docs: usize) -> Vec<Entity> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let entities = 100;
    (0..entities)
        .map(|e| {
            let mut resolutions = Vec::new();
            let mut others = Vec::new();
            for i in 0..docs / entities {
                let n = e * (docs / entities) + i;
                let item_type = TYPES[(rng.next() % TYPES.len() as u64) as usize];
                let mut summary = vec![rng.words(12), rng.words(10)];
                if n.is_multiple_of(50) {
                    summary.push(format!(
                        "{} critical information infrastructure {}",
                        rng.words(3),
                        rng.words(3)
                    ));
                }
                let item = Item {
                    id: format!("item-{n}"),
                    title: rng.words(7),
                    symbol: (item_type == ItemType::Resolution)
                        .then(|| format!("A/RES/{}/{}", 40 + n % 40, n)),
                    item_type,
                    bodies: vec![format!("Body {}", rng.next() % 200)],
                    date: Some(format!(
                        "{}-{:02}-{:02}",
                        1990 + n % 35,
                        1 + n % 12,
                        1 + n % 28
                    )),
                    end_date: None,
                    dates_note: None,
                    founded: None,
                    summary,
                    topics: vec![rng.words(2)],
                    links: vec![],
                    relations: vec![],
                };
                if item_type == ItemType::Resolution {
                    resolutions.push(item);
                } else {
                    others.push(item);
                }
            }
            Entity {
                id: format!("entity-{e}"),
                name: format!("Entity {e}"),
                kind: if e.is_multiple_of(2) {
                    EntityKind::Country
                } else {
                    EntityKind::Organisation
                },
                country: e.is_multiple_of(2).then(|| {
                    format!(
                        "{}{}",
                        (b'A' + (e / 26) as u8) as char,
                        (b'A' + (e % 26) as u8) as char
                    )
                }),
                last_updated: "2026-11".into(),
                policy: Policy {
                    strategy_documents: vec![],
                    other_documents: others,
                },
                structure: Structure::default(),
                legislation: Legislation {
                    regulations_and_directives: vec![],
                    resolutions,
                },
                cooperation: Cooperation::default(),
            }
        })
        .collect()
}

fn queries(symbol_tail: &str) -> Vec<(&'static str, SearchRequest)> {
    let q = |text: &str| SearchRequest {
        query: text.into(),
        limit: 20,
        ..Default::default()
    };
    vec![
        ("symbol (its last two parts)", q(symbol_tail)),
        (
            "phrase critical information infrastructure",
            q("\"critical information infrastructure\""),
        ),
        ("one common word", q("security")),
        ("two words", q("privacy enforcement")),
        (
            "type and year filter",
            SearchRequest {
                types: vec![ItemType::Resolution],
                year_from: Some(2002),
                year_to: Some(2002),
                ..q("")
            },
        ),
        (
            "word + country filter",
            SearchRequest {
                countries: vec!["AC".into()],
                ..q("network")
            },
        ),
    ]
}

fn bench_store(c: &mut Criterion, name: &str, store: &dyn LibraryStore, docs: usize) {
    let entities = generate(docs);
    // A symbol that exists, asked for by its last two parts (as "57/239" is).
    let symbol = entities
        .iter()
        .flat_map(|e| e.legislation.resolutions.iter())
        .find_map(|i| i.symbol.clone())
        .unwrap_or_default();
    let tail: Vec<&str> = symbol.rsplitn(3, '/').take(2).collect();
    let symbol_tail = format!(
        "{}/{}",
        tail.get(1).unwrap_or(&""),
        tail.first().unwrap_or(&"")
    );
    let started = std::time::Instant::now();
    for chunk in entities.chunks(10) {
        store
            .import_library(chunk, "bench", "generated")
            .expect("import");
    }
    eprintln!(
        "{name}: imported {docs} documents in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut group = c.benchmark_group(format!("library_search/{name}/{docs}"));
    for (label, request) in queries(&symbol_tail) {
        let found = store.search_library(&request).expect("search").total;
        eprintln!("{name}: {label}: {found} matches");
        group.bench_function(label, |b| {
            b.iter(|| black_box(store.search_library(&request).expect("search")))
        });
    }
    group.finish();
}

fn library(c: &mut Criterion) {
    let docs: usize = std::env::var("FOCAL_BENCH_DOCS")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = focal_store::SqliteStore::open(&dir.path().join("bench.db")).expect("sqlite");
    bench_store(c, "sqlite", &sqlite, docs);
    if let Ok(url) = std::env::var("FOCAL_BENCH_POSTGRES") {
        let schema = format!("bench_library_{}", std::process::id());
        let pg = focal_store::PostgresStore::open(&url, Some(&schema)).expect("postgres");
        bench_store(c, "postgres", &pg, docs);
        if let Ok(mut client) = postgres::Client::connect(&url, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"));
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = library
}
criterion_main!(benches);
