//! The read cache: sharded, bounded in bytes, coherent with writes.
//!
//! Documents are cached by id as shared [`DocumentRecord`]s; a uuid index
//! maps uuids to ids, so reads by either hit. Each shard is one mutex over
//! its entries plus the access counters of the documents that hash to it
//! (see `access`), so a cache hit takes exactly one lock.
//!
//! Eviction is CLOCK (second chance), not strict LRU: a hit only sets a flag
//! in its own entry, where LRU would relink two neighbouring list nodes, two
//! cache misses that profiling showed cost more than the rest of a hit.
//!
//! Coherence: a writer, after its transaction commits and before its call
//! returns, bumps `generation` and removes the entry. A reader that misses
//! notes the generation before it reads the database and inserts what it
//! read only if the generation is unchanged (checked under the shard lock).
//! So a reader that loaded a row before a commit can never put it back after
//! the writer removed it: either it inserts first and the writer removes the
//! entry, or the writer bumps first and the reader's insert is refused.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::access::{combine, Counters, Pending, Persisted};
use crate::model::DocumentRecord;

const SHARDS: usize = 64;
const UUID_SHARDS: usize = 16;

/// Hasher for integer ids: one multiply, enough for sequential keys.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_i64(&mut self, i: i64) {
        self.0 = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by document id.
pub(crate) type IdMap<V> = HashMap<i64, V, BuildHasherDefault<IdHasher>>;

/// A cached document and the persisted access figures it was read with
/// (kept current by flushes).
pub(crate) struct Entry {
    pub record: Arc<DocumentRecord>,
    persisted: Persisted,
    /// Reads of this document not yet flushed (see `access`).
    pending: Pending,
    size: usize,
    referenced: bool,
}

/// What a cache lookup found.
pub(crate) enum Hit {
    /// The document, and its access figures including this read.
    Found {
        record: Arc<DocumentRecord>,
        access_count: i64,
        last_accessed: Option<crate::Timestamp>,
    },
    /// The document is soft-deleted and deleted ones were not asked for.
    Deleted,
}

/// One shard: its LRU entries, the access counters of its documents, and
/// its statistics. Padded so two shards never share a cache line.
///
/// In declared order (`repr(C)`), so that what a hit touches (the entries'
/// table, `hits`, and the in-flight map's length, first in [`Counters`])
/// sits in the shard's first two cache lines. Left to the compiler, the
/// fields moved when `Counters` grew, and cache hits on one thread ran
/// 0.77x as fast (`examples/hot 1`: 11.7-11.9M against 14.0-15.3M gets
/// per second, three alternating pairs).
#[repr(C, align(128))]
pub(crate) struct Shard {
    entries: IdMap<Entry>,
    /// Ids in insertion order for the CLOCK hand; may hold ids already
    /// removed, which the hand skips.
    clock: VecDeque<i64>,
    bytes: usize,
    pub hits: u64,
    pub misses: u64,
    evictions: u64,
    counters: Counters,
}

/// Cache statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheStats {
    /// Whether the cache is on.
    pub enabled: bool,
    /// Reads served from the cache.
    pub hits: u64,
    /// Reads that went to the database.
    pub misses: u64,
    /// Entries dropped to stay within capacity.
    pub evictions: u64,
    /// Documents cached now.
    pub entries: u64,
    /// Estimated bytes cached now.
    pub bytes: u64,
    /// Capacity in bytes.
    pub capacity_bytes: u64,
}

pub(crate) struct Cache {
    shards: Box<[Mutex<Shard>]>,
    uuids: Box<[Mutex<HashMap<uuid::Uuid, i64>>]>,
    shard_capacity: usize,
    capacity: usize,
    generation: AtomicU64,
}

/// What one allocation costs beyond its bytes: glibc's header and
/// rounding, on average.
const PER_ALLOCATION: usize = 16;

/// The heap bytes behind a string (nothing for an empty one).
fn string_heap(s: &str, capacity: usize) -> usize {
    if capacity == 0 && s.is_empty() {
        0
    } else {
        capacity.max(s.len()) + PER_ALLOCATION
    }
}

/// Memory an entry holds, measured rather than guessed: the record's own
/// allocations (with their capacities and per-allocation overhead), the
/// metadata map's nodes, the `Arc`, the entry in its shard's map, the uuid
/// index and the CLOCK ring. Checked against the process's resident
/// memory (`cargo run --release -p docvault-bench --example cache_mem`:
/// 1.01 resident bytes per counted byte as the cache fills), so the
/// capacity is a real bound.
fn record_size(r: &DocumentRecord) -> usize {
    use std::mem::size_of;
    let opt = |s: &Option<String>| s.as_ref().map_or(0, |s| string_heap(s, s.capacity()));
    let meta: usize = r
        .metadata
        .iter()
        .map(|(k, v)| {
            string_heap(k, k.capacity())
                + match v {
                    crate::MetaValue::String(s) => string_heap(s, s.capacity()),
                    // A parsed JSON tree is several allocations per value.
                    crate::MetaValue::Json(j) => 4 * j.to_string().len() + 4 * PER_ALLOCATION,
                    _ => 0,
                }
        })
        .sum();
    // A B-tree node holds up to 11 entries; a leaf is allocated whole.
    let meta_nodes = r.metadata.len().div_ceil(11)
        * (11 * (size_of::<String>() + size_of::<crate::MetaValue>()) + 16 + PER_ALLOCATION);
    // Maps run at most 7/8 full: count each slot twice to be safe.
    let maps = 2 * (size_of::<(i64, Entry)>() + 1) + 2 * (size_of::<(uuid::Uuid, i64)>() + 1);
    size_of::<DocumentRecord>()
        + 2 * size_of::<usize>()
        + PER_ALLOCATION
        + maps
        + size_of::<i64>()
        + string_heap(&r.title, r.title.capacity())
        + string_heap(&r.format, r.format.capacity())
        + string_heap(&r.language, r.language.capacity())
        + string_heap(&r.content_hash, r.content_hash.capacity())
        + opt(&r.source_path)
        + opt(&r.file_path)
        + opt(&r.content)
        + meta
        + meta_nodes
}

/// The shard of an id: bits 32-37 of the same multiply [`IdHasher`] does.
/// Not its top bits: the maps inside a shard tag each slot with the top 7
/// bits of the hash, and when the shard had taken the top 6, every key in
/// a shard carried one of two tags, so a lookup compared keys in about half
/// the slots it probed instead of almost none.
fn shard_index(id: i64) -> usize {
    ((id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % SHARDS
}

fn uuid_index(u: &uuid::Uuid) -> usize {
    u.as_bytes()[15] as usize % UUID_SHARDS
}

impl Cache {
    pub(crate) fn new(capacity_bytes: usize) -> Self {
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    entries: IdMap::default(),
                    clock: VecDeque::new(),
                    bytes: 0,
                    counters: Counters::default(),
                    hits: 0,
                    misses: 0,
                    evictions: 0,
                })
            })
            .collect();
        let uuids = (0..UUID_SHARDS)
            .map(|_| Mutex::new(HashMap::new()))
            .collect();
        Cache {
            shards,
            uuids,
            shard_capacity: capacity_bytes / SHARDS,
            capacity: capacity_bytes,
            generation: AtomicU64::new(0),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// The shard of a document id, locked.
    pub(crate) fn shard(&self, id: i64) -> MutexGuard<'_, Shard> {
        self.shards[shard_index(id)]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Every shard in turn, locked one at a time.
    pub(crate) fn for_each_shard(&self, mut f: impl FnMut(&mut Shard)) {
        for s in self.shards.iter() {
            f(&mut s.lock().unwrap_or_else(|e| e.into_inner()));
        }
    }

    pub(crate) fn id_of(&self, u: &uuid::Uuid) -> Option<i64> {
        if !self.enabled() {
            return None;
        }
        self.uuids[uuid_index(u)]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(u)
            .copied()
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Makes every read that started before this call unable to cache what
    /// it read, and drops the cached copy of `id`. Call after the commit.
    pub(crate) fn invalidate(&self, id: i64) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let mut s = self.shard(id);
        if let Some(e) = s.entries.remove(&id) {
            s.bytes -= e.size;
            s.counters.add_pending(id, e.pending);
            self.forget_uuid(&e.record.uuid);
        }
    }

    fn forget_uuid(&self, u: &uuid::Uuid) {
        self.uuids[uuid_index(u)]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(u);
    }

    /// Drops every cached document and the access figures kept in memory:
    /// the next reads go to the database.
    pub(crate) fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.for_each_shard(|s| {
            for (id, e) in s.entries.drain() {
                s.counters.add_pending(id, e.pending);
            }
            s.clock.clear();
            s.bytes = 0;
            s.counters.forget_known();
        });
        for u in self.uuids.iter() {
            u.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let mut st = CacheStats {
            enabled: self.enabled(),
            capacity_bytes: self.capacity as u64,
            ..Default::default()
        };
        self.for_each_shard(|s| {
            st.hits += s.hits;
            st.misses += s.misses;
            st.evictions += s.evictions;
            st.entries += s.entries.len() as u64;
            st.bytes += s.bytes as u64;
        });
        st
    }
}

impl Shard {
    /// Looks up a cached document for a read, marks it referenced and, when
    /// `at` is given, counts the access. `uuid`, when given, must match.
    pub(crate) fn hit(
        &mut self,
        id: i64,
        uuid: Option<uuid::Uuid>,
        include_deleted: bool,
        at: Option<crate::Timestamp>,
    ) -> Option<Hit> {
        let e = self.entries.get_mut(&id)?;
        if uuid.is_some_and(|u| u != e.record.uuid) {
            return None;
        }
        if !e.referenced {
            e.referenced = true;
        }
        self.hits += 1;
        if !include_deleted && e.record.status == crate::Status::Deleted {
            return Some(Hit::Deleted);
        }
        if let Some(at) = at {
            e.pending.count += 1;
            e.pending.last = e.pending.last.max(at.0);
        }
        let mut p = e.pending;
        p.add(self.counters.in_flight(id, &e.persisted));
        let (access_count, last_accessed) = combine(&e.persisted, p);
        Some(Hit::Found {
            record: Arc::clone(&e.record),
            access_count,
            last_accessed,
        })
    }

    /// The access figures of a document whose row was read with
    /// `persisted`, counting one more access when `at` is given.
    pub(crate) fn access(
        &mut self,
        id: i64,
        persisted: &Persisted,
        at: Option<crate::Timestamp>,
    ) -> (i64, Option<crate::Timestamp>) {
        match self.entries.get_mut(&id) {
            // A cached entry's figures are kept exact: prefer them.
            Some(e) => {
                if let Some(at) = at {
                    e.pending.count += 1;
                    e.pending.last = e.pending.last.max(at.0);
                }
                let mut p = e.pending;
                p.add(self.counters.in_flight(id, &e.persisted));
                combine(&e.persisted, p)
            }
            None => {
                let mut p = match at {
                    Some(at) => self.counters.record(id, at),
                    None => self.counters.pending(id),
                };
                p.add(self.counters.in_flight(id, persisted));
                combine(persisted, p)
            }
        }
    }

    /// Starts flush `epoch`: every pending count of the shard goes in flight.
    pub(crate) fn begin_flush(&mut self, epoch: u64) -> Vec<(i64, Pending)> {
        for (id, e) in self.entries.iter_mut() {
            if e.pending.count > 0 {
                self.counters
                    .add_pending(*id, std::mem::take(&mut e.pending));
            }
        }
        self.counters.begin_flush(epoch)
    }

    /// Ends flush `epoch`: committed counts join the persisted figures of
    /// cached entries read before the commit; counts of a failed flush
    /// return to pending.
    pub(crate) fn end_flush(&mut self, committed: bool, epoch: u64) {
        let done = self.counters.end_flush(committed);
        if !committed {
            // The counts went back to the shard's pending counters; those of
            // cached documents belong in their entries, where hits read them
            // (a hit after a failed flush reported only the reads since).
            for (id, e) in self.entries.iter_mut() {
                e.pending.add(self.counters.take_pending(*id));
            }
        }
        for (id, p) in &done {
            if let Some(e) = self.entries.get_mut(id) {
                e.persisted.apply(epoch, *p);
            }
        }
        self.counters.apply_flush(epoch, &done);
    }

    /// Whether a read of `id` may skip loading its persisted figures: the
    /// document is cached, or its figures are in memory (see `access`).
    /// A hint, taken before the read; [`Self::known_access`] decides.
    pub(crate) fn knows_access(&self, id: i64) -> bool {
        self.entries.contains_key(&id) || self.counters.knows(id)
    }

    /// The persisted figures of `id` if they are in memory, exact.
    pub(crate) fn known_access(&mut self, id: i64) -> Option<Persisted> {
        match self.entries.get(&id) {
            Some(e) => Some(e.persisted),
            None => self.counters.known(id),
        }
    }

    /// Keeps the persisted figures a read of an uncached document loaded,
    /// exact as [`Self::access`] requires.
    pub(crate) fn learn_access(&mut self, id: i64, persisted: Persisted) {
        if !self.entries.contains_key(&id) {
            self.counters.learn(id, persisted);
        }
    }

    /// Forgets the reads of a document (hard delete).
    pub(crate) fn forget_access(&mut self, id: i64) {
        self.counters.forget(id);
    }

    /// Uncached documents whose persisted access figures are in memory.
    pub(crate) fn known_len(&self) -> usize {
        self.counters.known_len()
    }

    /// Documents with reads not yet persisted.
    pub(crate) fn pending_len(&self) -> usize {
        self.counters.len()
            + self
                .entries
                .values()
                .filter(|e| e.pending.count > 0)
                .count()
    }

    /// Caches a record read from the database, unless a write invalidated
    /// anything since `generation` was read (see the module docs).
    pub(crate) fn insert_if_current(
        &mut self,
        cache: &Cache,
        generation: u64,
        record: Arc<DocumentRecord>,
        persisted: Persisted,
    ) {
        if !cache.enabled() || cache.generation() != generation {
            return;
        }
        // Records the cache keeps are read with their metadata built:
        // `record_size` measures the map, not kept text.
        debug_assert!(record.metadata.is_built());
        let size = record_size(&record);
        if size > cache.shard_capacity {
            return;
        }
        let id = record.id;
        let uuid = record.uuid;
        let entry = Entry {
            record,
            persisted,
            pending: self.counters.take_pending(id),
            size,
            referenced: false,
        };
        match self.entries.insert(id, entry) {
            Some(old) => {
                self.bytes -= old.size;
                if let Some(e) = self.entries.get_mut(&id) {
                    e.pending.add(old.pending);
                }
            }
            None => self.clock.push_back(id),
        }
        self.bytes += size;
        self.evict_to(cache, cache.shard_capacity);
        if self.clock.len() > 2 * self.entries.len() + 64 {
            // Invalidations left many dead ids behind: rebuild the ring.
            let live = &self.entries;
            self.clock.retain(|i| live.contains_key(i));
        }
        if self.entries.contains_key(&id) {
            cache.uuids[uuid_index(&uuid)]
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(uuid, id);
        }
    }

    /// Evicts until at most `limit` bytes remain: the hand gives each
    /// referenced entry a second chance and evicts the first one that is not.
    fn evict_to(&mut self, cache: &Cache, limit: usize) {
        while self.bytes > limit {
            let Some(id) = self.clock.pop_front() else {
                break;
            };
            let Some(e) = self.entries.get_mut(&id) else {
                continue;
            };
            if e.referenced {
                e.referenced = false;
                self.clock.push_back(id);
                continue;
            }
            if let Some(e) = self.entries.remove(&id) {
                self.bytes -= e.size;
                self.evictions += 1;
                self.counters.add_pending(id, e.pending);
                cache.forget_uuid(&e.record.uuid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    /// The ids of one shard spread over the tags the shard's maps give
    /// their slots (the top 7 bits of the hash): with the shard taken from
    /// the top bits, they shared two tags of 128, and each lookup compared
    /// keys in about half the slots it probed.
    #[test]
    fn a_shards_ids_spread_over_the_maps_tags() {
        let hasher = BuildHasherDefault::<IdHasher>::default();
        for shard in [0, 17, SHARDS - 1] {
            let tags: std::collections::HashSet<u64> = (1..200_000i64)
                .filter(|&id| shard_index(id) == shard)
                .map(|id| hasher.hash_one(id) >> 57)
                .collect();
            assert!(tags.len() > 100, "shard {shard}: {} tags", tags.len());
        }
    }
}
