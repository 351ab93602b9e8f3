//! `docvault bench`: the benchmark suite (see the `docvault-bench` crate).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use docvault::Error;
use docvault_bench::{Mode, Options, Progress};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::BenchArgs;
use crate::open::Ctx;
use crate::output::{to_json, Outcome};

/// A progress bar on stderr, shown only on a terminal.
struct Bar {
    bar: Option<ProgressBar>,
    tty: bool,
}

impl Progress for Bar {
    fn start(&mut self, phase: &str, total: u64) {
        if self.tty {
            let bar = ProgressBar::new(total);
            if let Ok(style) = ProgressStyle::with_template(
                "{msg:20} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(phase.to_string());
            self.bar = Some(bar);
        }
    }
    fn advance(&mut self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }
    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
    fn workload(&mut self, name: &str, threads: usize) {
        if self.tty {
            eprint!("\r\x1b[2Krunning {name} on {threads} thread(s)...");
        }
        // Hand memory freed by earlier workloads (closed stores, dropped
        // caches, other threads' heaps, in both allocators) back to the
        // OS, so each workload's peak resident memory is its own and not
        // its predecessors' leftovers. Measurement hygiene only: a store
        // does not need it.
        // SAFETY: mi_collect only walks mimalloc's own heaps; it is safe to
        // call at any time from any thread.
        unsafe { libmimalloc_sys::mi_collect(true) };
        docvault_bench::trim_malloc();
    }
    fn note(&mut self, note: &str) {
        // On a terminal, said as soon as it is known; the report's table
        // (and its JSON) carries it in any case.
        if self.tty {
            eprintln!("\r\x1b[2Knote: {note}");
        }
    }
}

fn validation(field: &str, reason: String) -> Error {
    Error::Validation {
        field: field.into(),
        reason,
    }
}

fn parse_threads(s: &str) -> Result<Vec<usize>, Error> {
    let threads: Vec<usize> = s
        .split(',')
        .map(|t| t.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| validation("threads", format!("{s:?} is not a list like 1,2,8")))?;
    if threads.is_empty() || threads.iter().any(|&t| t == 0 || t > 256) {
        return Err(validation(
            "threads",
            format!("{s:?}: each thread count must be 1-256"),
        ));
    }
    Ok(threads)
}

pub fn bench(ctx: &Ctx, a: BenchArgs) -> Result<Outcome, Error> {
    let mode = match a.mode.as_str() {
        "compare" => Mode::Compare,
        "optimized" => Mode::Optimized,
        other => {
            return Err(validation(
                "mode",
                format!("unknown value {other:?}; valid values: compare, optimized"),
            ))
        }
    };
    if !(1..=10_000_000).contains(&a.num_docs) {
        return Err(validation(
            "num-docs",
            format!("{} is not between 1 and 10000000", a.num_docs),
        ));
    }
    if !(a.duration.is_finite() && (0.05..=3600.0).contains(&a.duration)) {
        return Err(validation(
            "duration",
            format!("{} is not between 0.05 and 3600 seconds", a.duration),
        ));
    }
    // Only an explicit --db: the bench writes, and DOCVAULT_DB most likely
    // points at real documents.
    let db: Option<PathBuf> = match &ctx.db {
        Some(_) => Some(ctx.db_path()?),
        None => None,
    };
    // An existing store the bench cannot open (corrupt, encrypted, in use,
    // too new) is refused with its own error kind before anything runs.
    if let Some(path) = db.as_deref().filter(|p| p.exists()) {
        docvault::Store::open(path, docvault::Config::default())?.close()?;
    }
    let opts = Options {
        mode,
        num_docs: a.num_docs,
        threads: parse_threads(&a.threads)?,
        duration: Duration::from_secs_f64(a.duration),
        db,
    };
    // A results file that cannot be written fails now, not after minutes
    // of measuring.
    let created = match &a.json_file {
        Some(path) => probe_writable(path)?,
        None => false,
    };
    let tty = std::io::stderr().is_terminal();
    let mut bar = Bar { bar: None, tty };
    let report = docvault_bench::run(&opts, &mut bar).map_err(|e| {
        if let (true, Some(path)) = (created, &a.json_file) {
            let _ = std::fs::remove_file(path);
        }
        Error::Io(std::io::Error::other(format!("benchmark failed: {e}")))
    })?;
    if tty {
        eprint!("\r\x1b[2K");
    }
    let json = to_json(&report)?;
    if let Some(path) = &a.json_file {
        let text = serde_json::to_string_pretty(&json)
            .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
        std::fs::write(path, text + "\n").map_err(|e| cannot_write(path, e))?;
    }
    Ok(Outcome::new(json, report.to_table()))
}

fn cannot_write(path: &Path, e: std::io::Error) -> Error {
    Error::Io(std::io::Error::new(
        e.kind(),
        format!("cannot write {}: {e}", path.display()),
    ))
}

/// Opens `path` for writing without truncating it; returns whether it had
/// to be created (so a failed run can remove it again).
fn probe_writable(path: &Path) -> Result<bool, Error> {
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| cannot_write(path, e))?;
    Ok(!existed)
}

/// The spellings (`--long`, `-s`) of the global options that take a
/// value, from the grammar itself: before the subcommand, the word after
/// one of them is its value, not the subcommand.
fn global_options_with_values() -> Vec<String> {
    use clap::CommandFactory;
    crate::cli::Cli::command()
        .get_arguments()
        .filter(|a| a.is_global_set() && a.get_action().takes_values())
        .flat_map(|a| {
            let longs = a.get_long_and_visible_aliases().unwrap_or_default();
            let shorts = a.get_short_and_visible_aliases().unwrap_or_default();
            longs
                .into_iter()
                .map(|l| format!("--{l}"))
                .chain(shorts.into_iter().map(|s| format!("-{s}")))
        })
        .collect()
}

/// `bench --json FILE` names a file, while `--json` alone is the global
/// "print JSON" switch. Before clap sees the line, `--json` followed by a
/// value after the `bench` subcommand becomes `--json-file`.
pub fn rewrite_args(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    // The subcommand is the first word that is neither an option nor the
    // value of a global option that takes one (`--opt value`; `--opt=value`
    // is one word).
    if !args.iter().skip(1).any(|a| a == "bench") {
        // Not the bench (most lines): the grammar need not be built.
        return args;
    }
    let with_values = global_options_with_values();
    let mut at = 1;
    while let Some(a) = args.get(at).and_then(|a| a.to_str()) {
        match a {
            _ if with_values.iter().any(|o| o == a) => at += 2,
            _ if a.starts_with('-') => at += 1,
            _ => break,
        }
    }
    if args.get(at).is_none_or(|a| a != "bench") {
        return args;
    }
    let bench_at = at;
    let mut out = Vec::with_capacity(args.len());
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if i > bench_at {
            if let Some(rest) = a.to_str().and_then(|s| s.strip_prefix("--json=")) {
                out.push("--json-file".into());
                out.push(rest.into());
                i += 1;
                continue;
            }
            let next_is_value = args
                .get(i + 1)
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('-'));
            if a == "--json" && next_is_value {
                out.push("--json-file".into());
                i += 1;
                continue;
            }
        }
        out.push(a.clone());
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(s: &[&str]) -> Vec<String> {
        rewrite_args(s.iter().map(|a| a.into()).collect())
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn json_file_only_after_bench() {
        assert_eq!(
            rw(&["docvault", "bench", "--json", "out.json"]),
            ["docvault", "bench", "--json-file", "out.json"]
        );
        assert_eq!(
            rw(&["docvault", "--json", "bench", "--num-docs", "5"]),
            ["docvault", "--json", "bench", "--num-docs", "5"]
        );
        assert_eq!(
            rw(&["docvault", "bench", "--json=r.json", "--json"]),
            ["docvault", "bench", "--json-file", "r.json", "--json"]
        );
        assert_eq!(
            rw(&["docvault", "get", "1", "--json"]),
            ["docvault", "get", "1", "--json"]
        );
        assert_eq!(
            rw(&["docvault", "add", "--title", "bench", "--json", "x"]),
            ["docvault", "add", "--title", "bench", "--json", "x"]
        );
        assert_eq!(
            rw(&["docvault", "--db", "bench", "bench", "--json", "f"]),
            ["docvault", "--db", "bench", "bench", "--json-file", "f"]
        );
    }

    /// Every global option that takes a value has its value skipped on
    /// the way to the subcommand, in both spellings.
    #[test]
    fn every_global_option_with_a_value_is_skipped() {
        for (opt, value) in [
            ("--db", "x.db"),
            ("--wait", "5"),
            ("--passphrase-file", "p"),
            ("--key-file", "k"),
        ] {
            assert_eq!(
                rw(&["docvault", opt, value, "bench", "--json", "out.json"]),
                ["docvault", opt, value, "bench", "--json-file", "out.json"],
                "{opt} {value}"
            );
            // A value that reads like the subcommand is still the value.
            assert_eq!(
                rw(&["docvault", opt, "bench", "bench", "--json", "out.json"]),
                ["docvault", opt, "bench", "bench", "--json-file", "out.json"],
                "{opt} bench"
            );
            let eq = format!("{opt}={value}");
            assert_eq!(
                rw(&["docvault", &eq, "bench", "--json", "out.json"]),
                ["docvault", &eq, "bench", "--json-file", "out.json"],
                "{eq}"
            );
            // Not the bench: nothing changes.
            assert_eq!(
                rw(&["docvault", opt, "bench", "get", "1", "--json", "x"]),
                ["docvault", opt, "bench", "get", "1", "--json", "x"],
                "{opt} bench get"
            );
        }
        assert_eq!(
            rw(&[
                "docvault",
                "--key-file",
                "k",
                "--json",
                "--wait=2",
                "--db",
                "s.db",
                "bench",
                "--json",
                "o.json"
            ]),
            [
                "docvault",
                "--key-file",
                "k",
                "--json",
                "--wait=2",
                "--db",
                "s.db",
                "bench",
                "--json-file",
                "o.json"
            ]
        );
    }

    /// The list of value-taking global options comes from the grammar: a
    /// new one is covered without being listed here, and the switches
    /// (`--json`) are not in it.
    #[test]
    fn the_value_taking_global_options_come_from_the_grammar() {
        let mut found = global_options_with_values();
        found.sort();
        assert_eq!(
            found,
            ["--db", "--key-file", "--passphrase-file", "--wait"],
            "a global option that takes a value was added or removed: \
             check that `docvault <it> VALUE bench --json FILE` still works"
        );
    }

    #[test]
    fn thread_lists() {
        assert_eq!(parse_threads("1,2, 8").unwrap(), vec![1, 2, 8]);
        assert!(parse_threads("0").is_err());
        assert!(parse_threads("a").is_err());
        assert!(parse_threads("").is_err());
    }
}
