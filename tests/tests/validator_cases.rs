//! The userspace validator (socket mode's receive path) against the shared
//! case table, without root: every frame gets the counter slot the table
//! names. `xdp_datapath.rs` runs the same table through the kernel program
//! (root only) and checks that both agree.

use xvrrp_common::stats;
use xvrrp_tests::cases;
use xvrrpd::vrrp::{codec::DecodeError, validate::validate_frame};

#[test]
fn userspace_validator_gives_every_case_its_verdict() {
    let instances = cases::instances();
    let table = cases::cases();
    assert!(table.len() > 20, "the table has its cases ({})", table.len());
    let mut wrong = Vec::new();
    for case in &table {
        let user = match validate_frame(&case.frame, |vrid| {
            instances.iter().find(|i| i.0 == vrid).map(|i| &i.2)
        }) {
            Ok(_) => Some(stats::ADVERTS_RX),
            Err(DecodeError::Tagged { .. }) => None,
            Err(e) => Some(e.stat()),
        };
        if user != case.verdict {
            wrong.push(format!(
                "{}: {:?}, table says {:?}",
                case.name, user, case.verdict
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "userspace verdicts differ:\n{}",
        wrong.join("\n")
    );
    // Every verdict slot is exercised by some case (a new slot needs a case).
    for slot in stats::verdicts() {
        assert!(
            table.iter().any(|c| c.verdict == Some(slot)),
            "no case for verdict slot {slot}"
        );
    }
}
