//! JSON schema of the scenario file, for editors and for documentation.

use super::types::Scenario;

/// The JSON schema of [`Scenario`], pretty-printed. Editors with TOML schema support (e.g.
/// Taplo, Even Better TOML) use it for completion and checks; ranges beyond types are only
/// checked by [`validate`](super::validate).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Scenario);
    serde_json::to_string_pretty(&schema).expect("a JSON schema always serializes")
}
