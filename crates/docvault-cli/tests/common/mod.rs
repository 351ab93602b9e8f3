//! Helpers shared by the CLI tests that run the real binary with `--json`
//! and crash it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_docvault");

/// How a store is keyed in a test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Key<'a> {
    Plain,
    File(&'a Path),
    Pass(&'a Path),
}

fn key_args(k: Key<'_>) -> Vec<String> {
    match k {
        Key::Plain => vec![],
        Key::File(p) => vec!["--key-file".into(), p.display().to_string()],
        Key::Pass(p) => vec!["--passphrase-file".into(), p.display().to_string()],
    }
}

/// The CLI on `db`, with JSON output and none of the environment that
/// could change what it does.
pub fn cmd(db: &Path, key: Key<'_>, args: &[&str]) -> Command {
    base(db, key, args, true)
}

/// As [`cmd`], with the text output.
pub fn text_cmd(db: &Path, key: Key<'_>, args: &[&str]) -> Command {
    base(db, key, args, false)
}

fn base(db: &Path, key: Key<'_>, args: &[&str], json: bool) -> Command {
    let mut c = Command::new(BIN);
    if json {
        c.arg("--json");
    }
    c.arg("--db")
        .arg(db)
        .args(key_args(key))
        .args(args)
        .env_remove("DOCVAULT_DB")
        .env_remove("DOCVAULT_PASSPHRASE")
        .env_remove("DOCVAULT_NEW_PASSPHRASE")
        .env_remove("DOCVAULT_FAILPOINT")
        .stdin(Stdio::null());
    c
}

pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

pub fn ok(db: &Path, key: Key<'_>, args: &[&str]) -> Value {
    let out = cmd(db, key, args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    json(&out)
}

pub fn err_kind(db: &Path, key: Key<'_>, args: &[&str]) -> String {
    let out = cmd(db, key, args).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{args:?} should fail");
    json(&out)["error"]["kind"].as_str().unwrap().to_string()
}

/// Deterministic fractions in [0, 1) (xorshift): where kills land, the
/// same on every run.
pub struct Fractions(u64);

impl Fractions {
    pub fn new(seed: u64) -> Fractions {
        Fractions(seed)
    }
}

impl Iterator for Fractions {
    type Item = f64;
    fn next(&mut self) -> Option<f64> {
        let s = &mut self.0;
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        Some((*s % 1000) as f64 / 1000.0)
    }
}

/// Starts `c` with its output discarded and SIGKILLs it after `delay`
/// (or reaps it, if it finished first).
pub fn kill_after(mut c: Command, delay: Duration) {
    let mut child = c
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = child.kill();
    let _ = child.wait();
}
