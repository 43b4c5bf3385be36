//! Entities of the filing domain. Plain data: persistence lives in `beian-store`.

use crate::state::{FilingState, ReadinessFlags};
use serde::{Deserialize, Serialize};

/// Unix seconds (UTC). Every timestamp in beian is one, on both databases.
pub type Timestamp = i64;

/// A natural person as the platform knows them: name and certificate number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub name: String,
    /// Certificate number (居民身份证 etc.). Encrypted at rest.
    pub id_number: String,
    /// Mobile phone. Encrypted at rest.
    pub mobile: String,
}

/// A mini program (小程序) hosted by the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MiniProgram {
    pub appid: String,
    pub name: String,
    /// The administrator (管理员): the only person who may be the mini-program principal.
    pub admin: Person,
    pub flags: ReadinessFlags,
    /// 已上架 (published).
    pub listed: bool,
    /// 已清退 (delisted by the clearance sweep).
    pub cleared: bool,
    pub created_at: Timestamp,
}

/// A filing subject (主体), identified by certificate type + number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub id: String,
    pub subject_type: u32,
    pub certificate_type: u32,
    pub certificate_number: String,
    pub name: String,
    pub province: String,
    /// Mini programs of this subject currently filed.
    pub filed_count: u32,
    /// Whether any filing of this subject ever completed (the never-filed rule, PRODUCT rule 5).
    pub ever_filed: bool,
    /// Applications of this subject under review (status 2 or 4).
    pub in_progress: u32,
    /// 主体备案号, once issued.
    pub record_number: Option<String>,
    /// Services numbered so far (the `N` of `…号-NX`).
    pub service_seq: u32,
}

/// One rejection reason (audit_data item).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditItem {
    /// 审核不通过的字段中文名.
    pub key_name: String,
    /// 原因.
    pub error: String,
    /// 修改建议.
    pub suggest: String,
}

/// The filing order of one mini program (备案订单). Every submitted version is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilingOrder {
    pub appid: String,
    pub subject_id: Option<String>,
    pub state: FilingState,
    pub audit_data: Vec<AuditItem>,
    pub subject_record_number: Option<String>,
    pub service_record_number: Option<String>,
    /// Number of submitted versions (history length).
    pub versions: u32,
    /// The version that is the filed record (0 until filed): a change's newer versions stand
    /// beside it until the authority approves them.
    pub filed_version: u32,
    /// The cancellation asked for (kept after it is confirmed). Serialised as WeChat's code.
    #[serde(with = "cancel_type_code")]
    pub cancel_type: Option<CancelType>,
    pub submitted_at: Option<Timestamp>,
    pub updated_at: Timestamp,
    /// Reviewer who claimed the order in platform review (`staff id`), and when.
    pub claimed_by: Option<String>,
    pub claimed_at: Option<Timestamp>,
    /// Platform-review SLA: the end of the due working day.
    pub review_due_at: Option<Timestamp>,
    /// How many times the order went to the authority (each with a new SMS round).
    pub authority_round: u32,
    /// Optimistic-concurrency token: every update must name the version it read.
    pub row_version: i64,
    /// 新增接入: the service number filed through another access provider that this order
    /// asks to connect (`None` for a new filing). Kept once filed (the record came by access).
    #[serde(default)]
    pub access_number: Option<String>,
}

/// `image` or `video`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaType {
    Image,
    Video,
}

impl MediaType {
    pub fn parse(s: &str) -> Option<MediaType> {
        match s {
            "image" => Some(MediaType::Image),
            "video" => Some(MediaType::Video),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Image => "image",
            MediaType::Video => "video",
        }
    }
}

/// Metadata of an uploaded filing material; the bytes live in the media store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaMeta {
    pub media_id: String,
    pub appid: String,
    pub media_type: MediaType,
    pub certificate_type: Option<u32>,
    pub icp_order_field: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    pub created_at: Timestamp,
}

/// 人脸核身 status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaceStatus {
    NotStarted,
    Waiting,
    Failed,
    Succeeded,
}

impl FaceStatus {
    pub fn code(self) -> i64 {
        match self {
            FaceStatus::NotStarted => 0,
            FaceStatus::Waiting => 1,
            FaceStatus::Failed => 2,
            FaceStatus::Succeeded => 3,
        }
    }
    pub fn from_code(c: i64) -> Option<FaceStatus> {
        Some(match c {
            0 => FaceStatus::NotStarted,
            1 => FaceStatus::Waiting,
            2 => FaceStatus::Failed,
            3 => FaceStatus::Succeeded,
            _ => return None,
        })
    }
}

/// A face-verification task of the mini program's admin (valid 3 days).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaceTask {
    pub task_id: String,
    pub appid: String,
    pub face_status: FaceStatus,
    pub is_finish: bool,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// How long a plain-filing face task stays usable.
pub const FACE_TASK_TTL_SECS: i64 = 3 * 24 * 3600;

/// An append-only record of a change: who did what to which entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: Timestamp,
    /// `system`, `developer:<account>`, `provider:<component_appid>`, `reviewer:<id>`, `authority`.
    pub actor: String,
    pub entity: String,
    pub entity_id: String,
    pub action: String,
    pub detail: serde_json::Value,
}

/// What an audit event records happened (the stored `action` column): a filing transition,
/// or one of the platform's other audited acts. The names are the stored strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// A filing transition (stored as the action's name, e.g. `platform_reject`).
    Transition(crate::state::Action),
    /// a mini program registered.
    Register,
    /// a record's fields changed.
    Update,
    /// a record created.
    Create,
    /// a face task or a sweep finished.
    Finish,
    /// media uploaded.
    Upload,
    /// a plain media object sealed.
    SealPlain,
    /// a provider's event URL set.
    SetEventUrl,
    /// a provider's secret rotated.
    RotateSecret,
    /// an authorization revoked.
    Unauthorized,
    /// a provider's authorizations paused after failures.
    AuthorizationPaused,
    /// a mini program's authorization locked after failures.
    AuthorizationLocked,
    /// the simulated clock moved.
    Advance,
    /// a dictionary version, or a year of the working-day calendar, published.
    Publish,
    /// a developer signed in.
    Login,
    /// a developer sign-in failed.
    LoginFailed,
    /// a membership granted.
    Grant,
    /// a ticket opened.
    Open,
    /// a setting set.
    Set,
    /// personal data erased after retention.
    Erase,
    /// personal data exported.
    Export,
    /// the public index rebuilt.
    Rebuild,
    /// a reason saved to the catalogue.
    Save,
    /// a staff member signed in.
    SignIn,
    /// a staff member signed out.
    SignOut,
    /// a dead job discarded.
    Discard,
    /// the host platform deleted a mini program.
    HostDeleted,
    /// a filed mini program's admin changed.
    AdminChangedAfterFiling,
    /// the authority texted the principals.
    SmsSent,
    /// the authority refused a submission.
    AuthorityRefused,
    /// the authority set an inspection task.
    InspectionTask,
    /// a provider authorized (WeChat's info type).
    Authorized,
    /// an authorization renewed (WeChat's info type).
    UpdateAuthorized,
    /// a reviewer claimed an order.
    Claim,
    /// a reviewer released a claim.
    Release,
    /// an operator recorded the authority's outcome at the manual desk.
    DeskRecorded,
    /// a mini program's admin invited a member by e-mail.
    Invite,
    /// an invitation was accepted.
    Accept,
    /// a member was removed from a mini program.
    Revoke,
    /// an account disabled (it cannot sign in; its sessions ended).
    Disable,
    /// an account enabled again.
    Enable,
    /// an account's password set by a reset link or by an operator (sessions ended).
    PasswordReset,
    /// an identity at an OpenID provider (issuer + subject) linked to an account.
    LinkIdentity,
}

impl AuditAction {
    /// Every action but the transitions (those are `Action::ALL`).
    pub const OTHERS: [AuditAction; 42] = [
        AuditAction::Register,
        AuditAction::Update,
        AuditAction::Create,
        AuditAction::Finish,
        AuditAction::Upload,
        AuditAction::SealPlain,
        AuditAction::SetEventUrl,
        AuditAction::RotateSecret,
        AuditAction::Unauthorized,
        AuditAction::AuthorizationPaused,
        AuditAction::AuthorizationLocked,
        AuditAction::Advance,
        AuditAction::Publish,
        AuditAction::Login,
        AuditAction::LoginFailed,
        AuditAction::Grant,
        AuditAction::Open,
        AuditAction::Set,
        AuditAction::Erase,
        AuditAction::Export,
        AuditAction::Rebuild,
        AuditAction::Save,
        AuditAction::SignIn,
        AuditAction::SignOut,
        AuditAction::Discard,
        AuditAction::HostDeleted,
        AuditAction::AdminChangedAfterFiling,
        AuditAction::SmsSent,
        AuditAction::AuthorityRefused,
        AuditAction::InspectionTask,
        AuditAction::Authorized,
        AuditAction::UpdateAuthorized,
        AuditAction::Claim,
        AuditAction::Release,
        AuditAction::DeskRecorded,
        AuditAction::Invite,
        AuditAction::Accept,
        AuditAction::Revoke,
        AuditAction::Disable,
        AuditAction::Enable,
        AuditAction::PasswordReset,
        AuditAction::LinkIdentity,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Transition(a) => a.name(),
            AuditAction::Register => "register",
            AuditAction::Update => "update",
            AuditAction::Create => "create",
            AuditAction::Finish => "finish",
            AuditAction::Upload => "upload",
            AuditAction::SealPlain => "seal_plain",
            AuditAction::SetEventUrl => "set_event_url",
            AuditAction::RotateSecret => "rotate_secret",
            AuditAction::Unauthorized => "unauthorized",
            AuditAction::AuthorizationPaused => "authorization_paused",
            AuditAction::AuthorizationLocked => "authorization_locked",
            AuditAction::Advance => "advance",
            AuditAction::Publish => "publish",
            AuditAction::Login => "login",
            AuditAction::LoginFailed => "login_failed",
            AuditAction::Grant => "grant",
            AuditAction::Open => "open",
            AuditAction::Set => "set",
            AuditAction::Erase => "erase",
            AuditAction::Export => "export",
            AuditAction::Rebuild => "rebuild",
            AuditAction::Save => "save",
            AuditAction::SignIn => "sign_in",
            AuditAction::SignOut => "sign_out",
            AuditAction::Discard => "discard",
            AuditAction::HostDeleted => "host_deleted",
            AuditAction::AdminChangedAfterFiling => "admin_changed_after_filing",
            AuditAction::SmsSent => "sms_sent",
            AuditAction::AuthorityRefused => "refused",
            AuditAction::InspectionTask => "inspection_task",
            AuditAction::Authorized => "authorized",
            AuditAction::UpdateAuthorized => "updateauthorized",
            AuditAction::Claim => "claim",
            AuditAction::Release => "release",
            AuditAction::DeskRecorded => "desk_recorded",
            AuditAction::Invite => "invite",
            AuditAction::Accept => "accept",
            AuditAction::Revoke => "revoke",
            AuditAction::Disable => "disable",
            AuditAction::Enable => "enable",
            AuditAction::PasswordReset => "password_reset",
            AuditAction::LinkIdentity => "link_identity",
        }
    }
}

/// What an audit event is about (the `entity` column; the name is its stored form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditEntity {
    Account,
    Membership,
    Ticket,
    NotifyPrefs,
    Simulator,
    Filing,
    Sweep,
    MiniProgram,
    FaceTask,
    Job,
    Clock,
    Policy,
    Dictionary,
    Media,
    Webhook,
    Privacy,
    Provider,
    Authorization,
    PublicIndex,
    Staff,
    Reason,
    /// One year of the working-day calendar (entity id: the year).
    Calendar,
    /// The regional rule table (`rule_table`), published in versions.
    RuleTable,
}

impl AuditEntity {
    pub const ALL: [AuditEntity; 23] = [
        AuditEntity::Account,
        AuditEntity::Membership,
        AuditEntity::Ticket,
        AuditEntity::NotifyPrefs,
        AuditEntity::Simulator,
        AuditEntity::Filing,
        AuditEntity::Sweep,
        AuditEntity::MiniProgram,
        AuditEntity::FaceTask,
        AuditEntity::Job,
        AuditEntity::Clock,
        AuditEntity::Policy,
        AuditEntity::Dictionary,
        AuditEntity::Media,
        AuditEntity::Webhook,
        AuditEntity::Privacy,
        AuditEntity::Provider,
        AuditEntity::Authorization,
        AuditEntity::PublicIndex,
        AuditEntity::Staff,
        AuditEntity::Reason,
        AuditEntity::Calendar,
        AuditEntity::RuleTable,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEntity::Account => "account",
            AuditEntity::Membership => "membership",
            AuditEntity::Ticket => "ticket",
            AuditEntity::NotifyPrefs => "notify_prefs",
            AuditEntity::Simulator => "simulator",
            AuditEntity::Filing => "filing",
            AuditEntity::Sweep => "sweep",
            AuditEntity::MiniProgram => "mini_program",
            AuditEntity::FaceTask => "face_task",
            AuditEntity::Job => "job",
            AuditEntity::Clock => "clock",
            AuditEntity::Policy => "policy",
            AuditEntity::Dictionary => "dictionary",
            AuditEntity::Media => "media",
            AuditEntity::Webhook => "webhook",
            AuditEntity::Privacy => "privacy",
            AuditEntity::Provider => "provider",
            AuditEntity::Authorization => "authorization",
            AuditEntity::PublicIndex => "public_index",
            AuditEntity::Staff => "staff",
            AuditEntity::Reason => "reason",
            AuditEntity::Calendar => "calendar",
            AuditEntity::RuleTable => "rule_table",
        }
    }

    pub fn parse(s: &str) -> Option<AuditEntity> {
        AuditEntity::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// 注销类型.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CancelType {
    /// 1 注销主体: the subject's filing and all of its services.
    Subject,
    /// 2 注销小程序: this mini program's service filing.
    Service,
    /// 3 注销微信小程序 (取消接入): treated like 2, and recorded as an access cancellation.
    Access,
}

impl CancelType {
    pub fn from_code(c: u32) -> Option<CancelType> {
        match c {
            1 => Some(CancelType::Subject),
            2 => Some(CancelType::Service),
            3 => Some(CancelType::Access),
            _ => None,
        }
    }
    pub fn code(self) -> u32 {
        match self {
            CancelType::Subject => 1,
            CancelType::Service => 2,
            CancelType::Access => 3,
        }
    }
}

/// `Option<CancelType>` as WeChat's `cancel_type` integer (1, 2, 3) in JSON.
mod cancel_type_code {
    use super::CancelType;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<CancelType>, s: S) -> Result<S::Ok, S::Error> {
        v.map(CancelType::code).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<CancelType>, D::Error> {
        Option::<u32>::deserialize(d)?
            .map(|c| {
                CancelType::from_code(c).ok_or_else(|| serde::de::Error::custom(format!("cancel_type {c}")))
            })
            .transpose()
    }
}
