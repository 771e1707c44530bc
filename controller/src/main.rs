//! `xvrrpd`: the xvrrp daemon and its command line.

fn main() -> std::process::ExitCode {
    xvrrpd::cli::main()
}
