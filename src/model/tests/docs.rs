//! The model's rules for Documentation.

use super::*;

/// docs/protocol.md carries the error-code table generated from `ErrorCode::ALL`; a code added
/// or reworded here must show up there.
#[test]
fn protocol_doc_lists_every_error_code() {
    let doc = include_str!("../../../docs/protocol.md");
    for &e in ErrorCode::ALL {
        let row = format!("| {} | `{}` | {} |", e.code(), e.name(), e.message());
        assert!(doc.contains(&row), "docs/protocol.md lacks the row\n{row}");
    }
}
