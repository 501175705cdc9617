//! A small time-bounded cache for hot, rarely-changing reads (pools and app
//! clients on every public request). Entries live `ttl`; a change made on this
//! node invalidates at once, one made on another node is seen within `ttl`.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

pub struct TtlCache<K, V> {
    ttl: Duration,
    max: usize,
    map: RwLock<HashMap<K, (Instant, Arc<V>)>>,
}

impl<K: Eq + Hash + Clone, V> TtlCache<K, V> {
    pub fn new(ttl: Duration, max: usize) -> Self {
        Self {
            ttl,
            max,
            map: RwLock::new(HashMap::new()),
        }
    }

    pub fn get(&self, k: &K) -> Option<Arc<V>> {
        let map = self.map.read().expect("cache lock");
        map.get(k)
            .filter(|(t, _)| t.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    pub fn put(&self, k: K, v: V) -> Arc<V> {
        let v = Arc::new(v);
        let mut map = self.map.write().expect("cache lock");
        if map.len() >= self.max {
            let ttl = self.ttl;
            map.retain(|_, (t, _)| t.elapsed() < ttl);
            if map.len() >= self.max {
                map.clear();
            }
        }
        map.insert(k, (Instant::now(), v.clone()));
        v
    }

    pub fn remove(&self, k: &K) {
        self.map.write().expect("cache lock").remove(k);
    }

    pub fn clear(&self) {
        self.map.write().expect("cache lock").clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_can_be_removed() {
        let c = TtlCache::new(Duration::from_millis(30), 2);
        c.put("a", 1);
        assert_eq!(c.get(&"a").as_deref(), Some(&1));
        c.remove(&"a");
        assert!(c.get(&"a").is_none());
        c.put("b", 2);
        std::thread::sleep(Duration::from_millis(40));
        assert!(c.get(&"b").is_none());
        c.put("c", 3);
        c.put("d", 4);
        c.put("e", 5); // over capacity: stale entries dropped first
        assert_eq!(c.get(&"e").as_deref(), Some(&5));
    }
}
