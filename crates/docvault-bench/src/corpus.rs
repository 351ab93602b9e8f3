//! A deterministic corpus of realistic Markdown documents (~2 KB each).
//!
//! Word choice follows a Zipf-like law over a vocabulary of real technical
//! words and generated ones, so term frequencies look like documentation.
//! Three marker terms have fixed document frequencies for search workloads.

use docvault::{DocType, MetaValue, NewDocument, Status};

/// In about 0.1% of documents.
pub const RARE_TERM: &str = "quixotry";
/// In about 5% of documents.
pub const MID_TERM: &str = "telemetry";
/// In about 60% of documents.
pub const COMMON_TERM: &str = "throughput";

const REAL_WORDS: &[&str] = &[
    "the",
    "a",
    "to",
    "of",
    "and",
    "in",
    "is",
    "for",
    "with",
    "on",
    "this",
    "that",
    "by",
    "be",
    "are",
    "it",
    "as",
    "from",
    "or",
    "can",
    "you",
    "use",
    "an",
    "will",
    "each",
    "not",
    "when",
    "data",
    "file",
    "server",
    "client",
    "request",
    "response",
    "error",
    "config",
    "value",
    "function",
    "module",
    "service",
    "database",
    "query",
    "index",
    "cache",
    "token",
    "user",
    "document",
    "version",
    "build",
    "deploy",
    "release",
    "test",
    "install",
    "option",
    "default",
    "parameter",
    "return",
    "string",
    "integer",
    "array",
    "object",
    "field",
    "schema",
    "table",
    "network",
    "storage",
    "memory",
    "thread",
    "process",
    "queue",
    "event",
    "handler",
    "logger",
    "metric",
    "report",
    "design",
    "interface",
    "library",
    "package",
    "command",
    "script",
    "path",
    "directory",
    "permission",
    "account",
    "session",
    "header",
    "payload",
    "endpoint",
    "route",
    "latency",
    "timeout",
    "retry",
    "backoff",
    "cluster",
    "node",
    "replica",
    "shard",
    "partition",
    "backup",
    "restore",
    "migration",
    "upgrade",
    "rollback",
    "feature",
    "flag",
    "environment",
    "variable",
    "secret",
    "certificate",
    "encryption",
    "signature",
    "hash",
    "checksum",
    "stream",
    "buffer",
    "socket",
    "protocol",
    "format",
    "parser",
    "compiler",
    "runtime",
    "container",
    "image",
    "volume",
    "mount",
    "kernel",
    "driver",
    "device",
    "plugin",
    "extension",
    "template",
    "render",
    "layout",
    "component",
    "state",
    "store",
    "action",
    "reducer",
    "hook",
    "effect",
    "callback",
    "promise",
    "async",
    "await",
    "future",
    "task",
    "job",
    "worker",
    "scheduler",
    "pipeline",
    "stage",
    "artifact",
    "registry",
    "repository",
    "branch",
    "commit",
    "merge",
    "review",
    "approve",
    "guide",
    "tutorial",
    "reference",
    "example",
    "note",
    "warning",
    "tip",
    "overview",
    "introduction",
    "summary",
    "detail",
    "step",
    "first",
    "next",
    "finally",
    "then",
    "should",
    "must",
    "may",
    "might",
    "always",
    "never",
    "often",
    "usually",
    "only",
    "also",
];

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ra", "ven", "tor", "sil", "mar", "dex", "qua", "zen", "pol", "fir", "nu",
    "tek", "sor", "lin", "gra", "vo", "bel",
];

/// A small, fast, deterministic random generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (any value).
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Samples ranks `0..n` with probability proportional to `1 / (rank+1)^s`.
///
/// By Vose's alias method: one sample is two random numbers and two
/// table reads. A binary search over the cumulative weights (until session
/// 12) made generating a ~2 KB document cost ~7% of a one-document create
/// in the bench's timed loop, and a `get_zipf` over 100,000 ranks ~100 ns.
#[derive(Debug, Clone)]
pub struct Zipf {
    /// Probability of keeping the rank drawn, else taking its alias.
    keep: Vec<f64>,
    alias: Vec<u32>,
}

impl Zipf {
    /// A distribution over `n` ranks with exponent `s`.
    pub fn new(n: usize, s: f64) -> Self {
        let n = n.max(1);
        let weights: Vec<f64> = (1..=n).map(|k| 1.0 / (k as f64).powf(s)).collect();
        let total: f64 = weights.iter().sum();
        // Scaled so that the average is 1: below 1 a rank lends the rest of
        // its column to one above.
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut keep = vec![1.0; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            keep[s] = scaled[s];
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // What is left is 1 up to rounding.
        Zipf { keep, alias }
    }
    /// One rank.
    pub fn sample(&self, rng: &mut Rng) -> usize {
        let i = rng.below(self.keep.len() as u64) as usize;
        if rng.unit() < self.keep[i] {
            i
        } else {
            self.alias[i] as usize
        }
    }
}

/// Generates the corpus.
pub struct Corpus {
    vocab: Vec<String>,
    zipf: Zipf,
}

impl Default for Corpus {
    fn default() -> Self {
        Self::new()
    }
}

impl Corpus {
    /// The standard corpus (about 3,000 words).
    pub fn new() -> Self {
        let mut vocab: Vec<String> = REAL_WORDS.iter().map(|w| w.to_string()).collect();
        let mut rng = Rng::new(7);
        while vocab.len() < 3000 {
            let n = 2 + rng.below(3) as usize;
            let w: String = (0..n)
                .map(|_| SYLLABLES[rng.below(SYLLABLES.len() as u64) as usize])
                .collect();
            if w != RARE_TERM && w != MID_TERM && w != COMMON_TERM {
                vocab.push(w);
            }
        }
        let zipf = Zipf::new(vocab.len(), 1.0);
        Corpus { vocab, zipf }
    }

    fn word<'a>(&'a self, rng: &mut Rng) -> &'a str {
        &self.vocab[self.zipf.sample(rng)]
    }

    fn sentence(&self, rng: &mut Rng, out: &mut String) {
        let n = 8 + rng.below(12) as usize;
        for i in 0..n {
            let w = self.word(rng);
            if i == 0 {
                let mut c = w.chars();
                if let Some(f) = c.next() {
                    out.extend(f.to_uppercase());
                    out.push_str(c.as_str());
                }
            } else {
                out.push(' ');
                out.push_str(w);
            }
        }
        out.push_str(". ");
    }

    fn paragraph(&self, rng: &mut Rng, out: &mut String) {
        for _ in 0..3 + rng.below(3) {
            self.sentence(rng, out);
        }
        out.push_str("\n\n");
    }

    /// Document number `i` (deterministic: the same `i` gives the same
    /// document).
    pub fn document(&self, i: u64) -> NewDocument {
        let mut rng = Rng::new(i.wrapping_add(1_000_003));
        let title = format!(
            "{} {} {} {}",
            capitalise(self.word(&mut rng)),
            self.word(&mut rng),
            self.word(&mut rng),
            i
        );
        let mut body = format!("# {title}\n\n");
        while body.len() < 1900 {
            match rng.below(6) {
                0 => {
                    body.push_str(&format!("## {}\n\n", capitalise(self.word(&mut rng))));
                }
                1 => {
                    for _ in 0..3 {
                        body.push_str("- ");
                        self.sentence(&mut rng, &mut body);
                        body.push('\n');
                    }
                    body.push('\n');
                }
                2 => {
                    body.push_str(&format!(
                        "```sh\n{} --{} {}\n```\n\n",
                        self.word(&mut rng),
                        self.word(&mut rng),
                        self.word(&mut rng)
                    ));
                }
                _ => self.paragraph(&mut rng, &mut body),
            }
        }
        if i % 1000 == 7 {
            body.push_str(&format!("A {RARE_TERM} of design. "));
        }
        if i % 20 == 3 {
            body.push_str(&format!("See the {MID_TERM} notes. "));
        }
        if i % 10 < 6 {
            body.push_str(&format!("Mind the {COMMON_TERM}.\n"));
        }
        let doc_type = DocType::ALL[(i % DocType::ALL.len() as u64) as usize];
        let status = [
            Status::Active,
            Status::Active,
            Status::Draft,
            Status::Archived,
        ][(i % 4) as usize];
        let teams = [
            "core", "web", "infra", "docs", "api", "mobile", "data", "security",
        ];
        NewDocument {
            doc_type: Some(doc_type),
            status: Some(status),
            ..NewDocument::new(title, body)
        }
        .meta("team", teams[(i % 8) as usize])
        .meta("priority", (i % 5 + 1) as i64)
        .meta(
            "tags",
            MetaValue::Json(serde_json::json!([
                self.word(&mut rng),
                self.word(&mut rng)
            ])),
        )
    }
}

fn capitalise(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Documents made ahead of time for write workloads, so that a timed
/// create pays for the store's work, not for composing its input (composing
/// a document costs ~40 us, about 5% of a one-document create).
pub struct DocPool {
    docs: Vec<NewDocument>,
}

impl DocPool {
    /// `n` corpus documents, from `first` on.
    pub fn new(corpus: &Corpus, first: u64, n: usize) -> DocPool {
        DocPool {
            docs: (0..n.max(1) as u64)
                .map(|k| corpus.document(first + k))
                .collect(),
        }
    }

    /// Document `i`: a copy of a pooled one under a title of its own.
    pub fn document(&self, i: u64) -> NewDocument {
        let mut d = self.docs[(i % self.docs.len() as u64) as usize].clone();
        d.title = format!("{} {i}", d.title);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_deterministic_and_about_2kb() {
        let c = Corpus::new();
        let a = c.document(42);
        let b = c.document(42);
        assert_eq!(a.content, b.content);
        assert_eq!(a.title, b.title);
        let sizes: Vec<usize> = (0..200).map(|i| c.document(i).content.len()).collect();
        let mean = sizes.iter().sum::<usize>() / sizes.len();
        assert!((1800..2600).contains(&mean), "mean size {mean}");
        assert_eq!(c.document(1).metadata.len(), 3);
    }

    #[test]
    fn marker_terms_have_their_frequencies() {
        let c = Corpus::new();
        let n = 2000;
        let count = |t: &str| {
            (0..n)
                .filter(|&i| c.document(i).content.contains(t))
                .count()
        };
        assert_eq!(count(RARE_TERM), 2);
        assert_eq!(count(MID_TERM), 100);
        assert_eq!(count(COMMON_TERM), 1200);
    }

    #[test]
    fn zipf_prefers_low_ranks() {
        let z = Zipf::new(1000, 1.0);
        let mut rng = Rng::new(1);
        let low = (0..10_000).filter(|_| z.sample(&mut rng) < 10).count();
        assert!(low > 2500, "{low}");
    }

    #[test]
    fn zipf_samples_follow_the_weights() {
        let (n, s) = (50, 1.1);
        let z = Zipf::new(n, s);
        let mut rng = Rng::new(7);
        let draws = 400_000;
        let mut seen = vec![0u32; n];
        for _ in 0..draws {
            seen[z.sample(&mut rng)] += 1;
        }
        let total: f64 = (1..=n).map(|k| 1.0 / (k as f64).powf(s)).sum();
        for (rank, &count) in seen.iter().enumerate() {
            let expect = draws as f64 / ((rank + 1) as f64).powf(s) / total;
            // Five standard deviations of a binomial count.
            let tolerance = 5.0 * expect.sqrt();
            assert!(
                (f64::from(count) - expect).abs() < tolerance,
                "rank {rank}: {count} draws, expected {expect:.0}"
            );
        }
    }
}
