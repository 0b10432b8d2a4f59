//! A STIX bundle or TAXII envelope from a peer (focal-sharing's inbound validation): arbitrary
//! bytes never panic, and whatever is accepted respects the limits and has an id and a type.
#![no_main]

use focal_sharing::validate::{Limits, parse_objects};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_body_bytes: 1 << 16,
        max_objects: 64,
        max_pattern_bytes: 512,
        max_depth: 16,
    };
    let Ok(objects) = parse_objects(data, &limits) else {
        return;
    };
    assert!(objects.len() <= limits.max_objects);
    for o in &objects {
        assert!(o["id"].is_string() && o["type"].is_string(), "{o}");
        if let Some(p) = o["pattern"].as_str() {
            assert!(p.len() <= limits.max_pattern_bytes);
        }
        let _ = focal_sharing::stix::object_tlp(o);
    }
});
