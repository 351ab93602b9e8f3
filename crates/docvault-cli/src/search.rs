//! `search` and `reindex`.

use docvault::{Config, Result, SearchOptions, SearchQuery, SearchResults};
use serde_json::json;

use crate::cli::SearchArgs;
use crate::open::Ctx;
use crate::output::{to_json, Outcome};
use crate::parse;

pub fn search(ctx: &Ctx, a: SearchArgs) -> Result<Outcome> {
    let mut options = SearchOptions::default();
    if ctx.json {
        // Scripts get the default HTML-ish markers; a terminal gets bold.
    } else if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        options.highlight_open = "\x1b[1m".into();
        options.highlight_close = "\x1b[0m".into();
    } else {
        options.highlight_open = "[".into();
        options.highlight_close = "]".into();
    }
    let q = SearchQuery {
        text: a.query,
        doc_type: parse::opt(a.doc_type.as_deref())?,
        status: parse::opt(a.status.as_deref())?,
        meta: parse::metas(&a.meta)?,
        limit: a.limit,
        offset: a.offset,
        options,
    };
    let r = ctx.with_store(Config::default(), |s| s.search(&q))?;
    Ok(Outcome::new(to_json(&r)?, results_text(&r)))
}

pub fn reindex(ctx: &Ctx) -> Result<Outcome> {
    let n = ctx.with_store(Config::default(), |s| s.reindex())?;
    Ok(Outcome::new(
        json!({"reindexed": n}),
        format!("reindexed {n} documents"),
    ))
}

fn results_text(r: &SearchResults) -> String {
    if r.results.is_empty() {
        return format!("no documents match {:?}", r.query);
    }
    let mut out = format!(
        "{} documents match {:?} (showing {})\n\n",
        r.total,
        r.query,
        r.results.len()
    );
    for h in &r.results {
        out.push_str(&format!(
            "{:>6}  {:<10} {:<9} {:>7.3}  {}\n        {}\n",
            h.id,
            h.doc_type.as_str(),
            h.status.as_str(),
            h.score,
            h.title_highlighted,
            h.snippet.replace('\n', " ")
        ));
    }
    out
}
