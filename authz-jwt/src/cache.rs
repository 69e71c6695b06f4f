//! What verified tokens grant, kept until they expire.

use std::collections::HashMap;
use std::sync::RwLock;

/// The most tokens remembered; past it the cache starts over.
const CAPACITY: usize = 10_000;

/// Verified tokens and what they grant, by token text, until their `exp`.
#[derive(Debug)]
pub struct TokenCache<T> {
    entries: RwLock<HashMap<String, (u64, T)>>,
}

impl<T> Default for TokenCache<T> {
    fn default() -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
        }
    }
}

impl<T: Clone> TokenCache<T> {
    /// What `token` grants, if it was verified and has not expired at `now`.
    pub fn get(&self, token: &str, now: u64) -> Option<T> {
        let entries = self.entries.read().ok()?;
        entries
            .get(token)
            .filter(|(exp, _)| now < *exp)
            .map(|(_, v)| v.clone())
    }

    /// Remembers that `token`, valid until `exp`, grants `value`.
    pub fn insert(&self, token: &str, exp: u64, value: T) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(token.to_owned(), (exp, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_expired_tokens() {
        let cache = TokenCache::default();
        cache.insert("t", 100, 7);
        assert_eq!(cache.get("t", 99), Some(7));
        assert_eq!(cache.get("t", 100), None);
        assert_eq!(cache.get("u", 1), None);
    }
}
