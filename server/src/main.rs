//! The `slipway` binary: parses the command line and runs it.

use clap::Parser;

/// mimalloc rather than the C library's allocator: allocation and freeing were a tenth of the
/// server's CPU in a profile of run searches on glibc, and musl's allocator (the static
/// image's) is slower still.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    set_compute_threads();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let cli = slipway_server::cli::Cli::parse();
    let format = cli.output;
    match runtime.block_on(slipway_server::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // With `--output json` the error is the API's error body, still on stderr.
            slipway_server::cli::report_error(&err, format);
            std::process::ExitCode::FAILURE
        }
    }
}

/// candle asks the system for the CPU count on every matrix multiply unless
/// `RAYON_NUM_THREADS` is set, which costs small models a large share of their time (a
/// one-row prediction goes from ~85 µs to ~5 µs). The variable can only be set safely before
/// the process starts, so the binary re-executes itself once with it.
#[cfg(unix)]
fn set_compute_threads() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    // `exec` returns only when it failed; then run as we are, just slower.
    let _failed = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("RAYON_NUM_THREADS", threads.to_string())
        .exec();
}

#[cfg(not(unix))]
fn set_compute_threads() {}
