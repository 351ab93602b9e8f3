//! Shared helpers for the integration tests.
#![allow(dead_code)]

use docvault::{Config, Store};
use tempfile::TempDir;

/// A fresh store in its own temporary directory.
pub fn store() -> (TempDir, Store) {
    store_with(Config::default())
}

pub fn store_with(config: Config) -> (TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("test.db"), config).expect("open");
    (dir, store)
}
