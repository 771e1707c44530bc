//! What the section parsers collect: each value as written (unset stays unset) with where it
//! was written, so that `check` can resolve keepalived's defaults and point at the line.

use std::{collections::BTreeSet, net::IpAddr};

use super::ctx::At;
use crate::config::{
    diag::Pos,
    model::{
        AuthType, Global, InitialState, Notify, RunAs, TrackFileDef, TrackInterface, TrackProcessDef,
        UnicastPeer, VirtualAddress,
    },
};

#[derive(Debug, Default)]
pub(crate) struct Draft {
    pub global: Global,
    pub scripts: Vec<ScriptDraft>,
    pub instances: Vec<InstanceDraft>,
    pub sync_groups: Vec<SyncGroupDraft>,
    /// `track_file NAME { }` / `vrrp_track_file NAME { }`, valid ones.
    pub track_files: Vec<At<TrackFileDef>>,
    /// `vrrp_track_process NAME { }`, valid ones.
    pub track_processes: Vec<At<TrackProcessDef>>,
    /// `static_ipaddress { }`, `static_routes { }`, `static_rules { }`.
    pub static_addresses: Vec<At<VirtualAddress>>,
    pub static_routes: Vec<At<crate::config::model::VirtualRoute>>,
    pub static_rules: Vec<At<(crate::config::model::VirtualRule, bool)>>,
    /// `garp_group { }` blocks.
    pub garp_groups: Vec<crate::config::model::GarpGroup>,
    /// Names of track_file / vrrp_track_process definitions that were reported
    /// as unusable (a reference to one is not reported again).
    pub broken_trackers: BTreeSet<String>,
}

#[derive(Debug)]
pub(crate) struct ScriptDraft {
    pub name: String,
    pub at: Pos,
    pub command: Option<Vec<String>>,
    pub interval_s: u32,
    pub timeout_s: Option<u32>,
    pub weight: i16,
    pub weight_reverse: bool,
    pub rise: u32,
    pub fall: u32,
    pub user: Option<RunAs>,
    pub init_fail: bool,
}

impl ScriptDraft {
    pub fn new(name: String, at: &Pos) -> Self {
        Self {
            name,
            at: at.clone(),
            command: None,
            interval_s: 1,
            timeout_s: None,
            weight: 0,
            weight_reverse: false,
            rise: 1,
            fall: 1,
            user: None,
            init_fail: false,
        }
    }
}

/// `NAME [weight W [reverse|noreverse]]` in `track_script { }`.
#[derive(Clone, Debug)]
pub(crate) struct TrackRefDraft {
    pub name: String,
    pub weight: Option<i16>,
    pub reverse: Option<bool>,
}

/// `garp_master_*` of an instance; unset ones take the global values.
#[derive(Debug, Default)]
pub(crate) struct GarpDraft {
    pub master_delay_s: Option<u32>,
    pub master_repeat: Option<u32>,
    pub master_refresh_s: Option<u32>,
    pub master_refresh_repeat: Option<u32>,
    pub lower_prio_delay_s: Option<u32>,
    pub lower_prio_repeat: Option<u32>,
}

/// One `vrrp_instance` as written. What every instance writes is kept here; the rest is in
/// [`More`], made at the first such keyword: a draft waits for the check beside every other
/// (16,000 at once on a dense host), and with every keyword's slot inline each took 936 bytes
/// (one with a `More` still takes about that).
#[derive(Debug)]
pub(crate) struct InstanceDraft {
    pub name: String,
    pub at: Pos,
    pub state: Option<At<InitialState>>,
    pub interface: Option<At<String>>,
    pub vrid: Option<At<u8>>,
    pub priority: Option<At<u8>>,
    /// `advert_int` as written, in microseconds.
    pub advert_us: Option<At<u64>>,
    pub version: Option<At<u8>>,
    pub vips: Vec<At<VirtualAddress>>,
    /// Where `nopreempt` was written (the last of `preempt`/`nopreempt` wins).
    pub nopreempt: Option<Pos>,
    pub accept: Option<bool>,
    /// `interface`, `virtual_router_id` and `unicast_peer` written, valid or not: a keyword
    /// with an invalid value is not also "missing" (three flags, not a set of every keyword
    /// written: that set cost 350 bytes an instance while a configuration is read).
    pub given: Given,
    /// Lines written in `virtual_ipaddress` blocks, valid or not.
    pub vip_lines: usize,
    /// The other keywords, if any was written ([`InstanceDraft::more`]).
    more: Option<Box<More>>,
}

/// The keywords of an instance that a dense configuration (thousands of instances of a
/// state, an interface, a VRID, a priority and VIPs) does not write; an instance that
/// writes any (authentication, tracking, notify scripts, unicast) has all of them.
#[derive(Debug)]
pub(crate) struct More {
    pub down_timer_adverts: Option<u8>,
    pub v3_checksum_as_v2: bool,
    pub auth_type: Option<At<AuthType>>,
    pub auth_pass: Option<At<String>>,
    pub excluded_vips: Vec<At<VirtualAddress>>,
    pub preempt_delay_ms: Option<At<u32>>,
    pub track_interfaces: Vec<At<TrackInterface>>,
    pub track_scripts: Vec<At<TrackRefDraft>>,
    pub track_files: Vec<At<TrackRefDraft>>,
    pub track_processes: Vec<At<TrackRefDraft>>,
    pub src_ip: Option<At<IpAddr>>,
    /// A unicast keyword was given (`unicast_src_ip`, `unicast_peer`, `check_unicast_src`).
    pub unicast_keyword: Option<Pos>,
    pub peers: Vec<At<UnicastPeer>>,
    pub unicast_ttl: Option<At<u8>>,
    pub check_unicast_src: bool,
    /// `use_vmac [NAME]`.
    pub vmac: Option<At<Option<String>>>,
    pub vmac_xmit_base: bool,
    pub native_ipv6: Option<Pos>,
    pub garp: GarpDraft,
    pub notify: Notify,
    pub smtp_alert: Option<bool>,
    pub notify_priority_changes: Option<bool>,
    pub notify_deleted: bool,
    pub lower_prio_no_advert: Option<bool>,
    pub higher_prio_send_advert: Option<bool>,
    pub routes: Vec<At<crate::config::model::VirtualRoute>>,
    /// Rules, and whether each had a preference.
    pub rules: Vec<At<(crate::config::model::VirtualRule, bool)>>,
    pub dont_track_primary: bool,
    pub debug: u8,
    pub strict: Option<bool>,
    pub skip_check_adv_addr: Option<bool>,
}

impl More {
    /// None of these keywords written.
    const NONE: More = More {
        down_timer_adverts: None,
        v3_checksum_as_v2: false,
        auth_type: None,
        auth_pass: None,
        excluded_vips: Vec::new(),
        preempt_delay_ms: None,
        track_interfaces: Vec::new(),
        track_scripts: Vec::new(),
        track_files: Vec::new(),
        track_processes: Vec::new(),
        src_ip: None,
        unicast_keyword: None,
        peers: Vec::new(),
        unicast_ttl: None,
        check_unicast_src: false,
        vmac: None,
        vmac_xmit_base: false,
        native_ipv6: None,
        garp: GarpDraft {
            master_delay_s: None,
            master_repeat: None,
            master_refresh_s: None,
            master_refresh_repeat: None,
            lower_prio_delay_s: None,
            lower_prio_repeat: None,
        },
        notify: Notify::NONE,
        smtp_alert: None,
        notify_priority_changes: None,
        notify_deleted: false,
        lower_prio_no_advert: None,
        higher_prio_send_advert: None,
        routes: Vec::new(),
        rules: Vec::new(),
        dont_track_primary: false,
        debug: 0,
        strict: None,
        skip_check_adv_addr: None,
    };
}

impl Default for More {
    /// The one definition of "none written", shared with [`NO_MORE`]: an instance reads
    /// the same whether or not another keyword made its `More`.
    fn default() -> Self {
        Self::NONE
    }
}

/// What an instance that writes none of [`More`]'s keywords reads.
static NO_MORE: More = More::NONE;

impl InstanceDraft {
    pub fn new(name: String, at: &Pos) -> Self {
        Self {
            name,
            at: at.clone(),
            state: None,
            interface: None,
            vrid: None,
            priority: None,
            advert_us: None,
            version: None,
            vips: Vec::new(),
            nopreempt: None,
            accept: None,
            given: Given::default(),
            vip_lines: 0,
            more: None,
        }
    }

    /// The less common keywords as written (all unset if none was).
    pub fn more(&self) -> &More {
        self.more.as_deref().unwrap_or(&NO_MORE)
    }

    /// The less common keywords, to write one.
    pub fn more_mut(&mut self) -> &mut More {
        self.more.get_or_insert_default()
    }

    /// Gives back the room its lists grew into: a list grows to four entries at its first
    /// push, and one VIP in a list of four cost 300 bytes an instance while thousands of
    /// drafts wait for the check.
    pub fn shrink_lists(&mut self) {
        self.vips.shrink_to_fit();
        if let Some(m) = self.more.as_deref_mut() {
            m.excluded_vips.shrink_to_fit();
            m.track_interfaces.shrink_to_fit();
            m.track_scripts.shrink_to_fit();
            m.track_files.shrink_to_fit();
            m.track_processes.shrink_to_fit();
            m.peers.shrink_to_fit();
            m.routes.shrink_to_fit();
            m.rules.shrink_to_fit();
        }
    }
}

/// The keywords of an instance whose absence is reported, and whether each was written.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Given {
    pub interface: bool,
    pub vrid: bool,
    pub unicast_peer: bool,
}

impl Given {
    /// Notes `keyword` as written.
    pub fn note(&mut self, keyword: &str) {
        match keyword {
            "interface" => self.interface = true,
            "virtual_router_id" => self.vrid = true,
            "unicast_peer" => self.unicast_peer = true,
            _ => {}
        }
    }
}

#[derive(Debug)]
pub(crate) struct SyncGroupDraft {
    pub name: String,
    pub at: Pos,
    pub group: Option<Vec<At<String>>>,
    pub notify: Notify,
    pub track_scripts: Vec<At<TrackRefDraft>>,
    pub track_interfaces: Vec<At<TrackInterface>>,
    pub track_files: Vec<At<TrackRefDraft>>,
    pub track_processes: Vec<At<TrackRefDraft>>,
    /// `sync_group_tracking_weight`.
    pub tracking_weight: bool,
    pub smtp_alert: Option<bool>,
    pub notify_priority_changes: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::InstanceDraft;

    /// Thousands of drafts wait for the check at once (bench-truth's peak at
    /// 16,000 instances); the common keywords stay inline, the rest in `More`.
    /// The bound is this layout on a 64-bit target: a rustc that packs it
    /// otherwise may need it moved, a new inline field should not.
    #[test]
    fn an_instance_draft_stays_small() {
        let size = std::mem::size_of::<InstanceDraft>();
        assert!(size <= 328, "InstanceDraft grew to {size} bytes");
    }
}
