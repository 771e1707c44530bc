//! Golden conformance cases: `conformance/<case>/case.json` holds an instance
//! and a list of timed events; `expected.jsonl` holds, per event, the state
//! and actions `step` must produce. `XVRRP_BLESS=1` rewrites the expectations
//! (review the diff before committing it).

use std::{fs, path::Path};

use serde::{Deserialize, Serialize};

use super::{Action, Event, Instance, Micros, State, step};

#[derive(Deserialize)]
struct Case {
    instance: Instance,
    events: Vec<Timed>,
}

#[derive(Deserialize)]
struct Timed {
    at_us: Micros,
    event: Event,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Outcome {
    state: State,
    actions: Vec<Action>,
}

#[test]
fn golden_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/vrrp/fsm/conformance");
    let bless = std::env::var_os("XVRRP_BLESS").is_some();
    let mut ran = 0;
    for entry in fs::read_dir(&root).expect("conformance folder") {
        let dir = entry.unwrap().path();
        let case: Case = serde_json::from_str(&fs::read_to_string(dir.join("case.json")).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut inst = case.instance;
        let mut got = String::new();
        for timed in &case.events {
            let (vars, actions) = step(&inst, &timed.event, timed.at_us);
            inst.apply(vars);
            got.push_str(
                &serde_json::to_string(&Outcome {
                    state: inst.vars.state,
                    actions,
                })
                .unwrap(),
            );
            got.push('\n');
        }
        let expected_path = dir.join("expected.jsonl");
        if bless {
            fs::write(&expected_path, &got).unwrap();
        }
        let want = fs::read_to_string(&expected_path).unwrap_or_default();
        for (n, (g, w)) in got.lines().zip(want.lines()).enumerate() {
            assert_eq!(g, w, "{}: event {} differs", dir.display(), n + 1);
        }
        assert_eq!(
            got.lines().count(),
            want.lines().count(),
            "{}: event count",
            dir.display()
        );
        ran += 1;
    }
    assert!(ran >= 3, "conformance cases missing: ran {ran}");
}
