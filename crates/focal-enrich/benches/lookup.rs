//! Longest-prefix / range lookups per second.
//!
//! Uses the real 412k-range IPv4 table from `../shared/data/ipdb` when it is there (benchmarks
//! may read it), else the committed fixture subset. Run: `cargo bench -p focal-enrich`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use focal_enrich::{AsnTable, Constituency, CountryDb};
use focal_model::Constituent;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn table_paths() -> (Vec<PathBuf>, &'static str) {
    let shared = root().join("../shared/data/ipdb");
    if shared.join("asn-ipv4.csv").exists() {
        (
            vec![shared.join("asn-ipv4.csv"), shared.join("asn-ipv6.csv")],
            "real 412k-range table",
        )
    } else {
        let f = root().join("tests/fixtures/workload");
        (
            vec![f.join("asn-ipv4.csv"), f.join("asn-ipv6.csv")],
            "fixture subset",
        )
    }
}

/// Pseudo-random IPv4 addresses (xorshift), the same on every run.
fn addresses(n: usize) -> Vec<IpAddr> {
    let mut x: u32 = 0x9e37_79b9;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            IpAddr::V4(Ipv4Addr::from(x))
        })
        .collect()
}

fn lookups(c: &mut Criterion) {
    let (paths, label) = table_paths();
    let table = AsnTable::load(&paths).expect("ASN table loads");
    eprintln!("ASN table: {label}, {} ranges", table.ranges());
    let ips = addresses(1 << 16);
    let mut group = c.benchmark_group("lookup");
    group.throughput(Throughput::Elements(ips.len() as u64));
    group.bench_function("asn_ipv4", |b| {
        b.iter(|| {
            let mut found = 0u32;
            for ip in &ips {
                found += table.asn(black_box(*ip)).is_some() as u32;
            }
            found
        })
    });
    group.bench_function("asn_ipv4_with_network", |b| {
        b.iter(|| {
            ips.iter()
                .filter(|ip| table.lookup(black_box(**ip)).is_some())
                .count()
        })
    });
    // A constituency of 4,000 /24 netblocks, the shape of the reference workload's.
    let orgs: Vec<Constituent> = addresses(4000)
        .into_iter()
        .enumerate()
        .map(|(i, ip)| Constituent {
            id: format!("net-{i}"),
            name: String::new(),
            abuse_email: String::new(),
            asns: vec![i as u32 + 1],
            netblocks: vec![ipnet::IpNet::new(ip, 24).unwrap().trunc()],
            domains: vec![],
            language: None,
            also_notify: Vec::new(),
        })
        .collect();
    let constituency = Constituency::new(&orgs);
    group.bench_function("constituent_netblock_then_asn", |b| {
        b.iter(|| {
            ips.iter()
                .filter(|ip| {
                    constituency
                        .assign(Some(black_box(**ip)), None, table.asn(**ip), None)
                        .is_some()
                })
                .count()
        })
    });
    let mmdb = root().join("data/ipdb/geo-whois-asn-country.mmdb");
    if let Ok(db) = CountryDb::open(&mmdb) {
        group.bench_function("country_mmdb", |b| {
            b.iter(|| {
                ips.iter()
                    .filter(|ip| db.lookup(black_box(**ip)).is_some())
                    .count()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
