//! The controller's network side: interface facts, the advert sockets, the
//! whole-frame sender (gratuitous ARP / NA, adverts from a virtual MAC), and
//! VIP management over rtnetlink, and the pool of sockets the instances share.

pub mod addr;
pub mod advert_socket;
pub mod frames;
pub mod iface;
pub mod monitor;
pub mod pool;
pub mod routes;
pub mod sys;
pub mod vmac;
