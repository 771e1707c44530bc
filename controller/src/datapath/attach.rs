//! Where the XDP program is attached, how (native or generic), and who
//! answers ARP / Neighbor Solicitations for the VIPs there: pure decisions,
//! so they are tested without a kernel.
//!
//! Why the responder is a per-interface decision: a reply sent with XDP_TX
//! from a native program on a veth is handed straight to the far end's
//! receive queue, which takes XDP frames only when the far end runs an XDP
//! program (or has GRO on); otherwise the veth drops it. Containers, VMs
//! and plain network namespaces do not arrange that, so a responder that
//! assumed it would answer nobody. Generic (skb) XDP transmits through the
//! stack and arrives everywhere; the kernel answers anywhere, as the VIP is
//! on the interface.

use serde::{Deserialize, Serialize};

/// How to attach (`--mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    /// Native where the driver supports it, else generic, per interface.
    Auto,
    /// Native or fail.
    Native,
    /// Generic (skb) mode.
    Generic,
}

/// Who should answer ARP / NDP for the VIPs (`--arp-responder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ResponderChoice {
    /// XDP where its replies are known to arrive, the kernel elsewhere.
    Auto,
    /// XDP everywhere: the operator has arranged the far end of every veth
    /// (an XDP program there, or GRO on).
    Xdp,
    /// Always the kernel.
    Kernel,
}

/// Where adverts are validated in the kernel (`--adverts-in`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdvertPath {
    /// The TC ingress classifier: sees VLAN tags that rx / tx VLAN offload
    /// moved into the packet's metadata (XDP does not), so an advert of
    /// another VLAN is never taken for this interface's. The default.
    Tc,
    /// XDP, before the stack allocates anything: for links where no tag can
    /// be hidden (rx VLAN offload off, no VLANs on a veth's bridge). The
    /// operator vouches for that.
    Xdp,
}

/// What a program attachment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Attached {
    Native,
    Generic,
}

impl Attached {
    fn tag(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Generic => "generic",
        }
    }
}

/// Who answers ARP / NDP on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Answerer {
    Xdp,
    Kernel,
}

/// What to do with the XDP program on interfaces (start-up, and interfaces
/// that appear later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachPolicy {
    pub mode: AttachMode,
    pub responder: ResponderChoice,
    pub adverts: AdvertPath,
}

/// Whether replies sent with XDP_TX by a program attached `how` to a device
/// of `driver` can be shown to arrive. Native XDP_TX on a veth cannot (see
/// the module comment); physical NICs, virtio_net and tun transmit it.
pub fn xdp_tx_arrives(driver: Option<&str>, how: Attached) -> bool {
    how == Attached::Generic || driver != Some("veth")
}

/// Who answers on an interface, and a warning for the operator when the
/// choice they forced may answer nobody.
pub fn answerer(
    choice: ResponderChoice,
    driver: Option<&str>,
    how: Attached,
    ifname: &str,
) -> (Answerer, Option<String>) {
    let arrives = xdp_tx_arrives(driver, how);
    match choice {
        ResponderChoice::Kernel => (Answerer::Kernel, None),
        ResponderChoice::Auto if arrives => (Answerer::Xdp, None),
        ResponderChoice::Auto => (
            Answerer::Kernel,
            Some(format!(
                "{ifname}: native XDP on a veth cannot deliver ARP/NDP replies unless the far end runs an XDP \
                 program or has GRO on; the kernel answers for the VIPs here (--mode xdp-skb, or \
                 --arp-responder xdp once the far end is arranged, let XDP answer)"
            )),
        ),
        ResponderChoice::Xdp if arrives => (Answerer::Xdp, None),
        ResponderChoice::Xdp => (
            Answerer::Xdp,
            Some(format!(
                "{ifname}: --arp-responder xdp on a veth in native mode: replies reach clients only if the far \
                 end runs an XDP program or has GRO on (ethtool -K PEER gro on); otherwise nobody gets an \
                 answer for the VIPs"
            )),
        ),
    }
}

/// The bpffs file an attachment is pinned as: `link-IFNAME-IFINDEX-HOW`.
pub fn pin_name(ifname: &str, index: u32, how: Attached) -> String {
    format!("link-{ifname}-{index}-{}", how.tag())
}

/// The bpffs file a TC advert classifier's attachment is pinned as.
pub fn tc_pin_name(ifname: &str, index: u32) -> String {
    format!("tc-{ifname}-{index}")
}

/// The interface name and index a TC pin file stands for.
pub fn parse_tc_pin_name(file: &str) -> Option<(&str, u32)> {
    let (name, index) = file.strip_prefix("tc-")?.rsplit_once('-')?;
    let index = index.parse().ok()?;
    (!name.is_empty()).then_some((name, index))
}

/// The interface name, index and mode a pin file stands for; `None` for any
/// other file. Interface names may contain '-' (`br-lan`): the index and mode
/// are taken from the end, and the name must match exactly.
pub fn parse_pin_name(file: &str) -> Option<(&str, u32, Attached)> {
    let rest = file.strip_prefix("link-")?;
    let (rest, how) = rest.rsplit_once('-')?;
    let how = match how {
        "native" => Attached::Native,
        "generic" => Attached::Generic,
        _ => return None,
    };
    let (name, index) = rest.rsplit_once('-')?;
    let index = index.parse().ok()?;
    (!name.is_empty()).then_some((name, index, how))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_names_round_trip_and_match_exactly() {
        for (name, index, how) in [
            ("br", 4, Attached::Native),
            ("br-lan", 17, Attached::Generic),
            ("a-b-c", 1, Attached::Native),
        ] {
            assert_eq!(
                parse_pin_name(&pin_name(name, index, how)),
                Some((name, index, how))
            );
        }
        // `br`'s pin is not `br-lan`'s and the reverse.
        assert_eq!(
            parse_pin_name("link-br-lan-5-native").map(|p| p.0),
            Some("br-lan")
        );
        assert_ne!(parse_pin_name("link-br-lan-5-native").map(|p| p.0), Some("br"));
        for junk in [
            "link-br-5",
            "link--5-native",
            "link-br-x-native",
            "maps",
            "link-br-5-other",
        ] {
            assert_eq!(parse_pin_name(junk), None, "{junk}");
        }
        assert_eq!(parse_tc_pin_name(&tc_pin_name("br-lan", 9)), Some(("br-lan", 9)));
        assert_eq!(parse_tc_pin_name("link-br-lan-9-native"), None);
        assert_eq!(parse_pin_name(&tc_pin_name("br", 9)), None);
    }

    #[test]
    fn responder_never_black_holes_in_auto() {
        let veth = Some("veth");
        assert_eq!(
            answerer(ResponderChoice::Auto, veth, Attached::Native, "v").0,
            Answerer::Kernel
        );
        assert!(
            answerer(ResponderChoice::Auto, veth, Attached::Native, "v")
                .1
                .is_some()
        );
        assert_eq!(
            answerer(ResponderChoice::Auto, veth, Attached::Generic, "v"),
            (Answerer::Xdp, None)
        );
        assert_eq!(
            answerer(ResponderChoice::Auto, Some("ixgbe"), Attached::Native, "e"),
            (Answerer::Xdp, None)
        );
        assert_eq!(
            answerer(ResponderChoice::Kernel, Some("ixgbe"), Attached::Native, "e"),
            (Answerer::Kernel, None)
        );
        let forced = answerer(ResponderChoice::Xdp, veth, Attached::Native, "v");
        assert_eq!(forced.0, Answerer::Xdp);
        assert!(forced.1.is_some_and(|w| w.contains("far end")));
    }
}
