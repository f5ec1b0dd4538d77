//! The registry's caches: quick_cache with hit, miss and eviction counters,
//! and an optional time-to-live (quick_cache has none: each entry keeps its
//! insert time and an expired entry counts as a miss).

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Equivalent, Lifecycle, UnitWeighter};
use serde::{Deserialize, Serialize};

/// Size and time-to-live of one cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheSettings {
    /// Maximum number of entries.
    pub capacity: usize,
    /// Entries older than this (seconds in configuration) are misses;
    /// `None` (left out) keeps them until evicted.
    #[serde(default, with = "opt_secs")]
    pub ttl: Option<Duration>,
}

mod opt_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_secs))
    }
}

/// Settings of all four caches; a cache left out keeps its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CacheConfig {
    /// Executor instances (default 1,000, no TTL).
    pub executors: CacheSettings,
    /// Node-type metadata (default 2,000, 1 hour).
    pub metadata: CacheSettings,
    /// Compiled parameter schemas (default 1,000, no TTL).
    pub schemas: CacheSettings,
    /// Parameter validation results (default 5,000, 30 minutes).
    pub validation: CacheSettings,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            executors: CacheSettings {
                capacity: 1000,
                ttl: None,
            },
            metadata: CacheSettings {
                capacity: 2000,
                ttl: Some(Duration::from_secs(3600)),
            },
            schemas: CacheSettings {
                capacity: 1000,
                ttl: None,
            },
            validation: CacheSettings {
                capacity: 5000,
                ttl: Some(Duration::from_secs(1800)),
            },
        }
    }
}

/// Counters of one cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups not answered (absent or expired).
    pub misses: u64,
    /// Entries evicted to make room.
    pub evictions: u64,
    /// Entries now held.
    pub len: usize,
    /// `hits / (hits + misses)`, 0 when there were no lookups.
    pub hit_rate: f64,
}

#[derive(Clone, Default)]
struct CountEvictions(Arc<AtomicU64>);

impl<K, V> Lifecycle<K, V> for CountEvictions {
    type RequestState = ();

    fn on_evict(&self, _state: &mut (), _key: K, _value: V) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Clone)]
struct Stamped<V> {
    value: V,
    inserted: Instant,
}

/// A bounded, concurrent cache with counters and an optional TTL.
pub struct StatCache<K, V> {
    inner: Cache<K, Stamped<V>, UnitWeighter, DefaultHashBuilder, CountEvictions>,
    ttl: Option<Duration>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: Arc<AtomicU64>,
}

impl<K, V> StatCache<K, V>
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    /// A cache with `settings`.
    pub fn new(settings: CacheSettings) -> Self {
        let evictions = CountEvictions::default();
        let capacity = settings.capacity.max(1);
        Self {
            inner: Cache::with(
                capacity,
                capacity as u64,
                UnitWeighter,
                DefaultHashBuilder::default(),
                evictions.clone(),
            ),
            ttl: settings.ttl,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: evictions.0,
        }
    }

    /// The value for `key`, counting a hit or a miss; an expired entry is
    /// removed and counted as a miss.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        match self.inner.get(key) {
            Some(entry) if self.ttl.is_none_or(|ttl| entry.inserted.elapsed() < ttl) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(entry.value)
            }
            Some(_) => {
                self.inner.remove(key);
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Stores `value` under `key`.
    pub fn insert(&self, key: K, value: V) {
        self.inner.insert(
            key,
            Stamped {
                value,
                inserted: Instant::now(),
            },
        );
    }

    /// Removes `key`.
    pub fn remove<Q>(&self, key: &Q)
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.inner.remove(key);
    }

    /// Keeps only the entries for which `keep` is true.
    pub fn retain(&self, keep: impl Fn(&K) -> bool) {
        self.inner.retain(|k, _| keep(k));
    }

    /// Removes everything.
    pub fn clear(&self) {
        self.inner.clear();
    }

    /// The counters.
    pub fn stats(&self) -> CacheStats {
        let hits = self.hits.load(Ordering::Relaxed);
        let misses = self.misses.load(Ordering::Relaxed);
        let lookups = hits + misses;
        CacheStats {
            hits,
            misses,
            evictions: self.evictions.load(Ordering::Relaxed),
            len: self.inner.len(),
            hit_rate: if lookups == 0 {
                0.0
            } else {
                hits as f64 / lookups as f64
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_hits_misses_and_evictions() {
        let cache: StatCache<u32, u32> = StatCache::new(CacheSettings {
            capacity: 4,
            ttl: None,
        });
        for i in 0..100 {
            cache.insert(i, i);
        }
        assert!(cache.stats().evictions >= 90, "{:?}", cache.stats());
        cache.insert(1000, 1);
        assert_eq!(cache.get(&1000), Some(1));
        assert_eq!(cache.get(&5000), None);
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses), (1, 1));
        assert!((stats.hit_rate - 0.5).abs() < f64::EPSILON);
    }

    #[test]
    fn expired_entries_are_misses() {
        let cache: StatCache<u32, u32> = StatCache::new(CacheSettings {
            capacity: 10,
            ttl: Some(Duration::ZERO),
        });
        cache.insert(1, 1);
        assert_eq!(cache.get(&1), None);
        assert_eq!(cache.stats().misses, 1);
        assert_eq!(cache.stats().len, 0);
    }
}
