use std::process::ExitCode;

use clap::Parser;

/// glibc's malloc took a quarter of the server's CPU on list pages (arena contention and
/// `malloc_consolidate` across actix's worker and blocking threads); mimalloc doesn't.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match crm::cli::run(crm::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("crm: {error}");
            ExitCode::FAILURE
        }
    }
}
