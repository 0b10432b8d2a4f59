//! The matching join alone, in memory: ASSETS assets with 5 packages each against RECORDS
//! affected-package records (OSV-style ranges), as `focal vulns match` runs it before storing.
//!
//!   FOCAL_BENCH_ASSETS=100000 FOCAL_BENCH_RECORDS=200000 cargo bench -p focal-assessment --bench matching
//!
//! Defaults are small. The end-to-end run, with storage, is bench/vulns.sh.

use criterion::{Criterion, criterion_group, criterion_main};
use focal_assessment::advisory::{AffectedRecord, Rule, Severity};
use focal_assessment::matching::{SoftwareIndex, StoredRecord, match_all};
use focal_assessment::risk::Installed;
use focal_assessment::software::Software;
use focal_assessment::version::{Event, Scheme};

fn size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (no extra dependency).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
    fn version(&mut self) -> String {
        format!("{}.{}.{}", self.next(10), self.next(21), self.next(31))
    }
}

fn data(assets: usize, records: usize) -> (SoftwareIndex, Vec<StoredRecord>) {
    let packages = records.max(1000) as u64;
    let mut rnd = Lcg(20261203);
    let mut index = SoftwareIndex::new();
    for a in 0..assets {
        for _ in 0..5 {
            let p = rnd.next(packages);
            let v = rnd.version();
            index.insert(Installed {
                asset: format!("asset-{a}"),
                organisation: format!("Org {}", a % 2000),
                constituent: None,
                software: Software::parse(&format!("pkg:npm/pkg{p:07}@{v}")).unwrap(),
            });
        }
    }
    let list = (0..records)
        .map(|n| {
            let p = rnd.next(packages);
            let (mut lo, mut hi) = (rnd.version(), rnd.version());
            if Scheme::Semver.compare(&lo, &hi).is_gt() {
                std::mem::swap(&mut lo, &mut hi);
            }
            StoredRecord {
                advisory: (n / 4) as i64,
                advisory_ref: format!("BENCH-{}", n / 4),
                record: AffectedRecord {
                    vuln_id: format!("CVE-2026-{n:07}"),
                    product: format!("npm/pkg{p:07}"),
                    key: format!("pkg:npm/pkg{p:07}"),
                    distro: None,
                    rule: Rule {
                        scheme: Some(Scheme::Semver),
                        osv_ranges: vec![vec![Event::Introduced(lo), Event::Fixed(hi)]],
                        ..Rule::default()
                    },
                    severity: Severity::default(),
                    remediation: None,
                },
            }
        })
        .collect();
    (index, list)
}

fn bench(c: &mut Criterion) {
    let assets = size("FOCAL_BENCH_ASSETS", 10_000);
    let records = size("FOCAL_BENCH_RECORDS", 20_000);
    let (index, records_list) = data(assets, records);
    let mut group = c.benchmark_group("matching");
    group.sample_size(10);
    group.bench_function(format!("{assets} assets x {records} records"), |b| {
        b.iter(|| match_all(&index, &records_list).len())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
