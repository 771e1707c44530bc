//! The wire codec: one struct per header with `decode` and `encode`, and the
//! precise error of every rule a received frame can break.

pub mod advert;
pub mod arp;
pub mod checksum;
pub mod error;
pub mod ethernet;
pub mod ip;
pub mod ndp;

pub use advert::{Advert, Auth, ChecksumScope, Family};
pub use error::DecodeError;
