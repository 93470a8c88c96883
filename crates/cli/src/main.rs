//! Thin entry point; everything lives in the library so tests can run it.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    contact_ledger::cli::main().await
}
