//! The `docvault` command-line tool.
//!
//! Exit status: 0 on success, 1 when a command fails (reason on stderr, and
//! with `--json` an `{"error":{"kind","message"}}` object on stdout), 2 for
//! usage errors.

mod bench;
mod cli;
mod commands;
mod demo;
mod frontmatter;
mod import;
mod keys;
mod open;
mod output;
mod parse;
mod search;

use clap::Parser;

/// Reads build many small strings per row (a list of 100 summaries makes
/// ~1,400 allocations); mimalloc serves them 1.25-1.33x faster than glibc's
/// allocator on `list` (measured side by side with examples/lists.rs).
/// Library users pick their own allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use crate::cli::{Cli, Command};
use crate::open::Ctx;

fn main() {
    // Before the first large allocations: with huge pages, mimalloc's
    // partly used 2 MiB regions stay resident, and each of glibc's arenas
    // keeps what was freed in it (see the functions' docs).
    docvault_bench::no_transparent_huge_pages();
    docvault_bench::limit_malloc_arenas();
    std::process::exit(run());
}

fn run() -> i32 {
    let cli = match Cli::try_parse_from(bench::rewrite_args(std::env::args_os().collect())) {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };
    let ctx = Ctx {
        db: cli.db,
        json: cli.json,
        wait: cli.wait,
        passphrase_file: cli.passphrase_file,
        key_file: cli.key_file,
    };
    let result = match cli.command {
        Command::Init(a) => commands::init(&ctx, a),
        Command::Add(a) => commands::add(&ctx, a),
        Command::Get(a) => commands::get(&ctx, a),
        Command::Update(a) => commands::update(&ctx, a),
        Command::Delete(a) => commands::delete(&ctx, a),
        Command::Undelete(a) => commands::undelete(&ctx, a),
        Command::List(a) => commands::list(&ctx, a),
        Command::History(a) => commands::history(&ctx, a),
        Command::Diff(a) => commands::diff(&ctx, a),
        Command::Restore(a) => commands::restore(&ctx, a),
        Command::Import(a) => import::import(&ctx, a),
        Command::Export(a) => import::export(&ctx, a),
        Command::Audit(a) => commands::audit(&ctx, a),
        Command::Stats => commands::stats(&ctx),
        Command::Optimize => commands::optimize(&ctx),
        Command::Check => commands::check(&ctx),
        Command::Demo => demo::demo(&ctx),
        Command::Bench(a) => bench::bench(&ctx, a),
        Command::Search(a) => search::search(&ctx, a),
        Command::Reindex => search::reindex(&ctx),
        Command::Rekey(a) => keys::rekey(&ctx, a),
        Command::Encrypt => keys::encrypt(&ctx),
        Command::Decrypt(a) => keys::decrypt(&ctx, a),
    };
    output::emit(result, ctx.json)
}

/// clap's own report (help and version exit 0); with `--json` anywhere on
/// the line, scripts also get the error as JSON so stdout always parses.
fn usage_error(e: &clap::Error) -> i32 {
    let _ = e.print();
    let code = e.exit_code();
    if code != 0 && std::env::args_os().any(|a| a == "--json") {
        let rendered = e.render().to_string();
        let first = rendered
            .lines()
            .next()
            .unwrap_or("usage error")
            .trim_start_matches("error: ");
        let v = serde_json::json!({"error": {"kind": "usage", "message": first}});
        output::print_stdout(&format!("{v}\n"));
    }
    code
}
