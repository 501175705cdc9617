use clap::Parser;

// mimalloc: the server allocates many small short-lived buffers per request
// (JSON, headers, claims); glibc's allocator cost ~8% of CPU on the refresh
// path in profiles, mimalloc a fraction of that (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let cli = poolgate::cli::Cli::parse();
    if let Err(e) = poolgate::cli::run(cli).await {
        eprintln!("poolgate: {e:#}");
        std::process::exit(1);
    }
}
