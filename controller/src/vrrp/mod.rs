//! The VRRP protocol core: the wire codec, the receive validation of RFC 3768 /
//! RFC 5798 section 7.1, the pure state machine and keepalived's tracking
//! policy (`track`). Nothing here touches a
//! socket, a clock or the kernel.

pub mod codec;
pub mod fixtures;
pub mod fsm;
pub mod track;
pub mod validate;

#[cfg(test)]
mod fixture_tests;
