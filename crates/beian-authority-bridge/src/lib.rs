//! The HTTP bridge to the authority (protocol version 1, `docs/authority-bridge.md`).
//!
//! Real access providers reach the national filing system through a provincial interface
//! that is asynchronous and often partly manual (`REAL-WORLD.md`); a platform puts its own
//! bridge in front of it and beian talks to that bridge:
//! - beian → bridge: [`BridgeGateway`] (an `AuthorityGateway`) POSTs each operation, signed,
//!   to `{url}/v1/operations`;
//! - bridge → beian: the bridge POSTs signed events to `/api/authority/events` (the route is
//!   the binary's; it checks them with [`protocol::Keys::verify`]); [`SignedInbox`] is that
//!   sender for a peer written in Rust (the standalone simulator).
//!
//! Depends on `beian-ports` and `beian-core`, never on the service.

pub mod config;
pub mod gateway;
pub mod peer;
pub mod protocol;

pub use config::{BridgeConfig, BridgeFileConfig};
pub use gateway::BridgeGateway;
pub use peer::SignedInbox;

#[cfg(test)]
mod docs {
    use crate::protocol::{EventEnvelope, OperationEnvelope};
    use beian_ports::authority::{AuthorityEvent, SmsPurpose};

    fn read(rel: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The JSON blocks that follow `<!-- example: {label} -->`.
    fn examples(doc: &str, label: &str) -> Vec<String> {
        let marker = format!("<!-- example: {label} -->\n```json\n");
        doc.match_indices(&marker)
            .map(|(i, _)| {
                let rest = &doc[i + marker.len()..];
                rest[..rest.find("```").unwrap_or(rest.len())].to_string()
            })
            .collect()
    }

    fn kinds_in(schema: &serde_json::Value, def: &str) -> Vec<String> {
        let mut kinds: Vec<String> = schema["$defs"][def]["oneOf"]
            .as_array()
            .unwrap_or(&Vec::new())
            .iter()
            .filter_map(|v| v["properties"]["kind"]["const"].as_str().map(str::to_string))
            .collect();
        kinds.sort();
        kinds
    }

    #[test]
    fn docs_examples_parse() {
        let doc = read("docs/authority-bridge.md");
        let ops = examples(&doc, "operation");
        let events = examples(&doc, "event");
        assert!(ops.len() >= 2 && events.len() >= 3, "examples found: {} {}", ops.len(), events.len());
        for e in &ops {
            let env: OperationEnvelope = serde_json::from_str(e).unwrap_or_else(|err| panic!("{err}: {e}"));
            assert_eq!(env.operation_id, crate::protocol::operation_id(&env.operation), "{e}");
        }
        for e in &events {
            serde_json::from_str::<EventEnvelope>(e).unwrap_or_else(|err| panic!("{err}: {e}"));
        }

        let schema: serde_json::Value =
            serde_json::from_str(&read("docs/schemas/authority-bridge/event-envelope.json")).expect("schema");
        let every = [
            AuthorityEvent::Accepted,
            AuthorityEvent::Refused { code: String::new(), reason: String::new() },
            AuthorityEvent::SmsPending { purpose: SmsPurpose::Filing, deadline: 0, phones: Vec::new() },
            AuthorityEvent::SmsVerified,
            AuthorityEvent::SmsExpired,
            AuthorityEvent::Approved { subject_number: String::new(), service_number: String::new() },
            AuthorityEvent::Rejected { reasons: Vec::new() },
            AuthorityEvent::CancelConfirmed { empty_shell: true },
            AuthorityEvent::CancelAborted { reason: String::new() },
            AuthorityEvent::AccessRevoked { reason: String::new() },
            AuthorityEvent::InspectionTask { task_id: String::new(), description: String::new(), due: 0 },
        ];
        let mut kinds: Vec<String> = every.iter().map(|e| e.kind().to_string()).collect();
        kinds.sort();
        assert_eq!(kinds_in(&schema, "event"), kinds, "the schema names every event kind");
        // Each variant serialises with the tag the schema names.
        for e in &every {
            let v = serde_json::to_value(e).expect("json");
            assert_eq!(v["kind"], e.kind());
        }

        let schema: serde_json::Value =
            serde_json::from_str(&read("docs/schemas/authority-bridge/operation-envelope.json"))
                .expect("schema");
        let wire =
            ["attachments", "cancel", "change", "new_access", "new_service", "new_subject_and_service"];
        assert_eq!(kinds_in(&schema, "operation"), wire);
        serde_json::from_str::<serde_json::Value>(&read("docs/schemas/authority-bridge/answers.json"))
            .expect("answers");
    }
}
