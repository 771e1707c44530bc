//! `xvrrpd`: the xvrrp daemon and its command line.

fn main() -> std::process::ExitCode {
    xvrrpd::net::sys::one_heap_arena();
    xvrrpd::cli::main()
}
