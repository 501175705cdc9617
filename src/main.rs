use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = poolgate::cli::Cli::parse();
    if let Err(e) = poolgate::cli::run(cli).await {
        eprintln!("poolgate: {e:#}");
        std::process::exit(1);
    }
}
