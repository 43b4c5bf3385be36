//! Service providers (第三方平台), their tokens and authorizations, and durable jobs.
//! Plain data; the rules around them live in the service layer.

use crate::model::Timestamp;
use serde::{Deserialize, Serialize};

/// A service provider as stored. Secrets never appear here in clear except the message
/// token and EncodingAESKey, which are needed to sign and encrypt event pushes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub component_appid: String,
    pub name: String,
    /// SHA-256 (hex) of the component_appsecret.
    pub secret_hash: String,
    pub msg_token: String,
    pub encoding_aes_key: String,
    pub event_url: String,
    pub created_at: Timestamp,
}

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TokenKind {
    /// component_verify_ticket (12 h).
    VerifyTicket,
    /// component_access_token (2 h).
    ComponentAccess,
    /// pre_auth_code (30 min).
    PreAuthCode,
    /// authorization_code (1 h, once).
    AuthorizationCode,
    /// authorizer_access_token (2 h).
    AuthorizerAccess,
    /// authorizer_refresh_token (until revoked; 5 min grace when rotated).
    AuthorizerRefresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::VerifyTicket => "verify_ticket",
            TokenKind::ComponentAccess => "component_access",
            TokenKind::PreAuthCode => "pre_auth_code",
            TokenKind::AuthorizationCode => "authorization_code",
            TokenKind::AuthorizerAccess => "authorizer_access",
            TokenKind::AuthorizerRefresh => "authorizer_refresh",
        }
    }
    pub fn parse(s: &str) -> Option<TokenKind> {
        [
            TokenKind::VerifyTicket,
            TokenKind::ComponentAccess,
            TokenKind::PreAuthCode,
            TokenKind::AuthorizationCode,
            TokenKind::AuthorizerAccess,
            TokenKind::AuthorizerRefresh,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A stored token (only its hash is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub kind: TokenKind,
    pub component_appid: String,
    /// The mini program for authorizer tokens and codes; empty otherwise.
    pub appid: String,
    /// Permission sets carried by authorization codes and authorizer tokens, e.g. `[18, 156]`.
    pub scopes: Vec<u32>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// When a newer token replaced this one.
    pub superseded_at: Option<Timestamp>,
}

/// A merchant's grant of permission sets to a provider for one mini program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Authorization {
    pub component_appid: String,
    pub appid: String,
    pub scopes: Vec<u32>,
    pub active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The permission sets that open `/wxa/icp/*` (either suffices).
pub const ICP_SCOPES: [u32; 2] = [18, 156];

pub fn scopes_to_string(scopes: &[u32]) -> String {
    scopes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(",")
}

pub fn scopes_from_string(s: &str) -> Vec<u32> {
    s.split(',').filter_map(|x| x.trim().parse().ok()).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Pending,
    Running,
    Done,
    Dead,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }
    pub fn parse(s: &str) -> Option<JobState> {
        match s {
            "pending" => Some(JobState::Pending),
            "running" => Some(JobState::Running),
            "done" => Some(JobState::Done),
            "dead" => Some(JobState::Dead),
            _ => None,
        }
    }
}

/// A durable job: a timer or an outbound message, written in the transaction that caused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub dedupe_key: Option<String>,
    pub state: JobState,
    pub run_at: Timestamp,
    pub attempts: u32,
    pub max_attempts: u32,
    pub locked_by: Option<String>,
    pub locked_until: Option<Timestamp>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
}

/// Retry delay after `attempts` failures: 10 s doubling, at most one hour.
pub fn backoff_secs(attempts: u32) -> i64 {
    let exp = attempts.saturating_sub(1).min(12);
    (10i64 << exp).min(3600)
}

/// Platform staff roles. Operators can do everything reviewers can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Reviewer,
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reviewer => "reviewer",
            Role::Operator => "operator",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "reviewer" => Some(Role::Reviewer),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Staff {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub active: bool,
}

/// An entry of the rejection-reason catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub id: i64,
    pub key_name: String,
    pub error: String,
    pub suggest: String,
    pub active: bool,
}

/// One SMS verification code sent to one principal's phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsCode {
    pub id: i64,
    pub appid: String,
    /// `filing` or `cancel`.
    pub purpose: String,
    pub round: u32,
    pub phone: String,
    pub id_last6_hash: String,
    pub code_hash: String,
    pub attempts: u32,
    /// `pending`, `verified`, `failed` (too many wrong tries), `expired`.
    pub state: String,
    pub sent_at: Timestamp,
    pub expires_at: Timestamp,
}

/// 站内信.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub id: i64,
    pub appid: String,
    pub title: String,
    pub body: String,
    pub created_at: Timestamp,
    pub read_at: Option<Timestamp>,
}

/// A message in the development SMS outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxSms {
    pub id: i64,
    pub phone: String,
    pub text: String,
    pub created_at: Timestamp,
}

/// A clearance sweep's progress and report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sweep {
    pub id: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub cursor_appid: String,
    pub checked: u64,
    pub delisted: u64,
}

/// A console account (developer / mini-program admin or member).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub id: String,
    pub username: String,
    pub display_name: String,
    #[serde(skip)]
    pub password_hash: String,
    pub failed_logins: u32,
    pub locked_until: Option<Timestamp>,
    /// Where password-reset links go (personal data: encrypted at rest). Skipped when
    /// serialised, like the hash.
    #[serde(skip)]
    pub email: Option<String>,
    /// The address was verified by whoever supplied it (an operator, or an ID token with
    /// `email_verified`); only a verified address receives reset links.
    pub email_verified: bool,
    /// When the account was disabled: it then cannot sign in by any method.
    pub disabled_at: Option<Timestamp>,
}

impl Account {
    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

/// An account's role in one mini program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    /// The mini program's administrator: may do everything, grant and revoke.
    Admin,
    /// A member: may do what their permissions say.
    Member,
}

impl MemberRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Admin => "admin",
            MemberRole::Member => "member",
        }
    }
    pub fn parse(s: &str) -> Option<MemberRole> {
        match s {
            "admin" => Some(MemberRole::Admin),
            "member" => Some(MemberRole::Member),
            _ => None,
        }
    }
    /// The role's name for people.
    pub fn label(self) -> &'static str {
        match self {
            MemberRole::Admin => "管理员",
            MemberRole::Member => "成员",
        }
    }
}

/// What a member may be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// 查看: the status, 站内信, tickets.
    View,
    /// 填写备案: the wizard, submit, withdraw, cancel.
    File,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::View => "view",
            Permission::File => "file",
        }
    }
    pub fn parse(s: &str) -> Option<Permission> {
        match s {
            "view" => Some(Permission::View),
            "file" => Some(Permission::File),
            _ => None,
        }
    }
}

/// What a page or an action needs of the signed-in account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A permission (the admin has every one).
    Can(Permission),
    /// The admin role itself (granting, revoking a provider).
    Admin,
}

/// An account's role in a mini program and its permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub appid: String,
    pub account_id: String,
    pub role: MemberRole,
    pub perms: Vec<Permission>,
}

impl Membership {
    pub fn can(&self, need: Access) -> bool {
        match need {
            Access::Admin => self.role == MemberRole::Admin,
            Access::Can(p) => self.role == MemberRole::Admin || self.perms.contains(&p),
        }
    }
    pub fn is_admin(&self) -> bool {
        self.role == MemberRole::Admin
    }
}

/// A support ticket (工单).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ticket {
    pub id: i64,
    pub appid: String,
    pub account_id: String,
    pub title: String,
    /// What the ticket is about, carried automatically (appid, the rejection notice).
    pub context: String,
    /// `open`, `answered`, `closed`.
    pub state: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Ticket {
    /// The state in words, as people read it.
    pub fn state_label(&self) -> &'static str {
        match self.state.as_str() {
            "answered" => "已回复",
            "closed" => "已关闭",
            _ => "处理中",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketMessage {
    pub id: i64,
    pub ticket_id: i64,
    pub author: String,
    pub body: String,
    pub created_at: Timestamp,
}

/// Which outbound channels a mini program's notices use (站内信 always).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyPrefs {
    pub sms: bool,
    pub email: bool,
    pub webhook: bool,
}

impl Default for NotifyPrefs {
    fn default() -> Self {
        NotifyPrefs { sms: true, email: true, webhook: true }
    }
}

/// The notice kinds a developer's webhook can subscribe to (`template` in the payload), with
/// what each means. `plan.rs` (`Plan::notice`), `deadlines.rs` and `merchant_auth.rs` write
/// them; a test checks that every kind written there is listed here.
pub const NOTICE_KINDS: &[(&str, &str)] = &[
    ("apply_submitted", "备案申请已提交"),
    ("withdrawn", "备案申请已撤回"),
    ("platform_approved", "平台初审通过"),
    ("platform_rejected", "平台审核驳回"),
    ("sms_verified", "短信核验完成"),
    ("sms_timeout", "短信核验超时"),
    ("resubmitted", "已重新提交管局"),
    ("filed", "备案已通过"),
    ("authority_rejected", "管局审核驳回"),
    ("cancel_requested", "注销申请已提交"),
    ("cancelled", "备案已注销"),
    ("cancel_aborted", "注销未生效"),
    ("access_revoked", "管局取消接入"),
    ("access_submitted", "接入已有备案已提交"),
    ("access_filed", "接入已有备案已通过"),
    ("access_rejected", "接入已有备案被驳回"),
    ("cancel_access_requested", "取消接入申请已提交"),
    ("access_cancelled", "已取消接入"),
    ("cancel_access_refused", "取消接入未生效"),
    ("principal_change_required", "负责人须变更"),
    ("change_submitted", "变更备案已提交"),
    ("change_withdrawn", "变更备案已撤回"),
    ("change_platform_approved", "变更备案平台初审通过"),
    ("change_platform_rejected", "变更备案平台审核驳回"),
    ("change_sms_verified", "变更备案短信核验完成"),
    ("change_sms_timeout", "变更备案短信核验超时"),
    ("change_resubmitted", "变更备案已重新提交管局"),
    ("change_filed", "变更备案已通过"),
    ("change_authority_rejected", "变更备案管局审核驳回"),
    ("authorization_locked", "服务商授权已锁定"),
    ("deadline_reminder", "备案截止提醒"),
];

/// The `template` of a test delivery (sent on request whatever the subscription).
pub const TEST_EVENT: &str = "test";

/// The events (`InfoType`) a provider can choose for its event URL. The
/// `component_verify_ticket` push is not among them: it is always delivered, because the
/// provider cannot get a token without it.
pub const PROVIDER_EVENTS: &[&str] = &[
    "authorized",
    "updateauthorized",
    "unauthorized",
    "notify_apply_icpfiling_result",
    "notify_icpfiling_verify_result",
];

/// Which events a webhook receives: every one (`None`), or the listed ones.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EventFilter(pub Option<Vec<String>>);

impl EventFilter {
    pub fn wants(&self, event: &str) -> bool {
        self.0.as_ref().is_none_or(|e| e.iter().any(|x| x == event))
    }

    /// The stored form: comma-separated names, `None` for every event.
    pub fn to_column(&self) -> Option<String> {
        self.0.as_ref().map(|e| e.join(","))
    }

    pub fn from_column(c: Option<String>) -> EventFilter {
        EventFilter(c.map(|c| c.split(',').filter(|x| !x.is_empty()).map(str::to_string).collect()))
    }
}

/// A developer's webhook as the notices see it: on or off, and the events it receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    pub enabled: bool,
    pub events: EventFilter,
}

impl WebhookTarget {
    pub fn wants(&self, kind: &str) -> bool {
        self.enabled && self.events.wants(kind)
    }
}

/// A developer's webhook, secret included (decrypted: it signs the deliveries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: String,
    /// `None` only on rows written before beian generated a secret for every webhook.
    pub secret: Option<String>,
    pub target: WebhookTarget,
    pub updated_at: Timestamp,
}

/// One entry of a developer's webhook delivery log: the delivery and its job's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDeliveryRecord {
    pub job_id: i64,
    pub event: String,
    pub created_at: Timestamp,
    pub state: JobState,
    pub attempts: u32,
    pub run_at: Timestamp,
    pub last_error: Option<String>,
}
