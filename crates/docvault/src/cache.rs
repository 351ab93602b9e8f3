//! The read cache: sharded, bounded in bytes, coherent with writes.
//!
//! Documents are cached by id as shared [`DocumentRecord`]s; a uuid index
//! maps uuids to ids, so reads by either hit. Each shard is one mutex over
//! an LRU map plus the access counters of the documents that hash to it
//! (see `access`), so a cache hit takes exactly one lock.
//!
//! Coherence: a writer, after its transaction commits and before its call
//! returns, bumps `generation` and removes the entry. A reader that misses
//! notes the generation before it reads the database and inserts what it
//! read only if the generation is unchanged (checked under the shard lock).
//! So a reader that loaded a row before a commit can never put it back after
//! the writer removed it: either it inserts first and the writer removes the
//! entry, or the writer bumps first and the reader's insert is refused.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use hashlink::LinkedHashMap;
use serde::{Deserialize, Serialize};

use crate::access::{Counters, Pending};
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

type IdMap<V> = LinkedHashMap<i64, V, BuildHasherDefault<IdHasher>>;

/// A cached document and the persisted access figures it was read with
/// (kept current by flushes).
pub(crate) struct Entry {
    pub record: Arc<DocumentRecord>,
    pub persisted_count: i64,
    pub persisted_last: Option<i64>,
    size: usize,
}

/// One shard: its LRU entries, the access counters of its documents, and
/// its statistics. Padded so two shards never share a cache line.
#[repr(align(128))]
pub(crate) struct Shard {
    entries: IdMap<Entry>,
    bytes: usize,
    pub counters: Counters,
    pub hits: u64,
    pub misses: u64,
    evictions: u64,
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

/// Approximate heap bytes of a cached record.
fn record_size(r: &DocumentRecord) -> usize {
    let meta: usize = r
        .metadata
        .iter()
        .map(|(k, v)| {
            64 + k.len()
                + match v {
                    crate::MetaValue::String(s) => s.len(),
                    crate::MetaValue::Json(j) => j.to_string().len() * 2,
                    _ => 0,
                }
        })
        .sum();
    256 + r.title.len()
        + r.format.len()
        + r.language.len()
        + r.content_hash.len()
        + r.source_path.as_ref().map_or(0, String::len)
        + r.file_path.as_ref().map_or(0, String::len)
        + r.content.as_ref().map_or(0, String::len)
        + meta
}

fn shard_index(id: i64) -> usize {
    ((id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize % SHARDS
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
            self.forget_uuid(&e.record.uuid);
        }
    }

    fn forget_uuid(&self, u: &uuid::Uuid) {
        self.uuids[uuid_index(u)]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(u);
    }

    pub(crate) fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.for_each_shard(|s| {
            s.entries.clear();
            s.bytes = 0;
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
    /// A cached document, marked most recently used.
    pub(crate) fn get(&mut self, id: i64) -> Option<&Entry> {
        self.entries.to_back(&id).map(|e| &*e)
    }

    /// Caches a record read from the database, unless a write invalidated
    /// anything since `generation` was read (see the module docs).
    pub(crate) fn insert_if_current(
        &mut self,
        cache: &Cache,
        generation: u64,
        record: Arc<DocumentRecord>,
        persisted_count: i64,
        persisted_last: Option<i64>,
    ) {
        if !cache.enabled() || cache.generation() != generation {
            return;
        }
        let size = record_size(&record);
        if size > cache.shard_capacity {
            return;
        }
        let id = record.id;
        let uuid = record.uuid;
        if let Some(old) = self.entries.insert(
            id,
            Entry {
                record,
                persisted_count,
                persisted_last,
                size,
            },
        ) {
            self.bytes -= old.size;
        }
        self.bytes += size;
        while self.bytes > cache.shard_capacity {
            match self.entries.pop_front() {
                Some((_, e)) => {
                    self.bytes -= e.size;
                    self.evictions += 1;
                    cache.forget_uuid(&e.record.uuid);
                }
                None => break,
            }
        }
        if self.entries.contains_key(&id) {
            cache.uuids[uuid_index(&uuid)]
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(uuid, id);
        }
    }

    /// Adds flushed access counts to the cached persisted figures.
    pub(crate) fn apply_flushed(&mut self, id: i64, p: Pending) {
        if let Some(e) = self.entries.get_mut(&id) {
            e.persisted_count += p.count;
            e.persisted_last = Some(e.persisted_last.map_or(p.last, |l| l.max(p.last)));
        }
    }
}
