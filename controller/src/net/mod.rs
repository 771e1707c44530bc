//! The controller's network side: interface facts, the advert sockets, the
//! gratuitous ARP / NA sender, and VIP management over rtnetlink.

pub mod addr;
pub mod advert_socket;
pub mod garp;
pub mod iface;
pub mod sys;
