//! The `ferry` binary: see [`ferry::cli`] for the commands and exit codes.

fn main() -> std::process::ExitCode {
    ferry::cli::main()
}
