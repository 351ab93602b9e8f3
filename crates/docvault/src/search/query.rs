//! The search query language, parsed in Rust and compiled to an FTS5
//! expression that cannot fail to parse.
//!
//! Syntax (see [`crate::SearchQuery::text`] for the user-facing summary):
//!
//! - words: all must match (`install guide`);
//! - `"exact phrase"`;
//! - `prefix*` (also `"a phr"*`);
//! - `-excluded` or `NOT excluded` (also `-"a phrase"`, `-title:word`);
//! - `a OR b` (binds tighter than the implicit AND: `a OR b c` is
//!   `(a OR b) AND c`); `AND` between two terms is accepted and changes
//!   nothing;
//! - field scopes `title:`, `content:`, `meta:` (or `metadata:`) before a
//!   word, prefix or phrase.
//!
//! Everything else is literal text: an unknown `field:`, an unbalanced
//! quote, a lone `-` or `*`, an `OR` with nothing on one side, brackets,
//! operators of FTS5's own syntax. Literal text is only ever emitted inside
//! FTS5 double-quoted strings (quotes doubled), and control characters are
//! read as spaces, so the FTS5 parser sees only our own operators, column
//! filters and quoted strings: no input can make it fail.
//!
//! CJK text is searched in the bigram columns (see `search::schema`): a run
//! of two or more CJK characters becomes the phrase of its overlapping
//! bigrams, which matches exactly where the run occurs in a token; a single
//! CJK character becomes a prefix query over the bigrams. Latin letters
//! written against CJK characters (`SQLiteの`) are searched as a separate
//! word that must also match.

use crate::error::{Error, Result};
use crate::search::schema::is_cjk;

/// Longest accepted query, in characters.
pub const MAX_QUERY_CHARS: usize = 1000;
/// Most terms (words, phrases, CJK runs) in one query.
pub const MAX_QUERY_TERMS: usize = 64;

/// A compiled query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Compiled {
    /// The FTS5 MATCH expression.
    pub fts: String,
    /// What to highlight that FTS5's highlighter cannot see.
    pub needles: Needles,
}

/// Text of the positive terms to highlight by hand. FTS5 highlights tokens
/// of the title and content columns, where a CJK run, with any Latin
/// letters written against it, is one token that never matches.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Needles {
    /// CJK runs, longest first: highlighted wherever they occur.
    pub cjk: Vec<Vec<char>>,
    /// Latin words, lowercase: highlighted where written against CJK text.
    pub latin: Vec<Vec<char>>,
}

/// One-to-one lowercase, enough to compare a query word with text.
pub(crate) fn lower(c: char) -> char {
    let mut l = c.to_lowercase();
    match (l.next(), l.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

impl Needles {
    /// True when there is nothing to highlight by hand.
    pub fn is_empty(&self) -> bool {
        self.cjk.is_empty() && self.latin.is_empty()
    }

    /// The length in characters of a needle occurring at `chars[i..]`.
    pub fn match_at(&self, chars: &[char], i: usize) -> Option<usize> {
        let rest = &chars[i..];
        if let Some(n) = self.cjk.iter().find(|n| rest.starts_with(n)) {
            return Some(n.len());
        }
        let free = |c: Option<&char>| c.is_none_or(|&c| !is_token_char(c) || is_cjk(c));
        self.latin.iter().find_map(|n| {
            let end = i + n.len();
            let same = end <= chars.len() && rest.iter().zip(n).all(|(a, b)| lower(*a) == *b);
            let before = i.checked_sub(1).and_then(|j| chars.get(j));
            let after = chars.get(end);
            let glued = before.is_some_and(|&c| is_cjk(c)) || after.is_some_and(|&c| is_cjk(c));
            (same && glued && free(before) && free(after)).then_some(n.len())
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Title,
    Content,
    Meta,
}

#[derive(Debug, Clone, PartialEq)]
struct Term {
    negated: bool,
    field: Option<Field>,
    text: String,
    phrase: bool,
    prefix: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Lexeme {
    Term(Term),
    /// A bare word that may be an operator, depending on its neighbours.
    Keyword(&'static str),
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::validation("query", reason)
}

/// Separators of the query: whitespace and every control character (so no
/// NUL or escape ever reaches SQLite).
fn is_space(c: char) -> bool {
    c.is_whitespace() || c.is_control()
}

/// Characters FTS5's `unicode61` tokenizer keeps in tokens: letters,
/// numbers and private-use characters. Anything else separates tokens.
pub(crate) fn is_token_char(c: char) -> bool {
    c.is_alphanumeric()
        || matches!(c as u32, 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD)
}

fn field_named(name: &str) -> Option<Field> {
    match name.to_ascii_lowercase().as_str() {
        "title" => Some(Field::Title),
        "content" => Some(Field::Content),
        "meta" | "metadata" => Some(Field::Meta),
        _ => None,
    }
}

/// Splits the query into terms and candidate keywords.
fn lex(text: &str) -> Vec<Lexeme> {
    // Control characters are spaces everywhere, quoted text included: FTS5
    // reads its query as a C string, so a NUL would cut a quoted string.
    let chars: Vec<char> = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if is_space(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        let mut negated = false;
        if chars[i] == '-' && i + 1 < chars.len() && !is_space(chars[i + 1]) {
            negated = true;
            i += 1;
        }
        // A known field name followed by ':' and something to search.
        let mut field = None;
        let mut j = i;
        while j < chars.len() && chars[j].is_ascii_alphabetic() {
            j += 1;
        }
        if j > i && j + 1 < chars.len() && chars[j] == ':' && !is_space(chars[j + 1]) {
            let name: String = chars[i..j].iter().collect();
            if let Some(f) = field_named(&name) {
                field = Some(f);
                i = j + 1;
            }
        }
        // A phrase, if its quote is closed; an unclosed quote is literal.
        if chars[i] == '"' {
            if let Some(len) = chars[i + 1..].iter().position(|&c| c == '"') {
                let body: String = chars[i + 1..i + 1 + len].iter().collect();
                i += len + 2;
                let mut prefix = false;
                if i < chars.len() && chars[i] == '*' {
                    prefix = true;
                    while i < chars.len() && chars[i] == '*' {
                        i += 1;
                    }
                }
                out.push(Lexeme::Term(Term {
                    negated,
                    field,
                    text: body,
                    phrase: true,
                    prefix,
                }));
                continue;
            }
        }
        let word_start = i;
        while i < chars.len() && !is_space(chars[i]) {
            i += 1;
        }
        let mut word: String = chars[word_start..i].iter().collect();
        let mut prefix = false;
        if word.ends_with('*') && word.trim_end_matches('*').chars().any(is_token_char) {
            prefix = true;
            word = word.trim_end_matches('*').to_string();
        }
        if !negated && field.is_none() && !prefix && word_start == start {
            if let Some(k) = ["OR", "AND", "NOT"].into_iter().find(|k| *k == word) {
                out.push(Lexeme::Keyword(k));
                continue;
            }
        }
        out.push(Lexeme::Term(Term {
            negated,
            field,
            text: word,
            phrase: false,
            prefix,
        }));
    }
    out
}

fn literal(word: &'static str) -> Term {
    Term {
        negated: false,
        field: None,
        text: word.to_string(),
        phrase: false,
        prefix: false,
    }
}

/// Positive groups (each a disjunction) and excluded terms.
type Parsed = (Vec<Vec<Term>>, Vec<Term>);

/// Resolves keywords by their neighbours and groups terms: OR joins the
/// terms on each side, NOT excludes the next term, AND is a no-op. A keyword
/// that has no term where it needs one is the literal word.
fn parse(lexemes: Vec<Lexeme>) -> Parsed {
    let is_positive_term = |l: Option<&Lexeme>| matches!(l, Some(Lexeme::Term(t)) if !t.negated);
    let mut groups: Vec<Vec<Term>> = Vec::new();
    let mut excluded = Vec::new();
    // Whether the last item placed was a positive term (what OR extends).
    let mut after_positive = false;
    let mut join_next = false;
    let mut negate_next = false;
    for (i, lex) in lexemes.iter().enumerate() {
        let next = lexemes.get(i + 1);
        let mut term = match lex {
            Lexeme::Keyword("OR") if after_positive && is_positive_term(next) => {
                join_next = true;
                continue;
            }
            Lexeme::Keyword("AND")
                if i > 0
                    && matches!(lexemes.get(i - 1), Some(Lexeme::Term(_)))
                    && matches!(next, Some(Lexeme::Term(_))) =>
            {
                continue;
            }
            Lexeme::Keyword("NOT") if is_positive_term(next) => {
                negate_next = true;
                continue;
            }
            Lexeme::Keyword(k) => literal(k),
            Lexeme::Term(t) => t.clone(),
        };
        if std::mem::take(&mut negate_next) {
            term.negated = true;
        }
        let join = std::mem::take(&mut join_next);
        if term.negated {
            excluded.push(term);
            after_positive = false;
            continue;
        }
        match groups.last_mut() {
            Some(g) if join => g.push(term),
            _ => groups.push(vec![term]),
        }
        after_positive = true;
    }
    (groups, excluded)
}

/// An FTS5 string literal.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn latin_columns(f: Option<Field>) -> Option<&'static str> {
    f.map(|f| match f {
        Field::Title => "{title title_cjk}",
        Field::Content => "{content content_cjk}",
        Field::Meta => "{meta meta_cjk}",
    })
}

fn cjk_columns(f: Option<Field>) -> &'static str {
    match f {
        None => "{title_cjk content_cjk meta_cjk}",
        Some(Field::Title) => "{title_cjk}",
        Some(Field::Content) => "{content_cjk}",
        Some(Field::Meta) => "{meta_cjk}",
    }
}

fn scoped(cols: Option<&str>, expr: String) -> String {
    match cols {
        Some(c) => format!("{c} : {expr}"),
        None => expr,
    }
}

/// Counts compiled atoms and collects needles while compiling.
struct Ctx {
    atoms: usize,
    needles: Needles,
}

/// Splits `word` into runs of CJK and of other token characters, dropping
/// separators (as the tokenizer does).
fn segments(word: &str) -> Vec<(bool, String)> {
    let mut out: Vec<(bool, String)> = Vec::new();
    for token in word.split(|c: char| !is_token_char(c)) {
        for c in token.chars() {
            let cjk = is_cjk(c);
            match out.last_mut() {
                Some((k, s)) if *k == cjk && !s.is_empty() => s.push(c),
                _ => out.push((cjk, c.to_string())),
            }
        }
        // A separator ends the run even between two CJK characters.
        out.push((false, String::new()));
    }
    out.retain(|(_, s)| !s.is_empty());
    out
}

/// Compiles one word (or one word of a phrase holding CJK text) into ANDed
/// atoms.
fn compile_word(
    word: &str,
    field: Option<Field>,
    prefix: bool,
    positive: bool,
    ctx: &mut Ctx,
) -> Vec<String> {
    let segs = segments(word);
    let n = segs.len();
    let mut atoms = Vec::new();
    for (i, (cjk, seg)) in segs.into_iter().enumerate() {
        if cjk {
            let chars: Vec<char> = seg.chars().collect();
            let expr = if chars.len() == 1 {
                format!("{}*", quote(&seg))
            } else {
                let grams: Vec<String> = chars.windows(2).map(|w| w.iter().collect()).collect();
                quote(&grams.join(" "))
            };
            atoms.push(format!("{} : {expr}", cjk_columns(field)));
            if positive {
                ctx.needles.cjk.push(chars);
            }
        } else {
            if positive {
                ctx.needles.latin.push(seg.chars().map(lower).collect());
            }
            let star = if prefix && i + 1 == n { "*" } else { "" };
            atoms.push(scoped(
                latin_columns(field),
                format!("{}{star}", quote(&seg)),
            ));
        }
    }
    atoms
}

/// Compiles a term; `None` when it has nothing to search for.
fn compile_term(t: &Term, ctx: &mut Ctx) -> Option<String> {
    if !t.text.chars().any(is_token_char) {
        return None;
    }
    let atoms = if !t.text.chars().any(is_cjk) {
        // FTS5 splits the text itself; as one quoted string, a word like
        // `multi-agent` or `20.04` is the phrase of its parts.
        let star = if t.prefix { "*" } else { "" };
        if !t.negated && !t.phrase && t.text.chars().all(is_token_char) {
            ctx.needles.latin.push(t.text.chars().map(lower).collect());
        }
        vec![scoped(
            latin_columns(t.field),
            format!("{}{star}", quote(&t.text)),
        )]
    } else {
        // A phrase with CJK text: each of its words must match (the bigram
        // columns keep no positions across runs to match a phrase with).
        let words: Vec<&str> = t.text.split(is_space).filter(|w| !w.is_empty()).collect();
        let last = words.len().saturating_sub(1);
        words
            .iter()
            .enumerate()
            .flat_map(|(i, w)| compile_word(w, t.field, t.prefix && i == last, !t.negated, ctx))
            .collect()
    };
    if atoms.is_empty() {
        return None;
    }
    ctx.atoms += atoms.len();
    Some(if atoms.len() == 1 {
        atoms.into_iter().next().unwrap_or_default()
    } else {
        format!("({})", atoms.join(" AND "))
    })
}

/// Parses and compiles `text`, or explains why it cannot be searched.
pub(crate) fn compile(text: &str) -> Result<Compiled> {
    let n = text.chars().count();
    if n > MAX_QUERY_CHARS {
        return Err(invalid(format!(
            "is {n} characters; at most {MAX_QUERY_CHARS} allowed"
        )));
    }
    if text.chars().all(is_space) {
        return Err(invalid("must not be empty"));
    }
    let (groups, excluded) = parse(lex(text));
    let mut ctx = Ctx {
        atoms: 0,
        needles: Needles::default(),
    };
    let mut positive = Vec::new();
    for g in &groups {
        let alts: Vec<String> = g.iter().filter_map(|t| compile_term(t, &mut ctx)).collect();
        match alts.len() {
            0 => {}
            1 => positive.extend(alts),
            _ => positive.push(format!("({})", alts.join(" OR "))),
        }
    }
    let negative: Vec<String> = excluded
        .iter()
        .filter_map(|t| compile_term(t, &mut ctx))
        .collect();
    if ctx.atoms > MAX_QUERY_TERMS {
        return Err(invalid(format!(
            "has {} terms; at most {MAX_QUERY_TERMS} allowed",
            ctx.atoms
        )));
    }
    if positive.is_empty() {
        return Err(invalid(if negative.is_empty() {
            "has no words to search for (only punctuation or operators)"
        } else {
            "has only excluded terms; add a word to search for"
        }));
    }
    let mut fts = positive.join(" AND ");
    if !negative.is_empty() {
        fts = format!("({fts}) NOT ({})", negative.join(" OR "));
    }
    let mut needles = ctx.needles;
    for list in [&mut needles.cjk, &mut needles.latin] {
        list.sort_by_key(|n| std::cmp::Reverse(n.len()));
        list.dedup();
    }
    Ok(Compiled { fts, needles })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fts(q: &str) -> String {
        compile(q)
            .map(|c| c.fts)
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn words_are_quoted_and_anded() {
        assert_eq!(fts("install guide"), r#""install" AND "guide""#);
        assert_eq!(
            fts("multi-agent 20.04 C++"),
            r#""multi-agent" AND "20.04" AND "C++""#
        );
        assert_eq!(fts("don't"), r#""don't""#);
        // An unclosed quote is literal text (FTS5 reads `""` as a quote).
        assert_eq!(fts(r#"say "hi"#), r#""say" AND """hi""#);
    }

    #[test]
    fn phrases_prefixes_and_fields() {
        assert_eq!(fts(r#""exact phrase""#), r#""exact phrase""#);
        assert_eq!(fts("config*"), r#""config"*"#);
        assert_eq!(fts(r#""a phr"*"#), r#""a phr"*"#);
        assert_eq!(fts("title:guide"), r#"{title title_cjk} : "guide""#);
        assert_eq!(fts(r#"meta:"x y""#), r#"{meta meta_cjk} : "x y""#);
        assert_eq!(fts("metadata:x*"), r#"{meta meta_cjk} : "x"*"#);
        assert_eq!(fts("foo:bar"), r#""foo:bar""#);
        assert_eq!(fts("title:"), r#""title:""#);
    }

    #[test]
    fn or_not_and_exclusion() {
        assert_eq!(fts("a OR b c"), r#"("a" OR "b") AND "c""#);
        assert_eq!(fts("a AND b"), r#""a" AND "b""#);
        assert_eq!(fts("a -b"), r#"("a") NOT ("b")"#);
        assert_eq!(
            fts("a NOT b -title:c"),
            r#"("a") NOT ("b" OR {title title_cjk} : "c")"#
        );
        assert_eq!(fts("OR a"), r#""OR" AND "a""#);
        assert_eq!(fts("a OR"), r#""a" AND "OR""#);
        assert_eq!(fts("a OR OR b"), r#""a" AND ("OR" OR "b")"#);
        assert_eq!(fts("a - b"), r#""a" AND "b""#);
        assert_eq!(fts("a * b"), r#""a" AND "b""#);
    }

    #[test]
    fn nothing_to_search_is_a_validation_error() {
        for q in [
            "",
            "   ",
            "\"\"",
            "- * ( ) \"",
            "!!! ???",
            "-foo",
            "NOT foo",
            "\u{0}\u{1b}",
        ] {
            match compile(q) {
                Err(Error::Validation { field, .. }) => assert_eq!(field, "query", "{q:?}"),
                other => panic!("{q:?}: {other:?}"),
            }
        }
        assert!(compile(&"a ".repeat(MAX_QUERY_TERMS + 1)).is_err());
        assert!(compile(&"a".repeat(MAX_QUERY_CHARS + 1)).is_err());
    }

    #[test]
    fn control_characters_are_spaces() {
        assert_eq!(fts("a\u{0}b"), r#""a" AND "b""#);
        assert_eq!(fts("\"a\u{0}OR\""), r#""a OR""#);
    }

    #[test]
    fn cjk_runs_become_bigram_phrases() {
        let c = compile("全文検索").unwrap();
        assert_eq!(
            c.fts,
            r#"{title_cjk content_cjk meta_cjk} : "全文 文検 検索""#
        );
        assert_eq!(c.needles.cjk, vec!["全文検索".chars().collect::<Vec<_>>()]);
        assert_eq!(fts("中文"), r#"{title_cjk content_cjk meta_cjk} : "中文""#);
        assert_eq!(fts("中"), r#"{title_cjk content_cjk meta_cjk} : "中"*"#);
        assert_eq!(
            fts("SQLiteの検索"),
            r#"("SQLite" AND {title_cjk content_cjk meta_cjk} : "の検 検索")"#
        );
        // CJK punctuation separates runs, as in the tokenizer.
        assert_eq!(
            fts("検索。速い"),
            r#"({title_cjk content_cjk meta_cjk} : "検索" AND {title_cjk content_cjk meta_cjk} : "速い")"#
        );
        assert_eq!(fts("title:検索"), r#"{title_cjk} : "検索""#);
    }
}
