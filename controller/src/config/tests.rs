//! Tests of the whole reader: defaults, each semantic rule, `--json` round trip, and inputs
//! that must not panic. (Lexer and tree details are tested in their own files; the corpus in
//! `tests/configs/` holds the golden diagnostics of whole files.)

use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;

use super::*;

/// The host the tests describe: eth0 and eth1 exist, ens33 does not.
fn host() -> HostInfo {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    HostInfo::new()
        .with_interface("lo", [ip("127.0.0.1"), ip("::1")])
        .with_interface("eth0", [ip("192.0.2.10"), ip("2001:db8::10"), ip("fe80::10")])
        .with_interface("eth1", [ip("198.51.100.10")])
}

/// Loads `text` as `k.conf` on [`host`]; diagnostics as `LINE[:COL]: severity: message`.
fn check(text: &str) -> (Option<Config>, Vec<String>) {
    let loaded = load_str("k.conf", text, Some(&host()));
    let diags = loaded
        .diagnostics
        .iter()
        .map(|d| d.to_string().trim_start_matches("k.conf:").to_owned())
        .collect();
    (loaded.config, diags)
}

/// A config that must load without errors.
fn ok(text: &str) -> (Config, Vec<String>) {
    let (config, diags) = check(text);
    let config = config.unwrap_or_else(|| panic!("expected no errors, got {diags:#?}"));
    (config, diags)
}

/// An instance on eth0 with VRID 1 and one VIP, plus `body`.
fn instance(name: &str, body: &str) -> String {
    format!(
        "vrrp_instance {name} {{\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {{\n  192.0.2.100/24\n }}\n{body}\n}}\n"
    )
}

fn has(diags: &[String], needle: &str) -> bool {
    diags.iter().any(|d| d.contains(needle))
}

#[test]
fn classic_master_gives_keepalived_warnings() {
    let text = include_str!("../../../tests/configs/classic-master/keepalived.conf");
    let (config, diags) = ok(text);
    assert_eq!(
        diags,
        [
            "18: warning: interface ens33 for vrrp_instance VI_1 doesn't exist on this host",
            "24: warning: auth_pass is 14 characters long: truncating auth_pass to 8 characters, as keepalived \
             does (VRRPv2 carries 8)",
        ]
    );
    let vi = &config.instances[0];
    assert_eq!((vi.state, vi.priority, vi.vrid), (InitialState::Master, 100, 51));
    assert_eq!(vi.auth.as_ref().map(|a| a.pass.as_str()), Some("aminglin"));
    assert_eq!(config.scripts[0].command, ["/usr/local/sbin/check_ng.sh"]);
    assert_eq!(config.scripts[0].interval_s, 3);
}

#[test]
fn keepalived_defaults() {
    let (config, diags) = ok(&instance("V", ""));
    assert!(diags.is_empty(), "{diags:?}");
    let v = &config.instances[0];
    assert_eq!(v.state, InitialState::Backup);
    assert_eq!(v.priority, 100);
    assert_eq!(v.version, 2);
    assert_eq!(v.family, Family::Ipv4);
    assert_eq!(v.advert_int_cs, 100);
    assert_eq!(v.down_timer_adverts, 3);
    assert_eq!(
        v.garp,
        Garp {
            master_delay_s: 5,
            master_repeat: 5,
            master_refresh_s: 0,
            master_refresh_repeat: 1,
            lower_prio_repeat: 5,
            lower_prio_delay_s: 5,
        }
    );
    assert!(v.preempt && v.accept && !v.strict);
    assert_eq!(v.preempt_delay_ms, 0);
    assert_eq!(
        v.unicast,
        Unicast {
            peers: thin_vec::ThinVec::new(),
            ttl: 255,
            check_src: false
        }
    );
    assert_eq!(v.auth, None);
    assert_eq!(v.vips[0].prefix, 24);
    assert_eq!(config.global.mcast_group4, Ipv4Addr::new(224, 0, 0, 18));
}

#[test]
fn script_defaults_and_timeout_follows_interval() {
    let text = "vrrp_script s {\n script \"/bin/true\"\n interval 7\n}\n".to_owned()
        + &instance("V", " track_script {\n  s\n }");
    let (config, _) = ok(&text);
    let s = &config.scripts[0];
    assert_eq!(
        (s.interval_s, s.timeout_s, s.weight, s.rise, s.fall),
        (7, 7, 0, 1, 1)
    );
    assert!(!s.init_fail && !s.weight_reverse);
}

#[test]
fn global_garp_settings_are_instance_defaults() {
    let text = "global_defs {\n vrrp_garp_master_delay 2\n vrrp_garp_master_repeat 3\n}\n".to_owned()
        + &instance("V", " garp_master_repeat 9");
    let (config, _) = ok(&text);
    assert_eq!(config.instances[0].garp.master_delay_s, 2);
    assert_eq!(config.instances[0].garp.master_repeat, 9);
}

#[test]
fn state_master_without_priority_is_the_owner() {
    let (config, diags) = ok(&instance("V", " state MASTER"));
    assert_eq!(config.instances[0].priority, 255);
    assert!(
        has(
            &diags,
            "note: vrrp_instance V: no priority with state MASTER means priority 255"
        ),
        "{diags:?}"
    );
    // ... and being owner of a VIP this host lacks, that is warned about too.
    assert!(has(&diags, "priority 255 claims address ownership"), "{diags:?}");
}

#[test]
fn priority_255_without_state_starts_master() {
    let (config, _) = ok(&instance("V", " priority 255"));
    assert_eq!(config.instances[0].state, InitialState::Master);
}

#[test]
fn vrid_out_of_range_and_missing() {
    let (config, diags) = check(&instance("V", " virtual_router_id 300"));
    assert!(config.is_none());
    assert!(
        has(&diags, "error: virtual_router_id 300 out of range 1..255"),
        "{diags:?}"
    );

    let text = "vrrp_instance V {\n interface eth0\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n";
    let (config, diags) = check(text);
    assert!(config.is_none());
    assert_eq!(
        diags,
        ["1: error: vrrp_instance V: virtual_router_id is required (1..255)"]
    );
}

#[test]
fn a_keyword_with_an_invalid_value_is_not_also_missing() {
    let text = "vrrp_instance V {\n interface bad/name\n virtual_router_id 0\n unicast_peer {\n  nope\n }\n unicast_ttl 5\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n";
    let (config, diags) = check(text);
    assert!(config.is_none());
    for missing in ["is required", "without any unicast_peer"] {
        assert!(!has(&diags, missing), "{missing}: {diags:?}");
    }
    assert!(has(&diags, "interface 'bad/name'"), "{diags:?}");
    assert!(has(&diags, "virtual_router_id 0 out of range"), "{diags:?}");
    // The same block without them: each is missing.
    let (_, diags) = check("vrrp_instance V {\n unicast_ttl 5\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n");
    assert!(has(&diags, "virtual_router_id is required"), "{diags:?}");
    assert!(has(&diags, "interface is required"), "{diags:?}");
}

/// The keywords a draft keeps apart (`parse::draft::More`) reach the model,
/// and an instance whose `More` another keyword made reads the same defaults
/// as one that has none.
#[test]
fn the_less_common_keywords_reach_the_model() {
    let text = format!(
        "{}{}{}",
        instance(
            "ALL",
            " lower_prio_no_advert\n higher_prio_send_advert\n garp_lower_prio_repeat 7\n garp_master_refresh 9\n \
             mcast_src_ip 192.0.2.9\n notify_priority_changes\n skip_check_adv_addr\n down_timer_adverts 4\n \
             v3_checksum_as_v2\n smtp_alert\n dont_track_primary\n debug 2\n preempt_delay 3\n notify_master /bin/true\n \
             notify_deleted\n virtual_ipaddress_excluded {\n  192.0.2.200/24\n }"
        ),
        instance("NOTIFY", " notify_backup /bin/true").replace("virtual_router_id 1", "virtual_router_id 2"),
        instance("NONE", "").replace("virtual_router_id 1", "virtual_router_id 3"),
    );
    let (config, diags) = check(&text);
    let config = config.unwrap_or_else(|| panic!("{diags:?}"));
    let [all, notify, none] = &config.instances[..] else {
        panic!("three instances: {diags:?}");
    };
    assert!(all.lower_prio_no_advert && all.higher_prio_send_advert);
    assert_eq!((all.garp.lower_prio_repeat, all.garp.master_refresh_s), (7, 9));
    assert_eq!(all.src_ip, Some("192.0.2.9".parse().unwrap()));
    assert!(all.notify_priority_changes && all.skip_check_adv_addr && all.v3_checksum_as_v2);
    assert_eq!(
        (all.down_timer_adverts, all.debug, all.preempt_delay_ms),
        (4, 2, 3000)
    );
    assert!(all.smtp_alert && all.dont_track_primary && all.notify_deleted);
    assert!(all.notify.as_ref().is_some_and(|n| n.master.is_some()));
    assert_eq!(all.excluded_vips.len(), 1);
    // Only the notify script differs between an instance with a `More` and one without.
    assert!(notify.notify.as_ref().is_some_and(|n| n.backup.is_some()));
    let plain = |i: &crate::config::model::Instance| crate::config::model::Instance {
        name: "".into(),
        vrid: 0,
        notify: None,
        ..i.clone()
    };
    assert_eq!(plain(notify), plain(none));
    assert!(!none.lower_prio_no_advert && none.down_timer_adverts == 3 && none.src_ip.is_none());
}

#[test]
fn invalid_values_are_errors_naming_what_was_expected() {
    let (_, diags) = check(&instance(
        "V",
        " priority high\n state master\n advert_int fast\n version 4",
    ));
    assert!(
        has(&diags, "error: priority 'high' is not a number: expected 1..255"),
        "{diags:?}"
    );
    assert!(
        has(&diags, "error: state 'master': expected MASTER or BACKUP"),
        "{diags:?}"
    );
    assert!(
        has(&diags, "error: advert_int 'fast' is not a number of seconds"),
        "{diags:?}"
    );
    assert!(has(&diags, "error: version 4 out of range 2..3"), "{diags:?}");
}

#[test]
fn duplicate_vrid_same_interface_and_family_is_an_error() {
    let text = instance("A", "") + &instance("B", "");
    let (config, diags) = check(&text);
    assert!(config.is_none());
    assert!(
        has(
            &diags,
            "error: A and B both use VRID 1 with IPv4 on interface eth0"
        ),
        "{diags:?}"
    );
}

#[test]
fn same_vrid_on_other_interface_or_family_is_fine() {
    let other_if = instance("A", "") + &instance("B", " interface eth1");
    ok(&other_if);
    let v6 =
        "vrrp_instance B {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n fe80::1\n }\n}\n";
    ok(&(instance("A", "") + v6));
}

#[test]
fn same_vrid_unicast_conflicts_only_with_a_common_peer() {
    let peers = |p: &str| format!(" unicast_src_ip 192.0.2.10\n unicast_peer {{\n  {p}\n }}");
    ok(&(instance("A", &peers("192.0.2.1")) + &instance("B", &peers("192.0.2.2"))));
    let (_, diags) = check(&(instance("A", &peers("192.0.2.1")) + &instance("B", &peers("192.0.2.1"))));
    assert!(
        has(
            &diags,
            "error: A and B both use VRID 1 with IPv4 on interface eth0 and a unicast peer"
        ),
        "{diags:?}"
    );
}

#[test]
fn mixed_families_in_virtual_ipaddress_are_an_error_even_with_v3() {
    let body = " version 3\n virtual_ipaddress {\n  2001:db8::1\n }";
    let (config, diags) = check(&instance("V", body));
    assert!(config.is_none());
    assert!(
        has(
            &diags,
            "error: vrrp_instance V: virtual_ipaddress 2001:db8::1 is IPv6 but the instance is IPv4"
        ),
        "{diags:?}"
    );
}

#[test]
fn native_ipv6_makes_ipv4_vips_an_error() {
    let (_, diags) = check(&instance("V", " native_ipv6"));
    assert!(
        has(
            &diags,
            "192.0.2.100 is IPv4 but the instance is IPv6 (set by native_ipv6 at line"
        ),
        "{diags:?}"
    );
}

#[test]
fn mixed_families_are_fine_in_virtual_ipaddress_excluded() {
    let (config, diags) = ok(&instance(
        "V",
        " virtual_ipaddress_excluded {\n  2001:db8::5/64\n }",
    ));
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(config.instances[0].excluded_vips[0].prefix, 64);
}

#[test]
fn ipv6_instances_run_version_3() {
    let text = "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n version 2\n advert_int 0.5\n virtual_ipaddress {\n  fe80::1\n }\n}\n";
    let (config, diags) = ok(text);
    let v = &config.instances[0];
    assert_eq!((v.version, v.family, v.advert_int_cs), (3, Family::Ipv6, 50));
    assert!(
        has(&diags, "warning: vrrp_instance V: VRRPv2 carries only IPv4"),
        "{diags:?}"
    );
}

#[test]
fn priority_255_on_a_host_without_the_vip_warns() {
    let (_, diags) = ok(&instance("V", " priority 255"));
    assert!(
        has(
            &diags,
            "warning: vrrp_instance V: priority 255 claims address ownership"
        ),
        "{diags:?}"
    );
    // The owner of its VIP is fine.
    let owner = "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n priority 255\n virtual_ipaddress {\n  192.0.2.10/24\n }\n}\n";
    let (_, diags) = ok(owner);
    assert!(diags.is_empty(), "{diags:?}");
    // Without host information there is nothing to say.
    let loaded = load_str("k.conf", &instance("V", " priority 255"), None);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
}

#[test]
fn track_script_must_name_a_script() {
    let (config, diags) = check(&instance("V", " track_script {\n  nope\n }"));
    assert!(config.is_none());
    assert!(
        has(
            &diags,
            "error: vrrp_instance V: track_script nope names no vrrp_script (no vrrp_script is defined)"
        ),
        "{diags:?}"
    );
}

#[test]
fn track_script_weights_default_to_the_script() {
    let scripts = "vrrp_script a {\n script /bin/a\n weight -20 reverse\n}\nvrrp_script b {\n script /bin/b\n weight 10\n}\n";
    let text = scripts.to_owned() + &instance("V", " track_script {\n  a\n  b weight 5 reverse\n }");
    let (config, _) = ok(&text);
    let t = &config.instances[0].track_scripts;
    assert_eq!((t[0].weight, t[0].reverse), (-20, true));
    assert_eq!((t[1].weight, t[1].reverse), (5, true));
}

#[test]
fn advert_int_ranges_follow_the_version() {
    let cases = [
        ("", "1", Some(100)),
        ("", "255", Some(25500)),
        // keepalived rounds a fractional VRRPv2 interval (at least 1 s), with a warning.
        ("", "0.5", Some(100)),
        ("", "1.5", Some(200)),
        ("", "1.4", Some(100)),
        ("", "0.2", Some(100)),
        ("", "256", None),
        ("", "0", None),
        (" version 3", "0.5", Some(50)),
        (" version 3", "40.95", Some(4095)),
        (" version 3", "41", None),
        (" version 3", "0.005", None),
        (" version 3", "0", None),
    ];
    for (version, advert, want) in cases {
        let (config, diags) = check(&instance("V", &format!("{version}\n advert_int {advert}")));
        match want {
            Some(cs) => assert_eq!(
                config.map(|c| c.instances[0].advert_int_cs),
                Some(cs),
                "{advert}: {diags:?}"
            ),
            None => assert!(
                config.is_none() && has(&diags, &format!("advert_int {advert}")),
                "{advert}: {diags:?}"
            ),
        }
    }
}

#[test]
fn global_vrrp_version_3_allows_fractions() {
    let text = "global_defs {\n vrrp_version 3\n}\n".to_owned() + &instance("V", " advert_int 0.25");
    assert_eq!(ok(&text).0.instances[0].advert_int_cs, 25);
}

#[test]
fn auth_pass_is_truncated_to_8_with_a_warning() {
    let body = " authentication {\n  auth_type PASS\n  auth_pass 123456789\n }";
    let (config, diags) = ok(&instance("V", body));
    assert_eq!(
        config.instances[0].auth,
        Some(Box::new(Auth {
            kind: AuthType::Pass,
            pass: "12345678".into()
        }))
    );
    assert!(
        has(
            &diags,
            "warning: auth_pass is 9 characters long: truncating auth_pass to 8 characters"
        ),
        "{diags:?}"
    );
    let (config, diags) = ok(&instance(
        "V",
        " authentication {\n  auth_type PASS\n  auth_pass 12345678\n }",
    ));
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(config.instances[0].auth.as_ref().map(|a| a.pass.len()), Some(8));
}

#[test]
fn authentication_is_ignored_with_v3() {
    let body = " version 3\n authentication {\n  auth_type AH\n  auth_pass x\n }";
    let (config, diags) = ok(&instance("V", body));
    assert_eq!(config.instances[0].auth, None);
    assert!(has(&diags, "VRRPv3 has no authentication"), "{diags:?}");
}

#[test]
fn smtp_alert_defaults_and_the_note_when_no_mail_can_be_sent() {
    // keepalived: instance smtp_alert, else smtp_alert_vrrp, else smtp_alert.
    let global = |extra: &str| {
        format!("global_defs {{\n notification_email {{\n  a@b\n }}\n smtp_server 10.0.0.1 2525\n{extra}}}\n")
    };
    let (config, diags) = ok(&(global(" smtp_alert_vrrp\n smtp_alert off\n") + &instance("V", "")));
    assert!(config.instances[0].smtp_alert, "{diags:?}");
    assert_eq!(config.global.smtp_port, 2525);
    let (config, _) = ok(&(global(" smtp_alert_vrrp\n") + &instance("V", " smtp_alert off")));
    assert!(!config.instances[0].smtp_alert);
    assert!(
        !diags.iter().any(|d| d.contains("no mail can be sent")),
        "{diags:?}"
    );
    // No server: one note, at the first instance that alerts.
    let text = instance("V", " smtp_alert")
        + &instance("W", " smtp_alert").replace("virtual_router_id 1", "virtual_router_id 2");
    let (_, diags) = ok(&text);
    let notes: Vec<&String> = diags
        .iter()
        .filter(|d| d.contains("no mail can be sent"))
        .collect();
    assert_eq!(notes.len(), 1, "{diags:?}");
}

#[test]
fn unknown_keywords_warn_and_other_sections_are_skipped_whole() {
    let text =
        "virtual_server 10.0.0.1 80 {\n  nonsense here\n  real_server 10.0.0.2 80 {\n   weight x\n  }\n}\n"
            .to_owned()
            + &instance(
                "V",
                " frobnicate 3\n virtual_routes {\n  10.0.0.0/8 via 192.0.2.1\n }",
            );
    let (_, diags) = ok(&text);
    assert_eq!(
        diags,
        [
            "1: warning: section 'virtual_server' is not part of xvrrp (keepalived's VRRP side only); skipped",
            "13: warning: vrrp_instance: unknown keyword 'frobnicate'; ignored",
        ]
    );
}

#[test]
fn interface_must_exist_on_the_host() {
    let (_, diags) = ok(&instance("V", " interface ens33"));
    assert_eq!(
        diags,
        ["7: warning: interface ens33 for vrrp_instance V doesn't exist on this host"]
    );
}

#[test]
fn sync_groups() {
    let two = instance("A", "") + &instance("B", " virtual_router_id 2");
    let (config, diags) = ok(&(two.clone() + "vrrp_sync_group G {\n group {\n  A B\n }\n}\n"));
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(config.sync_groups[0].instances, ["A", "B"]);
    assert_eq!(config.instances[1].sync_group.as_deref(), Some("G"));

    let (_, diags) = check(&(two.clone() + "vrrp_sync_group G {\n group {\n  A C\n }\n}\n"));
    assert!(
        has(&diags, "error: vrrp_sync_group G: no vrrp_instance named C"),
        "{diags:?}"
    );
    assert!(
        has(&diags, "warning: vrrp_sync_group G has only one instance"),
        "{diags:?}"
    );

    let twice =
        two + "vrrp_sync_group G {\n group {\n  A B\n }\n}\nvrrp_sync_group H {\n group {\n  A\n }\n}\n";
    let (_, diags) = check(&twice);
    assert!(
        has(
            &diags,
            "error: vrrp_sync_group H: A is already in vrrp_sync_group G"
        ),
        "{diags:?}"
    );
}

#[test]
fn nopreempt_and_its_exceptions() {
    let (config, _) = ok(&instance("V", " state BACKUP\n nopreempt"));
    assert!(!config.instances[0].preempt);
    let (config, diags) = ok(&instance("V", " state MASTER\n priority 100\n nopreempt"));
    assert!(config.instances[0].preempt);
    assert!(
        has(&diags, "nopreempt does not work with state MASTER"),
        "{diags:?}"
    );
}

#[test]
fn unused_scripts_warn_and_are_dropped() {
    let text = "vrrp_script idle {\n script /bin/true\n}\n".to_owned() + &instance("V", "");
    let (config, diags) = ok(&text);
    assert!(config.scripts.is_empty());
    assert_eq!(
        diags,
        ["1: warning: vrrp_script idle is not used by any vrrp_instance or vrrp_sync_group"]
    );
}

#[test]
fn scripts_and_notify_command_lines_are_split_like_keepalived() {
    let text = "vrrp_script s {\n script \"/bin/check --port 80 'a b'\"\n user nobody nogroup\n}\n"
        .to_owned()
        + &instance(
            "V",
            " track_script {\n  s\n }\n notify_master \"/bin/up.sh VI 1\" root\n notify /bin/all",
        );
    let (config, _) = ok(&text);
    assert_eq!(config.scripts[0].command, ["/bin/check", "--port", "80", "a b"]);
    assert_eq!(
        config.scripts[0].user,
        Some(RunAs {
            user: "nobody".into(),
            group: Some("nogroup".into())
        })
    );
    let n = config.instances[0].notify();
    assert_eq!(
        n.master.as_ref().map(|m| m.command.clone()),
        Some(vec!["/bin/up.sh".into(), "VI".into(), "1".into()])
    );
    assert_eq!(
        n.master
            .as_ref()
            .and_then(|m| m.user.as_ref())
            .map(|u| u.user.as_str()),
        Some("root")
    );
    assert_eq!(
        n.any.as_ref().map(|m| m.command.clone()),
        Some(vec!["/bin/all".into()])
    );
}

#[test]
fn unquoted_script_arguments_are_ignored_with_a_warning() {
    let text = "vrrp_script s {\n script /bin/check --port 80\n}\n".to_owned()
        + &instance("V", " track_script {\n  s\n }");
    let (config, diags) = ok(&text);
    assert_eq!(config.scripts[0].command, ["/bin/check"]);
    assert!(has(&diags, "quote the whole command line"), "{diags:?}");
}

#[test]
fn vip_options() {
    let body = " virtual_ipaddress_excluded {\n  192.0.2.50/24 brd + dev eth1 scope link label eth1:vip\n  10.1.0.1/16 brd -\n }";
    let (config, diags) = ok(&instance("V", body));
    assert!(diags.is_empty(), "{diags:?}");
    let x = &config.instances[0].excluded_vips;
    assert_eq!(x[0].brd, Some(Ipv4Addr::new(192, 0, 2, 255)));
    assert_eq!(
        (x[0].dev.as_deref(), x[0].scope, x[0].label.as_deref()),
        (Some("eth1"), Some(253), Some("eth1:vip"))
    );
    assert_eq!(x[1].brd, Some(Ipv4Addr::new(10, 1, 0, 0)));

    let (_, diags) = check(&instance(
        "V",
        " virtual_ipaddress {\n  2001:db8::1 brd 1.2.3.4\n  192.0.2.7/33\n  192.0.2.8 nodad\n }",
    ));
    assert!(
        has(
            &diags,
            "error: virtual_ipaddress 2001:db8::1: IPv6 addresses have no broadcast address"
        ),
        "{diags:?}"
    );
    assert!(
        has(
            &diags,
            "error: virtual_ipaddress 192.0.2.7 prefix 33 out of range 0..32"
        ),
        "{diags:?}"
    );
    assert!(
        has(
            &diags,
            "warning: virtual_ipaddress 192.0.2.8: unknown option 'nodad'"
        ),
        "{diags:?}"
    );
}

#[test]
fn unicast_peers_and_ttl_options() {
    let body = " unicast_src_ip 192.0.2.10\n unicast_peer {\n  192.0.2.11 min_ttl 250\n  192.0.2.12\n }\n unicast_ttl 10";
    let (config, _) = ok(&instance("V", body));
    let u = &config.instances[0].unicast;
    assert_eq!(u.peers.len(), 2);
    assert_eq!((u.peers[0].min_ttl, u.peers[0].max_ttl, u.ttl), (250, 255, 10));
    assert!(u.check_src, "min_ttl turns check_unicast_src on");
}

#[test]
fn braces_on_the_next_line_read_the_same() {
    let same = ok(&instance("V", " track_interface {\n  eth1 weight -10\n }")).0;
    let next = ok(&instance("V", " track_interface\n {\n  eth1 weight -10\n }")).0;
    assert_eq!(same, next);
    assert_eq!(same.instances[0].track_interfaces[0].weight, -10);
}

#[test]
fn json_round_trip() {
    let text = "global_defs {\n router_id r1\n vrrp_mcast_group4 224.0.0.19\n}\nvrrp_script s {\n script \"/bin/x a\"\n weight -5\n}\n"
        .to_owned()
        + &instance("V", " state MASTER\n priority 150\n advert_int 2\n track_script {\n  s\n }\n notify_fault /bin/f\n unicast_peer {\n  192.0.2.20\n }")
        + "vrrp_sync_group G {\n group {\n  V\n }\n}\n";
    let (config, _) = ok(&text);
    let json = to_json(&config);
    let back = from_json(&json).expect("our own JSON reads back");
    assert_eq!(back, config);
    assert!(json.contains("\"state\": \"MASTER\""), "{json}");
    assert!(json.contains("\"addr\": \"192.0.2.100\""), "{json}");
}

#[test]
fn errors_withhold_the_config() {
    let loaded = load_str("k.conf", "vrrp_instance {\n}\n", None);
    assert!(loaded.has_errors());
    assert!(loaded.config.is_none());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Arbitrary text gives diagnostics, never a panic.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC*") {
        let _ = load_str("k.conf", &text, Some(&host()));
    }

    /// Arbitrary keepalived-looking lines too (keywords, braces, quotes and numbers mixed).
    #[test]
    fn keyword_soup_never_panics(
        lines in proptest::collection::vec(
            proptest::sample::select(vec![
                "vrrp_instance V {", "vrrp_script s {", "vrrp_sync_group g {", "global_defs {", "}", "{",
                "group {", "track_script {", "virtual_ipaddress {", "unicast_peer {", "authentication {",
                "state MASTER", "priority 255", "virtual_router_id 1", "interface eth0", "advert_int 0.01",
                "version 3", "native_ipv6", "192.0.2.1/24 brd +", "fe80::1", "s weight 254", "V",
                "auth_pass \"12345678910\"", "auth_type AH", "script \"/bin/x 'y\"", "include *", "nopreempt",
                "unicast_src_ip 192.0.2.10", "use_vmac", "notify \"\"", "# c", "\"", "\\",
            ]),
            0..60,
        )
    ) {
        let _ = load_str("k.conf", &lines.join("\n"), Some(&host()));
    }
}

#[test]
fn ipv6_vip_options_follow_keepalived() {
    // keepalived 2.2.7 (vrrp_ipaddress.c): IPv6 VIPs get IFA_F_NODAD unless
    // `-nodad` (which turns DAD back on); a /128 without `preferred_lft` is
    // deprecated (0), any other prefix preferred forever.
    let text = "vrrp_instance V6 {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  \
                2001:db8::100/64\n  2001:db8::101\n  2001:db8::102/64 -nodad preferred_lft 30\n  \
                2001:db8::103 preferred_lft forever\n }\n}\n";
    let (config, diags) = ok(text);
    assert!(!has(&diags, "not supported"), "{diags:#?}");
    let vips = &config.instances[0].vips;
    let got: Vec<(bool, u32)> = vips
        .iter()
        .map(|v| (v.dad, v.effective_preferred_lft()))
        .collect();
    assert_eq!(
        got,
        [(false, u32::MAX), (false, 0), (true, 30), (false, u32::MAX)]
    );
    let (_, diags) = check(&instance("BAD", "").replace("192.0.2.100/24", "2001:db8::1 preferred_lft soon"));
    assert!(
        has(
            &diags,
            "preferred_lft 'soon' is neither a number of seconds nor 'forever'"
        ),
        "{diags:#?}"
    );
}

#[test]
fn skip_check_adv_addr_reaches_the_instance() {
    let (config, _) = ok(&instance("A", " skip_check_adv_addr"));
    assert!(config.instances[0].skip_check_adv_addr);
    let (config, _) = ok(&instance("B", " skip_check_adv_addr false"));
    assert!(
        !config.instances[0].skip_check_adv_addr,
        "false means false (keepalived takes it as on)"
    );
    let (config, _) = ok(&format!(
        "global_defs {{\n vrrp_skip_check_adv_addr\n}}\n{}",
        instance("C", "")
    ));
    assert!(config.instances[0].skip_check_adv_addr, "the global default");
}

#[test]
fn auth_type_ah_is_an_error_for_check_not_a_surprise_at_run() {
    let body = " authentication {\n  auth_type AH\n  auth_pass secret\n }";
    let (config, diags) = check(&instance("V", body));
    assert!(config.is_none(), "refused");
    assert!(
        has(&diags, "auth_type AH is not supported by xvrrp"),
        "{diags:#?}"
    );
}

#[test]
fn virtual_routes_and_rules_read_keepalived_syntax() {
    use crate::config::model::{Family, PROTO_KEEPALIVED, RuleAction};
    let text = instance(
        "V",
        " virtual_routes {\n  10.200.0.0/16 via 192.0.2.254 dev eth0\n  blackhole 10.201.0.0/16\n  \
         default via 192.0.2.254 table 100 metric 5\n  inet6 default via 2001:db8::1 dev eth0\n  \
         10.9.0.0/24 dev eth0 scope link src 192.0.2.100 no_track protocol static\n }\n \
         virtual_rules {\n  from 192.0.2.100/32 table 100 priority 100\n  to 10.0.0.0/8 fwmark 0x10/0xff lookup main\n }",
    );
    let (config, diags) = ok(&text);
    let v = &config.instances[0];
    assert_eq!(v.routes.len(), 5, "{diags:?}");
    let r = &v.routes[0];
    assert_eq!(r.dest.to_string(), "10.200.0.0/16");
    assert_eq!(r.via, Some("192.0.2.254".parse().unwrap()));
    assert_eq!(
        (r.dev.as_deref(), r.table, r.protocol, r.kind),
        (Some("eth0"), 254, PROTO_KEEPALIVED, 1)
    );
    assert_eq!(v.routes[1].kind, 6);
    assert_eq!(
        (v.routes[2].dest.len, v.routes[2].table, v.routes[2].metric),
        (0, 100, Some(5))
    );
    assert_eq!(v.routes[3].family, Family::Ipv6);
    assert_eq!(v.routes[3].dest.to_string(), "::/0");
    // no_track keeps the protocol given; scope and src read.
    assert_eq!((v.routes[4].protocol, v.routes[4].scope), (4, Some(253)));
    assert_eq!(v.rules[0].action, RuleAction::Table(100));
    assert_eq!(v.rules[0].priority, 100);
    // No preference: keepalived's 16384, with a warning.
    assert_eq!(v.rules[1].priority, 16384);
    assert_eq!(v.rules[1].fwmark, Some((16, Some(255))));
    assert!(has(&diags, "rule has no preference; it gets 16384"), "{diags:?}");
}

#[test]
fn virtual_route_options_xvrrp_lacks_are_errors_naming_them() {
    let (_, diags) = check(&instance(
        "V",
        " virtual_routes {\n  10.1.0.0/16 via 192.0.2.1 mtu 1400\n  10.2.0.0/16 via 2001:db8::1\n  via 192.0.2.1\n }\n \
         virtual_rules {\n  from 192.0.2.100\n  from 192.0.2.100 table 5 uidrange 1-2\n }",
    ));
    for needle in [
        "route option 'mtu' is not supported by xvrrp",
        "cannot mix IPv4 and IPv6",
        "virtual_routes: no destination",
        "virtual_rules: no action",
        "rule option 'uidrange' is not supported by xvrrp",
    ] {
        assert!(has(&diags, needle), "{needle}: {diags:?}");
    }
}
