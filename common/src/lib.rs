//! Types and constants shared by the xvrrp XDP program (`ebpf/`) and the
//! controller (`controller/`).
//!
//! Everything here is `#[repr(C)]` plain old data: the kernel program and the
//! controller read the same bytes from the same BPF maps, so a layout change on
//! one side must be a compile error on the other (see the `size_of` asserts).
//! Userspace-only trait impls live behind the `user` feature.
#![no_std]

pub mod maps;
pub mod mix;
pub mod stats;
pub mod vrrp;
