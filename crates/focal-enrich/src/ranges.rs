//! Disjoint address ranges with a value each, and the lookup that finds the range holding an address.
//!
//! Why not a trie: the ASN and country sources are *ranges* (`1.0.128.0–1.0.196.255`), not prefixes,
//! and a range that is not a power-of-two block would have to be split into many prefixes. Nested
//! prefixes (constituents' netblocks) go the other way: [`RangeMap::from_overlapping`] flattens them
//! once, most specific first, into disjoint ranges. Lookups are then one structure for both: a
//! 65,536-entry index on the top 16 bits of the address narrows the search to a handful of ranges,
//! and a binary search over those finishes it. On the 412k-range IPv4 table that is a few tens of
//! nanoseconds per lookup (see `benches/lookup.rs` and BENCHMARKS.md).

use std::collections::BTreeSet;
use std::net::IpAddr;

/// An address as an unsigned integer (`u32` for IPv4, `u128` for IPv6).
pub trait Key: Copy + Ord + std::fmt::Debug {
    const MAX: Self;
    /// The top 16 bits, for the first-level index.
    fn bucket(self) -> usize;
    fn checked_next(self) -> Option<Self>;
    fn saturating_prev(self) -> Self;
}

impl Key for u32 {
    const MAX: Self = u32::MAX;
    fn bucket(self) -> usize {
        (self >> 16) as usize
    }
    fn checked_next(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn saturating_prev(self) -> Self {
        self.saturating_sub(1)
    }
}

impl Key for u128 {
    const MAX: Self = u128::MAX;
    fn bucket(self) -> usize {
        (self >> 112) as usize
    }
    fn checked_next(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn saturating_prev(self) -> Self {
        self.saturating_sub(1)
    }
}

const BUCKETS: usize = 1 << 16;

/// Sorted, non-overlapping inclusive ranges `[start, end]`, each with a value.
#[derive(Debug, Clone)]
pub struct RangeMap<K, V> {
    starts: Vec<K>,
    ends: Vec<K>,
    values: Vec<V>,
    /// `index[b]` is the number of ranges whose start lies below bucket `b`.
    index: Vec<u32>,
}

impl<K: Key, V: Clone> Default for RangeMap<K, V> {
    fn default() -> Self {
        Self::from_sorted(Vec::new())
    }
}

/// Two input ranges overlap where the caller promised they would not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("range {index} starts at {start} before the previous range ends at {previous_end}")]
pub struct OverlapError {
    pub index: usize,
    pub start: String,
    pub previous_end: String,
}

impl<K: Key, V: Clone> RangeMap<K, V> {
    /// Builds from ranges that do not overlap (in any order). Overlap is an error, not a panic.
    pub fn from_disjoint(mut ranges: Vec<(K, K, V)>) -> Result<Self, OverlapError> {
        ranges.sort_by_key(|r| r.0);
        for i in 1..ranges.len() {
            if ranges[i].0 <= ranges[i - 1].1 {
                return Err(OverlapError {
                    index: i,
                    start: format!("{:?}", ranges[i].0),
                    previous_end: format!("{:?}", ranges[i - 1].1),
                });
            }
        }
        Ok(Self::from_sorted(ranges))
    }

    /// Builds from ranges that may nest or overlap: where several cover an address, the one with
    /// the lowest `rank` wins (callers pass the range's size, so the most specific wins), and
    /// among equal ranks the one given first.
    pub fn from_overlapping<R: Ord + Copy>(ranges: Vec<(K, K, V, R)>) -> Self {
        // A sweep over range boundaries: at each boundary the set of covering ranges changes, and
        // the best of them owns the stretch up to the next boundary.
        let mut bounds: Vec<(K, bool, usize)> = Vec::with_capacity(ranges.len() * 2);
        for (i, (start, end, _, _)) in ranges.iter().enumerate() {
            if start > end {
                continue;
            }
            bounds.push((*start, true, i));
            if let Some(after) = end.checked_next() {
                bounds.push((after, false, i));
            }
        }
        bounds.sort_by_key(|a| a.0);
        let mut active: BTreeSet<(R, usize)> = BTreeSet::new();
        let mut out: Vec<(K, K, V)> = Vec::new();
        let mut owner: Option<(K, usize)> = None; // start of the current stretch and its winner
        let mut i = 0;
        while i < bounds.len() {
            let at = bounds[i].0;
            while i < bounds.len() && bounds[i].0 == at {
                let (_, opens, idx) = bounds[i];
                if opens {
                    active.insert((ranges[idx].3, idx));
                } else {
                    active.remove(&(ranges[idx].3, idx));
                }
                i += 1;
            }
            let winner = active.first().map(|(_, idx)| *idx);
            if owner.map(|o| o.1) != winner {
                if let Some((from, idx)) = owner {
                    // `at` is always above `from` here, since boundaries are visited in order.
                    out.push((from, at.saturating_prev(), ranges[idx].2.clone()));
                }
                owner = winner.map(|w| (at, w));
            }
        }
        if let Some((from, idx)) = owner {
            out.push((from, K::MAX, ranges[idx].2.clone()));
        }
        Self::from_sorted(out)
    }

    fn from_sorted(ranges: Vec<(K, K, V)>) -> Self {
        let mut starts = Vec::with_capacity(ranges.len());
        let mut ends = Vec::with_capacity(ranges.len());
        let mut values = Vec::with_capacity(ranges.len());
        for (s, e, v) in ranges {
            starts.push(s);
            ends.push(e);
            values.push(v);
        }
        let mut index = vec![0u32; BUCKETS + 1];
        let mut r = 0usize;
        for (b, slot) in index.iter_mut().enumerate() {
            while r < starts.len() && starts[r].bucket() < b {
                r += 1;
            }
            *slot = r as u32;
        }
        RangeMap {
            starts,
            ends,
            values,
            index,
        }
    }

    /// The range holding `key`, as `(start, end, value)`.
    #[inline]
    pub fn get_range(&self, key: K) -> Option<(K, K, &V)> {
        let b = key.bucket();
        let lo = self.index[b] as usize;
        let hi = self.index[b + 1] as usize;
        // Ranges starting in this bucket at or below `key`, plus everything before the bucket.
        let count = lo + self.starts[lo..hi].partition_point(|s| *s <= key);
        let i = count.checked_sub(1)?;
        (self.ends[i] >= key).then(|| (self.starts[i], self.ends[i], &self.values[i]))
    }

    #[inline]
    pub fn get(&self, key: K) -> Option<&V> {
        self.get_range(key).map(|(_, _, v)| v)
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (K, K, &V)> {
        (0..self.starts.len()).map(|i| (self.starts[i], self.ends[i], &self.values[i]))
    }
}

/// Separate IPv4 and IPv6 range maps behind one lookup by `IpAddr`.
#[derive(Debug, Clone)]
pub struct IpRangeMap<V> {
    pub v4: RangeMap<u32, V>,
    pub v6: RangeMap<u128, V>,
}

impl<V: Clone> Default for IpRangeMap<V> {
    fn default() -> Self {
        IpRangeMap {
            v4: RangeMap::default(),
            v6: RangeMap::default(),
        }
    }
}

impl<V: Clone> IpRangeMap<V> {
    #[inline]
    pub fn get(&self, ip: IpAddr) -> Option<&V> {
        match ip {
            IpAddr::V4(a) => self.v4.get(u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => self.v4.get(u32::from(v4)),
                None => self.v6.get(u128::from(a)),
            },
        }
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
