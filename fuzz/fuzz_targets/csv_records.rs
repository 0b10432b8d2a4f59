//! CSV feed (bench/reference-feed.toml, plus `comment = "#"`): header, layout, then every batch.
#![no_main]

use focal_feeds::Feed;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static FEED: LazyLock<Feed> = LazyLock::new(|| focal_fuzz::fixed_feed(focal_fuzz::CSV_FEED));

fuzz_target!(|data: &[u8]| {
    focal_fuzz::check_records(&FEED, data);
});
