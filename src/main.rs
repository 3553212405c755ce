//! `meshview`: parses the command line and hands over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Before the runtime's threads exist: this may replace the process.
    meshview::cli::tune_malloc();
    let cli = meshview::cli::Cli::parse();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(meshview::cli::main(cli)),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
