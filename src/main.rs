//! `meshview`: parses the command line and hands over to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    meshview::cli::main(meshview::cli::Cli::parse()).await
}
