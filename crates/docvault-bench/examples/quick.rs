// The CLI's allocator, so that profiles match `docvault bench`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let opts = docvault_bench::Options {
        num_docs: n,
        ..Default::default()
    };
    let r = docvault_bench::run(&opts, &mut docvault_bench::NoProgress).unwrap();
    print!("{}", r.to_table());
}
