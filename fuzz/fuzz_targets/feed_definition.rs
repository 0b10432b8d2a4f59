//! `Feed::from_toml` on arbitrary UTF-8 must not panic. A definition that compiles is then used on
//! a small input shaped after it, with the same invariants as the record targets.
#![no_main]

use focal_feeds::Feed;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(feed) = Feed::from_toml(text, "fuzz.toml") else {
        return;
    };
    let _ = feed.skip_rules();
    let _ = feed.csv_layout(None);
    let sample = focal_fuzz::sample_input(&feed);
    focal_fuzz::check_records(&feed, &sample);
});
