//! The `tally` binary: parse the command line and start things; everything else is the library.

fn main() -> std::process::ExitCode {
    match tally::cli::main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
