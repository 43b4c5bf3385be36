//! Contract: the host platform (the WeChat-like platform the mini programs live on) telling
//! beian what happened to its mini programs. Inbound only: beian asks the host nothing.
//!
//! Every event carries an [`EventId`] chosen by the host; beian applies an event once per id
//! (`beian-service` `Service::receive_platform_event`: the id is recorded in the same
//! transaction as the effect), and a repeat answers the first [`PlatformEventOutcome`]
//! without doing anything. What beian does with each event is documented on its variant.
//! The host calls the signed HTTP entry `POST /api/platform/v1/events` (`beian/src/platform_api.rs`,
//! `docs/platform-api.md`); the demo seeding delivers events in-process.
//!
//! For a host that may have lost events, [`PlatformMiniProgram`] lists (`POST
//! /api/platform/v1/reconcile`) are compared with beian's records: beian answers the
//! [`Reconciliation`] and changes nothing (the host sends the events that fix what differs).

use beian_core::model::Person;
use beian_core::state::ReadinessFlags;
use serde::{Deserialize, Serialize};

/// The longest event id accepted (characters).
pub const MAX_EVENT_ID_CHARS: usize = 128;

/// The host's id of one event: 1 to [`MAX_EVENT_ID_CHARS`] printable characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventId(String);

impl EventId {
    pub fn parse(id: &str) -> Result<EventId, String> {
        let n = id.chars().count();
        if n == 0 || n > MAX_EVENT_ID_CHARS {
            return Err(format!("an event id has 1 to {MAX_EVENT_ID_CHARS} characters, not {n}"));
        }
        if id.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("an event id has no spaces or control characters".into());
        }
        Ok(EventId(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EventId {
    type Error = String;
    fn try_from(s: String) -> Result<EventId, String> {
        EventId::parse(&s)
    }
}

impl From<EventId> for String {
    fn from(id: EventId) -> String {
        id.0
    }
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the host platform reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PlatformEvent {
    /// A mini program was created or its basic record changed. Unknown appid: beian registers
    /// it (then `admin` is required) as the host reports it, listed or not. Known appid: name,
    /// readiness flags, listing and owner account are updated; going from delisted to listed
    /// passes the listing gate as [`PlatformEvent::Listed`] does; an `admin` that differs from
    /// the stored one is handled as [`PlatformEvent::AdminChanged`].
    MiniProgramUpserted {
        appid: String,
        name: String,
        flags: ReadinessFlags,
        listed: bool,
        /// The developer account that owns it (the console's owner; may be empty).
        owner: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        admin: Option<Person>,
    },
    /// The mini program's administrator (管理员) changed. beian stores the new admin; when the
    /// mini program has a filed order (已备案), the change is audited, and unless the new admin
    /// is the filed principal the mini program is marked 负责人须变更 and the developer told
    /// (站内信 and the usual channels): a change filing must name the new admin. The mark goes
    /// when that change is approved or the admin changes back.
    AdminChanged {
        appid: String,
        #[serde(flatten)]
        admin: Person,
    },
    /// Listed (上架): refused, as the listing gate refuses it, for an unfiled mini program from
    /// the gate date on.
    Listed { appid: String },
    /// Delisted (下架): always recorded.
    Delisted { appid: String },
    /// Deleted on the host: refused while the mini program has an open order (under review,
    /// or rejected and awaiting resubmission) or a filed one (it must be cancelled first);
    /// otherwise beian delists it and records the deletion. Its rows stay, for the audit
    /// trail and the retention rules of personal data.
    Deleted { appid: String },
}

impl PlatformEvent {
    pub fn appid(&self) -> &str {
        match self {
            PlatformEvent::MiniProgramUpserted { appid, .. }
            | PlatformEvent::AdminChanged { appid, .. }
            | PlatformEvent::Listed { appid }
            | PlatformEvent::Delisted { appid }
            | PlatformEvent::Deleted { appid } => appid,
        }
    }

    /// A stable name of the event's kind (stored with its outcome).
    pub fn kind(&self) -> &'static str {
        match self {
            PlatformEvent::MiniProgramUpserted { .. } => "mini_program_upserted",
            PlatformEvent::AdminChanged { .. } => "admin_changed",
            PlatformEvent::Listed { .. } => "listed",
            PlatformEvent::Delisted { .. } => "delisted",
            PlatformEvent::Deleted { .. } => "deleted",
        }
    }
}

/// What beian did with an event; a repeat of the event id answers the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PlatformEventOutcome {
    /// A new mini program was registered.
    Registered,
    /// A known mini program was updated (`admin_changed`: its admin too; `filed`: it has a
    /// filed order, so the change was recorded for it).
    Updated {
        admin_changed: bool,
        filed: bool,
    },
    Listed,
    Delisted,
    /// Delisted and recorded as deleted on the host.
    Deleted,
    /// Nothing changed, and why (a Chinese message for people, with its errcode).
    Refused {
        errcode: i64,
        reason: String,
    },
}

/// The most mini programs one reconciliation may list.
pub const MAX_RECONCILE_ITEMS: usize = 10_000;

/// One mini program as the host knows it, in a reconciliation. The admin is compared either
/// in full (`admin`) or by `admin_fingerprint` (the service's `admin_fingerprint`: lowercase
/// hex SHA-256 of `name + "\n" + id_number + "\n" + mobile`), so the host need not send
/// every admin's identity; with neither, the admin is not compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformMiniProgram {
    pub appid: String,
    pub name: String,
    pub flags: ReadinessFlags,
    pub listed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<Person>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_fingerprint: Option<String>,
}

/// `POST /api/platform/v1/events`'s body (`docs/platform-api.md`): one event with the
/// host's id, in protocol `version` 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRequest {
    pub version: u32,
    pub event_id: EventId,
    pub event: PlatformEvent,
}

/// `POST /api/platform/v1/reconcile`'s body: the host's whole list of mini programs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileRequest {
    pub version: u32,
    pub mini_programs: Vec<PlatformMiniProgram>,
}

/// What differs between the host's list and beian's records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    /// Listed by the host, unknown to beian (the host should send `mini_program_upserted`).
    pub unknown_to_beian: Vec<String>,
    /// Known to beian, not in the host's list (deleted on the host, or a host's omission).
    pub unknown_to_platform: Vec<String>,
    /// Known to both, with fields that differ.
    pub differences: Vec<Difference>,
}

/// The fields of one mini program that differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    pub appid: String,
    pub fields: Vec<FieldDifference>,
}

/// One field that differs: its name (`name`, `flags.certified`, `listed`, `admin`) and both
/// values. The admin's values are never echoed (personal data): both are null.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDifference {
    pub field: String,
    pub platform: serde_json::Value,
    pub beian: serde_json::Value,
}
