//! The normalized configuration as JSON (`xvrrpd check --json`), and back.

use super::model::Config;

/// Pretty JSON, one field per line: what `check --json` prints.
pub fn to_json(config: &Config) -> String {
    // The model holds only strings, numbers, booleans, addresses and sequences of them:
    // serialization cannot fail.
    serde_json::to_string_pretty(config).unwrap_or_else(|err| unreachable!("config serializes: {err}"))
}

/// Reads what [`to_json`] wrote.
pub fn from_json(text: &str) -> serde_json::Result<Config> {
    serde_json::from_str(text)
}
