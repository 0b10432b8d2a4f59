//! STIX 2.1 patterns (focal-sharing's pattern parser): arbitrary text never panics nor recurses
//! without bound, and whatever parses prints back to text that parses to the same pattern.
#![no_main]

use focal_sharing::pattern::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = parse(text) else {
        return;
    };
    let printed = parsed.to_string();
    match parse(&printed) {
        Ok(again) => assert_eq!(again, parsed, "{text:?} printed as {printed:?}"),
        Err(e) => panic!("{text:?} printed as {printed:?}, which does not parse: {e}"),
    }
});
