//! JSON-lines feed mapping a few keys (flat, dotted, non-scalar extra), with a `skip_where` line.
#![no_main]

use focal_feeds::Feed;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static FEED: LazyLock<Feed> = LazyLock::new(|| focal_fuzz::fixed_feed(focal_fuzz::JSONL_FEED));

fuzz_target!(|data: &[u8]| {
    focal_fuzz::check_records(&FEED, data);
});
