//! Raw Ethernet frames: building test adverts and sending them on a link.

use std::{
    io, mem,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

/// Sends whole Ethernet frames out of one interface (AF_PACKET, SOCK_RAW).
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: i32,
}

impl PacketSocket {
    /// Opens a sender on `iface` in the calling thread's network namespace.
    pub fn open(iface: &str) -> io::Result<Self> {
        let name = std::ffi::CString::new(iface).expect("interface name");
        // SAFETY: plain libc calls with valid arguments; the fd is owned below.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            ifindex: i32::try_from(ifindex).expect("ifindex fits i32"),
        })
    }

    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain data; zeroed is a valid starting value.
        let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = self.ifindex;
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&frame[..6]);
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&raw const addr).cast(),
                mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

/// The Internet checksum (RFC 1071) of `data`.
pub fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A VRRPv2 advert in an Ethernet frame, as RFC 3768 5.1 describes it:
/// source `src_mac`, to 01:00:5e:00:00:12, IPv4 from `src` to 224.0.0.18,
/// TTL 255, no authentication, one virtual address.
pub fn vrrp_v2_advert(src_mac: [u8; 6], src: [u8; 4], vrid: u8, priority: u8, vip: [u8; 4]) -> Vec<u8> {
    let mut vrrp = vec![0x21, vrid, priority, 1, 0, 1, 0, 0];
    vrrp.extend_from_slice(&vip);
    vrrp.extend_from_slice(&[0; 8]); // authentication data (auth type 0)
    let ck = inet_checksum(&vrrp);
    vrrp[6..8].copy_from_slice(&ck.to_be_bytes());

    let total = u16::try_from(20 + vrrp.len()).expect("small packet");
    let mut ip = vec![0x45, 0xc0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0, 0, 255, 112, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&[224, 0, 0, 18]);
    let ck = inet_checksum(&ip);
    ip[10..12].copy_from_slice(&ck.to_be_bytes());

    let mut frame = vec![0x01, 0x00, 0x5e, 0x00, 0x00, 0x12];
    frame.extend_from_slice(&src_mac);
    frame.extend_from_slice(&[0x08, 0x00]);
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(&vrrp);
    frame
}

/// A UDP datagram in an Ethernet frame: ordinary traffic the program must pass.
pub fn udp_frame(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut ip = vec![0x45, 0, 0, 20 + 8 + 4, 0, 0, 0, 0, 64, 17, 0, 0];
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let ck = inet_checksum(&ip);
    ip[10..12].copy_from_slice(&ck.to_be_bytes());
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(&[0x30, 0x39, 0x30, 0x39, 0, 12, 0, 0, b'x', b'v', b'r', b'p']);
    frame
}
