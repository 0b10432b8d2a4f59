//! A chunk message from the work queue (focal-distributed's binary format): decoding arbitrary
//! bytes never panics, and a message that decodes re-encodes to the same records.
#![no_main]

use focal_distributed::chunk::{Chunker, decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = decode(data) else {
        return;
    };
    let records = |b: &focal_feeds::RecordBatch| -> Vec<(u64, Vec<u8>, Option<u64>)> {
        b.lines
            .iter()
            .map(|m| (m.line, b.line_bytes(m).to_vec(), m.oversized))
            .collect()
    };
    let mut chunker = Chunker::new(u32::MAX, 64 << 20);
    let mut again = Vec::new();
    chunker
        .add::<()>(&batch, &mut |c| {
            again.push(c);
            Ok(())
        })
        .expect("the closure never fails");
    again.extend(chunker.finish());
    let mut back = Vec::new();
    for c in &again {
        back.extend(records(&decode(&c.payload).expect("an encoded chunk decodes")));
    }
    assert_eq!(back, records(&batch), "a decoded chunk re-encodes to the same records");
});
