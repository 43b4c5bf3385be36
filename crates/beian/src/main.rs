//! The `beian` binary: the CLI of `beian::cli`.

fn main() -> std::process::ExitCode {
    beian::cli::main()
}
