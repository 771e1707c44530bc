//! Arbitrary bytes as a keepalived.conf: the reader must give diagnostics, never panic or
//! hang. Includes resolve in memory (only this one file exists), so nothing on the machine
//! is read. Also checked: a configuration is returned exactly when there is no error, and it
//! survives the `--json` round trip.

#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use xvrrpd::config::{self, HostInfo, Severity};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let host = HostInfo::new().with_interface("eth0", [IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))]);
    let loaded = config::load_str("fuzz.conf", &text, Some(&host));
    let errors = loaded.diagnostics.iter().any(|d| d.severity == Severity::Error);
    assert_eq!(errors, loaded.config.is_none(), "a config exactly when there is no error");
    if let Some(config) = &loaded.config {
        let back = config::from_json(&config::to_json(config)).expect("our JSON reads back");
        assert_eq!(&back, config, "JSON round trip");
    }
});
