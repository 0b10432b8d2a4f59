//! Files as `focal ingest` opens them (`focal_feeds::input::open`): the first byte picks a JSON
//! document feed (records at `/data`) or a CSV feed; the rest is the file, which may be gzip,
//! zip or tar (recognised by its magic bytes) or anything else. Opening and reading must never
//! panic; what comes out must pass the same record checks as the plain-file targets.
#![no_main]

use focal_feeds::Feed;
use libfuzzer_sys::fuzz_target;
use std::io::Read;
use std::sync::LazyLock;

static JSON: LazyLock<Feed> = LazyLock::new(|| focal_fuzz::fixed_feed(focal_fuzz::JSON_FEED));
static CSV: LazyLock<Feed> = LazyLock::new(|| {
    focal_fuzz::fixed_feed(&format!(
        "{}\n[input]\nmax_bytes = '1MiB'\n",
        focal_fuzz::CSV_FEED
    ))
});
static PATH: LazyLock<std::path::PathBuf> = LazyLock::new(|| {
    std::env::temp_dir().join(format!("focal-fuzz-input-{}", std::process::id()))
});

fuzz_target!(|data: &[u8]| {
    let Some((kind, body)) = data.split_first() else {
        return;
    };
    let feed: &Feed = if kind % 2 == 0 { &JSON } else { &CSV };
    std::fs::write(&*PATH, body).expect("the temporary folder is writable");
    // An error (a corrupt archive, a limit) is a refusal, reported to the user: fine.
    let Ok(stream) = focal_feeds::input::open(feed, &PATH) else {
        return;
    };
    let mut lines = Vec::new();
    if stream.take(2 << 20).read_to_end(&mut lines).is_err() {
        return;
    }
    focal_fuzz::check_records(feed, &lines);
});
