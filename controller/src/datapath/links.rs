//! The program's attachments: XDP on each interface (native or generic),
//! the TC advert classifier where adverts are validated at TC ingress, their
//! bpffs pins (a crash-only restart adopts them), and who answers ARP / NDP.

use std::path::Path;

use anyhow::{Context as _, Result};
use aya::programs::{
    LinkOrder, SchedClassifier, TcAttachType, XdpMode,
    links::{FdLink, PinnedLink},
    tc::TcAttachOptions,
};
use xvrrp_common::maps::{self, IFACE_ADVERTS_IN_TC};

use super::{
    Attachment, Datapath,
    attach::{
        self, AdvertPath, Answerer, AttachMode, AttachPolicy, Attached, parse_pin_name, parse_tc_pin_name,
        pin_name, tc_pin_name,
    },
    ignore_missing,
};

impl Datapath {
    /// Attaches to `interface` as `policy` says and pins the attachment as
    /// `pin_dir/link-IFNAME-IFINDEX-HOW`; when such a pin already exists (a
    /// controller that died left it), the running attachment is adopted as
    /// it is. Pins of an earlier interface of the same name (deleted and
    /// created again, so with another index) are removed.
    pub fn attach_pinned(&mut self, interface: &str, policy: AttachPolicy, pin_dir: &Path) -> Result<()> {
        let index = crate::net::sys::ifindex(interface)?;
        if self.is_attached(interface, index) {
            return Ok(());
        }
        let mut adopt = None;
        let mut adopt_tc = None;
        if let Ok(entries) = std::fs::read_dir(pin_dir) {
            for e in entries.flatten() {
                let file = e.file_name().to_string_lossy().into_owned();
                let pinned = parse_pin_name(&file)
                    .map(|(name, i, how)| (name, i, Some(how)))
                    .or_else(|| parse_tc_pin_name(&file).map(|(name, i)| (name, i, None)));
                match pinned {
                    Some((name, i, Some(how))) if name == interface && i == index => {
                        adopt = Some((e.path(), how));
                    }
                    Some((name, i, None)) if name == interface && i == index => adopt_tc = Some(e.path()),
                    Some((name, _, _)) if name == interface => {
                        let _ = std::fs::remove_file(e.path());
                    }
                    _ => {}
                }
            }
        }
        self.attachments.retain(|a| a.name != interface);
        let (link, how) = if let Some((path, how)) = adopt {
            (
                PinnedLink::from_pin(&path).with_context(|| format!("adopting {}", path.display()))?,
                how,
            )
        } else {
            let (link_id, how) = match policy.mode {
                AttachMode::Native => (self.attach(interface, XdpMode::Driver)?, Attached::Native),
                AttachMode::Generic => (self.attach(interface, XdpMode::Skb)?, Attached::Generic),
                AttachMode::Auto => match self.attach(interface, XdpMode::Driver) {
                    Ok(id) => (id, Attached::Native),
                    Err(e) => {
                        tracing::warn!(
                            "{interface}: native XDP unavailable ({e:#}); attaching in generic mode"
                        );
                        (self.attach(interface, XdpMode::Skb)?, Attached::Generic)
                    }
                },
            };
            let link = self.program()?.take_link(link_id)?;
            let fd_link =
                FdLink::try_from(link).context("the XDP attachment is not a bpf_link (kernel < 5.9?)")?;
            let path = pin_dir.join(pin_name(interface, index, how));
            let pinned = fd_link
                .pin(&path)
                .with_context(|| format!("pinning {}", path.display()))?;
            (pinned, how)
        };
        let driver = crate::net::sys::driver(interface);
        let (answerer, warning) = attach::answerer(policy.responder, driver.as_deref(), how, interface);
        if let Some(w) = warning {
            tracing::warn!("{w}");
        }
        let tc_link = match (policy.adverts, adopt_tc) {
            (AdvertPath::Xdp, stale) => {
                // A classifier an earlier run left: it must not validate
                // adverts beside XDP. Unpinned, it detaches.
                if let Some(path) = stale {
                    let _ = std::fs::remove_file(path);
                }
                None
            }
            (AdvertPath::Tc, Some(path)) => {
                Some(PinnedLink::from_pin(&path).with_context(|| format!("adopting {}", path.display()))?)
            }
            (AdvertPath::Tc, None) => match self.attach_tc_pinned(interface, index, pin_dir) {
                Ok(link) => Some(link),
                Err(e) => {
                    // Kernels before 6.6 have no tcx links. XDP validates
                    // adverts there, which cannot see a VLAN tag held in the
                    // packet's metadata, nor a bond's adverts (it runs on the
                    // slaves): say so rather than go blind.
                    tracing::warn!(
                        "{interface}: {e:#}; adverts are validated in XDP here, which does not see VLAN tags \
                         that rx/tx VLAN offload keeps in metadata (turn rx VLAN offload off on trunks){}",
                        if driver.as_deref() == Some("bonding") {
                            "; on a bond it does not see the bond's adverts at all: use --mode socket"
                        } else {
                            ""
                        }
                    );
                    None
                }
            },
        };
        let adverts = if tc_link.is_some() {
            AdvertPath::Tc
        } else {
            AdvertPath::Xdp
        };
        self.set_iface_flags(index, if tc_link.is_some() { IFACE_ADVERTS_IN_TC } else { 0 })?;
        tracing::info!(
            interface,
            driver = driver.as_deref().unwrap_or("?"),
            xdp = ?how,
            arp_ndp = ?answerer,
            adverts = ?adverts,
            "data path attached"
        );
        self.attachments.push(Attachment {
            name: interface.to_owned(),
            index,
            how,
            answerer,
            adverts,
            link,
            tc_link,
        });
        Ok(())
    }

    /// Attaches the TC advert classifier at `interface`'s ingress (a tcx
    /// link, kernel 6.6+) and pins it as `pin_dir/tc-IFNAME-IFINDEX`.
    fn attach_tc_pinned(&mut self, interface: &str, index: u32, pin_dir: &Path) -> Result<PinnedLink> {
        let program = self.tc_program()?;
        // A tcx link only: on kernels without tcx, aya would fall back to a
        // netlink filter, which is no bpf_link, cannot be pinned, and would be
        // left behind on the interface when the fallback to XDP adverts runs.
        let link_id = program
            .attach_with_options(
                interface,
                TcAttachType::Ingress,
                TcAttachOptions::TcxOrder(LinkOrder::default()),
            )
            .with_context(|| {
                format!(
                    "attaching the TC advert classifier to {interface} (kernels before 6.6: --adverts-in xdp)"
                )
            })?;
        let link = program.take_link(link_id)?;
        let fd_link = FdLink::try_from(link)
            .context("the TC attachment is not a bpf_link (kernels before 6.6: --adverts-in xdp)")?;
        let path = pin_dir.join(tc_pin_name(interface, index));
        fd_link
            .pin(&path)
            .with_context(|| format!("pinning {}", path.display()))
    }

    /// The TC advert classifier, loaded on first use in-process (also for
    /// `test_run`); from its pin in the daemon.
    pub fn tc_program(&mut self) -> Result<&mut SchedClassifier> {
        self.kernel.tc()
    }

    /// Writes `ifindex`'s `IFACE_*` bits (0 removes the entry).
    pub fn set_iface_flags(&mut self, ifindex: u32, flags: u32) -> Result<()> {
        let mut map = self.hash::<u32, u32>(maps::IFACES)?;
        if flags == 0 {
            ignore_missing(map.remove(&ifindex))
        } else {
            map.insert(ifindex, flags, 0)
                .with_context(|| format!("writing {}", maps::IFACES))
        }
    }

    /// Whether the program is attached (pinned) to this interface and index.
    pub fn is_attached(&self, interface: &str, index: u32) -> bool {
        self.attachments
            .iter()
            .any(|a| a.name == interface && a.index == index)
    }

    /// The interfaces the program is attached to.
    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }

    /// Whether XDP answers ARP / NDP on `ifindex` (see `attach::answerer`).
    pub(super) fn answers_in_xdp(&self, ifindex: u32) -> bool {
        self.answer_anyway.contains(&ifindex)
            || self
                .attachments
                .iter()
                .any(|a| a.index == ifindex && a.answerer == Answerer::Xdp)
    }

    /// Lets XDP answer for the VIPs set on `ifindex` from now on, where the
    /// program runs without a pinned attachment of this daemon's
    /// (BPF_PROG_TEST_RUN, `attach`, `xvrrpd watch`).
    pub fn answer_in_xdp(&mut self, ifindex: u32) {
        self.answer_anyway.insert(ifindex);
    }

    /// A clean stop: unpins the attachments (they detach when this value drops).
    pub fn unpin_links(&mut self) {
        for a in self.attachments.drain(..) {
            let _ = a.link.unpin();
            if let Some(tc) = a.tc_link {
                let _ = tc.unpin();
            }
        }
    }
}
