//! The set of known event ids, in memory.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// Event ids are UUIDv5, i.e. SHA-1 output: already uniformly distributed, so hashing them
/// again would be wasted work. The low 64 bits serve as the hash.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(b);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64 ^ (v >> 64) as u64;
    }
}

pub type IdSet = HashSet<u128, BuildHasherDefault<IdHasher>>;
