//! The `beian` binary: the CLI of `beian::cli`.

/// mimalloc instead of glibc's allocator: under the public query load at 200 k the server
/// answered 9–10 % more queries per CPU second with it (A/B pairs, docs/benchmarks.md, "The
/// tenth session"); its own memory after the read scenarios 13 → 46 MB. SQLite's own
/// allocations still go to glibc's `malloc`.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    beian::cli::main()
}
