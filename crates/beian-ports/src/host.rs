//! Contract: the host platform (the WeChat-like platform the mini programs live on) telling
//! beian what happened to its mini programs. Inbound only: beian asks the host nothing.
//!
//! Every event carries an [`EventId`] chosen by the host; beian applies an event once per id
//! (`beian-service` `Service::receive_platform_event`: the id is recorded in the same
//! transaction as the effect), and a repeat answers the first [`PlatformEventOutcome`]
//! without doing anything. What beian does with each event is documented on its variant.
//! The signed HTTP entry the host will call is not built yet (issue 16); today the demo
//! seeding and tests deliver events in-process.

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
    /// mini program has a filed order (已备案), the change is audited and a 站内信 tells the
    /// developer that the filing names the former admin (what follows — a change filing — is
    /// not decided here).
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
