//! The `ferry` binary. Its subcommands (`lsp`, `sync`, `list`, `status`, `doctor`) arrive
//! with the sync engine; until then it only reports its version.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version" | "-V") => {
            println!("ferry {}", ferry::VERSION);
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!(
                "ferry {}: the sync engine (ferry sync, list, status, doctor, lsp) is not built yet",
                ferry::VERSION
            );
            ExitCode::from(2)
        }
    }
}
