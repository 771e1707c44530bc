//! The normalized configuration: what the daemon runs from, with every keepalived default
//! resolved. Each field names its keepalived keyword and default.
//!
//! Times are integers with their unit in the name (`_s`, `_ms`, `_cs` for centiseconds), so
//! the JSON form is exact and plain; the methods give `Duration`s.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use serde::{Deserialize, Serialize};
use thin_vec::ThinVec;

mod address;
mod notify;
mod route;
mod tracking;
pub use address::VirtualAddress;
pub use notify::{Fifo, Notify, NotifyScript};
pub use route::{PROTO_KEEPALIVED, Prefix, RuleAction, VirtualRoute, VirtualRule};
pub use tracking::{FileInit, GarpGroup, ParamMatch, TrackFileDef, TrackProcessDef, TrackRef};

/// A whole keepalived.conf, VRRP side.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    pub global: Global,
    /// `vrrp_script NAME { }` blocks, in file order.
    pub scripts: Vec<VrrpScript>,
    /// `vrrp_instance NAME { }` blocks, in file order.
    pub instances: Vec<Instance>,
    /// `vrrp_sync_group NAME { }` blocks, in file order.
    pub sync_groups: Vec<SyncGroup>,
    /// `track_file NAME { }` blocks some instance or group tracks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_files: Vec<TrackFileDef>,
    /// `vrrp_track_process NAME { }` blocks some instance or group tracks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_processes: Vec<TrackProcessDef>,
    /// `static_ipaddress { }`: installed at start, removed at exit (each
    /// with a `dev`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_addresses: Vec<VirtualAddress>,
    /// `static_routes { }`, `static_rules { }`: the same.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_routes: Vec<VirtualRoute>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_rules: Vec<VirtualRule>,
    /// `garp_group { }` blocks: gratuitous ARP / NA pacing per interface.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub garp_groups: Vec<GarpGroup>,
}

impl Config {
    pub fn script(&self, name: &str) -> Option<&VrrpScript> {
        self.scripts.iter().find(|s| s.name == name)
    }

    pub fn instance(&self, name: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| &*i.name == name)
    }

    /// All virtual addresses (advertised, not excluded) of all instances.
    pub fn vip_count(&self) -> usize {
        self.instances.iter().map(|i| i.vips.len()).sum()
    }
}

/// `global_defs { }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Global {
    /// `router_id NAME`; default: the host name (resolved by the daemon).
    pub router_id: Option<String>,
    /// `notification_email { ADDR ... }`: where `smtp_alert` mail goes.
    pub notification_email: Vec<String>,
    /// `notification_email_from ADDR`. Default `root@HOSTNAME` (resolved when sent).
    pub notification_email_from: Option<String>,
    /// `smtp_server HOST [PORT]`: the host.
    pub smtp_server: Option<String>,
    /// The `PORT` of `smtp_server`. Default 25.
    #[serde(default = "smtp_port_default")]
    pub smtp_port: u16,
    /// `smtp_helo_name NAME`. Default: the host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_helo_name: Option<String>,
    /// `smtp_connect_timeout S`: for the connection and every reply. Default 30.
    pub smtp_connect_timeout_s: u32,
    /// `smtp_alert [BOOL]` and `smtp_alert_vrrp [BOOL]`: the default of the
    /// instances' and groups' `smtp_alert` (`smtp_alert_vrrp` first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_alert: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_alert_vrrp: Option<bool>,
    /// `no_email_faults`: no mail for FAULT transitions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_email_faults: bool,
    /// `notify_fifo PATH [USER [GROUP]]` with `notify_fifo_script`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_fifo: Option<Fifo>,
    /// `vrrp_notify_fifo PATH [USER [GROUP]]` with `vrrp_notify_fifo_script`;
    /// every line goes to both FIFOs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp_notify_fifo: Option<Fifo>,
    /// `vrrp_lower_prio_no_advert [BOOL]`, `vrrp_higher_prio_send_advert [BOOL]`:
    /// the instances' defaults.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lower_prio_no_advert: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub higher_prio_send_advert: bool,
    /// `vrrp_notify_priority_changes [BOOL]`: the default of the instances'
    /// `notify_priority_changes`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notify_priority_changes: bool,
    /// `script_user USER [GROUP]`: who runs scripts that name no user; default: the
    /// `keepalived_script` user if it exists, else root (resolved by the daemon).
    pub script_user: Option<RunAs>,
    /// `enable_script_security`: refuse scripts writable by non-root. Default off.
    pub enable_script_security: bool,
    /// `vrrp_version 2|3`: default version of IPv4 instances. Default 2.
    pub vrrp_version: u8,
    /// `vrrp_garp_master_delay`, `vrrp_garp_master_repeat`, `vrrp_garp_master_refresh`,
    /// `vrrp_garp_master_refresh_repeat`, `vrrp_garp_lower_prio_delay`,
    /// `vrrp_garp_lower_prio_repeat` (unset: the `vrrp_garp_master_*` values):
    /// defaults of the instances' `garp_*`.
    pub garp: Garp,
    /// `vrrp_garp_interval SECONDS` (decimal): gap between gratuitous ARPs. Default 0 (none).
    pub garp_interval_ms: u32,
    /// `vrrp_gna_interval SECONDS` (decimal): gap between unsolicited NAs. Default 0.
    pub gna_interval_ms: u32,
    /// `vrrp_strict`: RFC-strict mode for every instance. Default off.
    pub vrrp_strict: bool,
    /// `vrrp_skip_check_adv_addr`: do not check advert addresses against ours when the
    /// advert comes from the current master. Default off.
    pub skip_check_adv_addr: bool,
    /// `vrrp_check_unicast_src`: unicast adverts must come from a listed peer. Default off.
    pub check_unicast_src: bool,
    /// `v3_checksum_as_v2`: IPv4 VRRPv3 checksum without the pseudo-header (as old
    /// keepalived). Default off.
    pub v3_checksum_as_v2: bool,
    /// `vrrp_mcast_group4 ADDR`. Default 224.0.0.18.
    pub mcast_group4: Ipv4Addr,
    /// `vrrp_mcast_group6 ADDR`. Default ff02::12.
    pub mcast_group6: Ipv6Addr,
    /// `vrrp_startup_delay SECONDS` (decimal): wait before starting VRRP. Default 0.
    pub startup_delay_ms: u32,
    /// `vrrp_iptables [IN [OUT]]`: accepted; xvrrp makes no firewall changes.
    pub vrrp_iptables: bool,
    /// `vrrp_priority`, `vrrp_rt_priority`, `vrrp_rlimit_rttime`, `vrrp_no_swap`,
    /// `vrrp_cpu_affinity`: how the daemon's protocol thread is scheduled.
    #[serde(default, skip_serializing_if = "Scheduling::is_default")]
    pub scheduling: Scheduling,
}

fn smtp_port_default() -> u16 {
    25
}

/// keepalived's scheduling keywords for its VRRP process (applied by the
/// daemon after start-up, see `daemon::sched`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scheduling {
    /// `vrrp_priority N` (-20..19): the nice value. Default: unchanged (0).
    pub nice: Option<i32>,
    /// `vrrp_rt_priority N` (1..99): SCHED_RR at this priority. Default: off.
    pub rt_priority: Option<u32>,
    /// `vrrp_rlimit_rttime US`: RLIMIT_RTTIME with `vrrp_rt_priority`. keepalived's
    /// default is 10000; xvrrp sets it only when given (see the config README).
    pub rlimit_rttime_us: Option<u64>,
    /// `vrrp_no_swap`: lock the daemon's memory (mlockall).
    pub no_swap: bool,
    /// `vrrp_cpu_affinity CPU...`: the CPUs the daemon may run on.
    pub cpu_affinity: Vec<u32>,
    /// `max_auto_priority [N]` (0..99; valueless: 99): when a timer fires
    /// more than `min_auto_priority_delay` late, move to SCHED_RR and raise
    /// the real-time priority by one, up to N.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_auto_priority: Option<u32>,
    /// `min_auto_priority_delay US` (1..10000000). Default 1000000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_auto_priority_delay_us: Option<u64>,
}

impl Scheduling {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

impl Default for Global {
    fn default() -> Self {
        Self {
            router_id: None,
            notification_email: Vec::new(),
            notification_email_from: None,
            smtp_server: None,
            smtp_port: 25,
            smtp_helo_name: None,
            smtp_connect_timeout_s: 30,
            smtp_alert: None,
            smtp_alert_vrrp: None,
            no_email_faults: false,
            notify_fifo: None,
            vrrp_notify_fifo: None,
            notify_priority_changes: false,
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            script_user: None,
            enable_script_security: false,
            vrrp_version: 2,
            garp: Garp::default(),
            garp_interval_ms: 0,
            gna_interval_ms: 0,
            vrrp_strict: false,
            skip_check_adv_addr: false,
            check_unicast_src: false,
            v3_checksum_as_v2: false,
            mcast_group4: Ipv4Addr::new(224, 0, 0, 18),
            mcast_group6: Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12),
            startup_delay_ms: 0,
            vrrp_iptables: false,
            scheduling: Scheduling::default(),
        }
    }
}

/// Gratuitous ARP / unsolicited NA after becoming master.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Garp {
    /// `garp_master_delay S`: second burst this long after the first. Default 5 (0: none).
    pub master_delay_s: u32,
    /// `garp_master_repeat N`: messages per burst. Default 5.
    pub master_repeat: u32,
    /// `garp_master_refresh S`: repeat while master, every S seconds. Default 0 (never).
    pub master_refresh_s: u32,
    /// `garp_master_refresh_repeat N`: messages per refresh. Default 1.
    pub master_refresh_repeat: u32,
    /// `garp_lower_prio_repeat N`: messages when a master hears a lower
    /// priority advert (0: none). Default: the global `vrrp_garp_lower_prio_repeat`,
    /// else the global `vrrp_garp_master_repeat` (keepalived's rule: not the
    /// instance's own).
    #[serde(default = "five")]
    pub lower_prio_repeat: u32,
    /// `garp_lower_prio_delay S`: the same again this long after (0: no second burst).
    #[serde(default = "five")]
    pub lower_prio_delay_s: u32,
}

fn five() -> u32 {
    5
}

impl Default for Garp {
    fn default() -> Self {
        Self {
            master_delay_s: 5,
            master_repeat: 5,
            master_refresh_s: 0,
            master_refresh_repeat: 1,
            lower_prio_repeat: 5,
            lower_prio_delay_s: 5,
        }
    }
}

/// A user (and group) to run a script as.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunAs {
    pub user: String,
    pub group: Option<String>,
}

/// `vrrp_script NAME { }`: a health check whose result moves priorities or forces FAULT.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VrrpScript {
    pub name: String,
    /// `script "CMD ARGS"`: the command line, split like a shell does (quotes, escapes).
    pub command: Vec<String>,
    /// `interval S`: run every S seconds. Default 1.
    pub interval_s: u32,
    /// `timeout S`: a run longer than this fails. Default: the interval.
    pub timeout_s: u32,
    /// `weight W [reverse]`, -253..253: default weight for tracking instances; 0 (default)
    /// means failure puts the instance in FAULT.
    pub weight: i16,
    /// `weight W reverse`: apply the weight in the opposite direction. Default off.
    pub weight_reverse: bool,
    /// `rise N`: successes needed to count as up. Default 1.
    pub rise: u32,
    /// `fall N`: failures needed to count as down. Default 1.
    pub fall: u32,
    /// `user USER [GROUP]`; default: global `script_user`.
    pub user: Option<RunAs>,
    /// `init_fail`: assume the script is failing until it first succeeds. Default off
    /// (assumed up until it fails).
    pub init_fail: bool,
}

/// The state an instance starts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum InitialState {
    Master,
    Backup,
}

impl std::fmt::Display for InitialState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Master => "MASTER",
            Self::Backup => "BACKUP",
        })
    }
}

/// Address family of an instance (keepalived: all `virtual_ipaddress` share one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn of(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Self::Ipv4,
            IpAddr::V6(_) => Self::Ipv6,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Ipv4 => "IPv4",
            Self::Ipv6 => "IPv6",
        }
    }
}

/// `vrrp_instance NAME { }`: one virtual router.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub name: Box<str>,
    /// `state MASTER|BACKUP`. Default: MASTER when priority is 255, else BACKUP.
    pub state: InitialState,
    /// `interface IFACE`: where adverts go. Optional only with unicast peers.
    /// Shared: the instances of one interface hold one copy of its name
    /// (`check` interns them; 250 VRIDs on each of 64 links took 16,000
    /// allocations).
    pub interface: Option<std::sync::Arc<str>>,
    /// `virtual_router_id 1..255`. Required.
    pub vrid: u8,
    /// `priority 1..255`. Default 100, or 255 with `state MASTER` and no priority
    /// (keepalived's rule). 255 means address owner.
    pub priority: u8,
    /// `version 2|3`. Default: global `vrrp_version`; IPv6 instances always 3.
    pub version: u8,
    /// Family of the VIPs (`native_ipv6` forces IPv6). Default IPv4.
    pub family: Family,
    /// `advert_int SECONDS`, in centiseconds. Default 100 (1 s). v2: whole seconds 1..255;
    /// v3: 0.01..40.95 s.
    pub advert_int_cs: u16,
    /// `down_timer_adverts 1..100`: adverts missed before the master is down. Default 3.
    pub down_timer_adverts: u8,
    /// `v3_checksum_as_v2` (instance or global). Default off.
    pub v3_checksum_as_v2: bool,
    /// `authentication { auth_type PASS|AH  auth_pass P }`: VRRPv2 only. Default none.
    /// Boxed: rare, and 24 bytes more in every instance inline.
    pub auth: Option<Box<Auth>>,
    /// `virtual_ipaddress { }`: advertised addresses, one family.
    pub vips: Vec<VirtualAddress>,
    /// `virtual_ipaddress_excluded { }`: added and removed with the VIPs, not advertised;
    /// any family.
    pub excluded_vips: ThinVec<VirtualAddress>,
    /// `nopreempt` clears it (`preempt` sets it). Default on.
    pub preempt: bool,
    /// `preempt_delay SECONDS` (decimal, 0..1000). Default 0.
    pub preempt_delay_ms: u32,
    /// `track_interface { }`.
    pub track_interfaces: ThinVec<TrackInterface>,
    /// `track_script { }`, weights resolved from the script when not given.
    pub track_scripts: ThinVec<TrackRef>,
    /// `track_file { }`, weights resolved from the `track_file` definition.
    #[serde(default, skip_serializing_if = "ThinVec::is_empty")]
    pub track_files: ThinVec<TrackRef>,
    /// `track_process { }`, weights resolved from the definition.
    #[serde(default, skip_serializing_if = "ThinVec::is_empty")]
    pub track_processes: ThinVec<TrackRef>,
    /// `unicast_src_ip`, `unicast_peer { }`, `unicast_ttl`, `check_unicast_src`.
    pub unicast: Unicast,
    /// `mcast_src_ip` / `unicast_src_ip`: source address of adverts. Default: the
    /// interface's primary address.
    pub src_ip: Option<IpAddr>,
    /// `use_vmac [NAME]`: the macvlan's name. Default off; the name defaults to
    /// `vrrp.VRID`.
    pub vmac: Option<Box<str>>,
    /// `vmac_xmit_base`: send and receive adverts on the base interface. Default off.
    pub vmac_xmit_base: bool,
    /// `native_ipv6`: force IPv6 (deprecated in keepalived; the VIPs decide). Default off.
    pub native_ipv6: bool,
    /// `accept` / `no_accept`: accept packets to the VIPs when master. Default on, except in
    /// strict mode where only the address owner (priority 255) accepts.
    pub accept: bool,
    /// `garp_master_*`, defaulting to the global `vrrp_garp_master_*`.
    pub garp: Garp,
    /// `notify_master`, `notify_backup`, `notify_fault`, `notify_stop`, `notify`:
    /// `None` when there is none (most instances; inline they took 48 bytes
    /// more in each). Read it with [`Instance::notify`]; JSON shows it whole.
    /// `Some` only with a script set ([`Notify::boxed`]): equal
    /// configurations must compare equal for the reload plan.
    #[serde(with = "notify::boxed")]
    pub notify: Option<Box<Notify>>,
    /// `smtp_alert [BOOL]`: mail on state changes. Default: the global
    /// `smtp_alert_vrrp`, else `smtp_alert`, else off.
    pub smtp_alert: bool,
    /// `notify_priority_changes [BOOL]`: a FIFO line when the effective
    /// priority changes. Default: the sync group's, else the global
    /// `vrrp_notify_priority_changes`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notify_priority_changes: bool,
    /// `virtual_routes { }`: installed with the VIPs while master.
    #[serde(default, skip_serializing_if = "ThinVec::is_empty")]
    pub routes: ThinVec<VirtualRoute>,
    /// `virtual_rules { }`: installed with the VIPs while master.
    #[serde(default, skip_serializing_if = "ThinVec::is_empty")]
    pub rules: ThinVec<VirtualRule>,
    /// `lower_prio_no_advert [BOOL]`: a master that hears a lower priority
    /// advert does not answer it at once (keepalived answers by default, so
    /// the other router gives up sooner). On in strict mode.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lower_prio_no_advert: bool,
    /// `higher_prio_send_advert [BOOL]`: a master that hears a higher
    /// priority advert sends one more advert before it goes backup. Off in
    /// strict mode.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub higher_prio_send_advert: bool,
    /// `notify_deleted [SCRIPT]`: an instance removed by a reload reports
    /// DELETED (without it: FAULT, as keepalived).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notify_deleted: bool,
    /// `dont_track_primary`: ignore faults of `interface`. Default off.
    pub dont_track_primary: bool,
    /// `debug [0..4]`. Default 0.
    pub debug: u8,
    /// `strict_mode [BOOL]`, default global `vrrp_strict`.
    pub strict: bool,
    /// `skip_check_adv_addr [BOOL]`, default global `vrrp_skip_check_adv_addr`.
    pub skip_check_adv_addr: bool,
    /// The `vrrp_sync_group` this instance belongs to, if any.
    pub sync_group: Option<Box<str>>,
}

impl Instance {
    pub fn advert_interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.advert_int_cs) * 10)
    }

    pub fn preempt_delay(&self) -> Duration {
        Duration::from_millis(u64::from(self.preempt_delay_ms))
    }

    /// Priority 255: the router that owns the addresses (RFC 5798 5.2.4).
    pub fn is_address_owner(&self) -> bool {
        self.priority == 255
    }

    /// Its notify scripts (none set when it has none).
    pub fn notify(&self) -> &Notify {
        self.notify.as_deref().unwrap_or(&Notify::NONE)
    }

    /// Unicast when there are peers; multicast otherwise.
    pub fn is_unicast(&self) -> bool {
        !self.unicast.peers.is_empty()
    }
}

/// VRRPv2 authentication (RFC 2338; removed by RFC 3768, kept by keepalived).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auth {
    pub kind: AuthType,
    /// `auth_pass`: at most 8 bytes (longer ones are truncated, as keepalived does).
    pub pass: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AuthType {
    /// Simple text password in the advert.
    Pass,
    /// IPsec AH (keepalived's own variant).
    Ah,
}

/// `track_interface { IFACE [weight W [reverse]] }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackInterface {
    pub name: String,
    /// -253..253; 0 (default) means the interface going down puts the instance in FAULT.
    pub weight: i16,
    pub reverse: bool,
}

/// Unicast settings of an instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unicast {
    /// `unicast_peer { ADDR [min_ttl N] [max_ttl N] }`. Empty: multicast.
    pub peers: ThinVec<UnicastPeer>,
    /// `unicast_ttl 0..255`: TTL/hop limit of unicast adverts. Default 255.
    pub ttl: u8,
    /// `check_unicast_src` (or global `vrrp_check_unicast_src`, or any `min_ttl`/`max_ttl`):
    /// drop unicast adverts from addresses that are not peers. Default off.
    pub check_src: bool,
}

impl Default for Unicast {
    fn default() -> Self {
        Self {
            peers: ThinVec::new(),
            ttl: 255,
            check_src: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnicastPeer {
    pub addr: IpAddr,
    /// `min_ttl N`: drop adverts from this peer with a lower TTL. Default 0.
    pub min_ttl: u8,
    /// `max_ttl N`: drop adverts from this peer with a higher TTL. Default 255.
    pub max_ttl: u8,
}

/// `vrrp_sync_group NAME { group { } ... }`: instances that change state together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncGroup {
    pub name: String,
    /// `group { INSTANCE ... }`.
    pub instances: Vec<String>,
    /// `notify_master`, ... for the group as a whole.
    pub notify: Notify,
    /// `track_script { }` for all members (the check adds these, and the
    /// group's other tracked objects, to every member's own).
    pub track_scripts: Vec<TrackRef>,
    /// `track_interface { }` for all members.
    pub track_interfaces: Vec<TrackInterface>,
    /// `track_file { }` for all members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_files: Vec<TrackRef>,
    /// `track_process { }` for all members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_processes: Vec<TrackRef>,
    /// `sync_group_tracking_weight`: members' own tracking keeps its weights
    /// (by default keepalived zeroes them in a sync group).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tracking_weight: bool,
    /// `smtp_alert [BOOL]`, with the instances' default.
    pub smtp_alert: bool,
    /// `notify_priority_changes [BOOL]`: the members' default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_priority_changes: Option<bool>,
}
