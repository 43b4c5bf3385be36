//! The filing state machine: one enum and one pure [`transition`] function.
//!
//! Status codes are WeChat's (`wechat-icp-api.md` §5.1). "Not filed" is stored as one state;
//! the WeChat code 1024–1031 is derived from the mini program's flags at read time
//! ([`not_filed_code`]), because those flags change outside the filing workflow.

use crate::errcode;
use serde::{Deserialize, Serialize};

/// 管局短信核验状态.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SmsVerifyStatus {
    /// 1 等待核验中
    Waiting,
    /// 2 核验完成
    Done,
    /// 3 核验超时
    TimedOut,
}

impl SmsVerifyStatus {
    pub fn code(self) -> i64 {
        match self {
            SmsVerifyStatus::Waiting => 1,
            SmsVerifyStatus::Done => 2,
            SmsVerifyStatus::TimedOut => 3,
        }
    }
    pub fn from_code(code: i64) -> Option<SmsVerifyStatus> {
        match code {
            1 => Some(SmsVerifyStatus::Waiting),
            2 => Some(SmsVerifyStatus::Done),
            3 => Some(SmsVerifyStatus::TimedOut),
            _ => None,
        }
    }
}

/// Where a mini program's filing stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FilingState {
    /// 未备案 (1024–1031, derived from flags).
    NotFiled,
    /// 2 平台审核中.
    PlatformReview,
    /// 3 平台审核驳回.
    PlatformRejected,
    /// 4 管局审核中, with the MIIT SMS verification status.
    AuthorityReview { sms: SmsVerifyStatus },
    /// 5 管局审核驳回.
    AuthorityRejected,
    /// 6 已备案; `canceling` while a 注销 awaits its SMS confirmation.
    Filed { canceling: bool },
    /// 6 已备案 with a change (变更备案) under way: the filed record stands — numbers, online
    /// order, public index — while the change goes through the same reviews (`stage`); on
    /// approval it replaces the record, on rejection the record stays.
    Changing { stage: ChangeStage },
}

/// Where a change (变更备案) stands; the status codes are those of a new application's
/// matching states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChangeStage {
    /// 2 平台审核中.
    PlatformReview,
    /// 3 平台审核驳回 (the developer corrects it or withdraws it).
    PlatformRejected,
    /// 4 管局审核中, with the SMS verification of the principals concerned.
    AuthorityReview { sms: SmsVerifyStatus },
    /// 5 管局审核驳回 (the filed record stays).
    AuthorityRejected,
}

impl ChangeStage {
    /// The status code a new application has in the matching state (2, 3, 4, 5).
    pub fn status_code(self) -> i64 {
        match self {
            ChangeStage::PlatformReview => 2,
            ChangeStage::PlatformRejected => 3,
            ChangeStage::AuthorityReview { .. } => 4,
            ChangeStage::AuthorityRejected => 5,
        }
    }

    pub fn from_columns(status: i64, sms: i64) -> Option<ChangeStage> {
        Some(match status {
            2 => ChangeStage::PlatformReview,
            3 => ChangeStage::PlatformRejected,
            4 => ChangeStage::AuthorityReview { sms: SmsVerifyStatus::from_code(sms)? },
            5 => ChangeStage::AuthorityRejected,
            _ => return None,
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            ChangeStage::PlatformReview => "变更平台审核中",
            ChangeStage::PlatformRejected => "变更平台审核驳回",
            ChangeStage::AuthorityReview { sms: SmsVerifyStatus::Waiting } => {
                "变更管局审核中（等待短信核验）"
            }
            ChangeStage::AuthorityReview { sms: SmsVerifyStatus::Done } => "变更管局审核中",
            ChangeStage::AuthorityReview { sms: SmsVerifyStatus::TimedOut } => {
                "变更管局审核中（短信核验超时）"
            }
            ChangeStage::AuthorityRejected => "变更管局审核驳回",
        }
    }
}

impl FilingState {
    /// The stored status code (1024 for not filed; see [`not_filed_code`] for the flags).
    pub fn status_code(self) -> i64 {
        match self {
            FilingState::NotFiled => 1024,
            FilingState::PlatformReview => 2,
            FilingState::PlatformRejected => 3,
            FilingState::AuthorityReview { .. } => 4,
            FilingState::AuthorityRejected => 5,
            FilingState::Filed { .. } | FilingState::Changing { .. } => 6,
        }
    }

    /// The SMS verification under way: a new application's, or a change's.
    pub fn sms_verify_status(self) -> Option<SmsVerifyStatus> {
        match self {
            FilingState::AuthorityReview { sms }
            | FilingState::Changing { stage: ChangeStage::AuthorityReview { sms } } => Some(sms),
            _ => None,
        }
    }

    /// The change under way, if any.
    pub fn change(self) -> Option<ChangeStage> {
        match self {
            FilingState::Changing { stage } => Some(stage),
            _ => None,
        }
    }

    /// Filed (with or without a cancellation or a change under way).
    pub fn is_filed(self) -> bool {
        matches!(self, FilingState::Filed { .. } | FilingState::Changing { .. })
    }

    /// Waiting for the authority's SMS verification (`sms`) of a submission: a new
    /// application's or a change's.
    pub fn is_authority_review(self, sms: SmsVerifyStatus) -> bool {
        self == FilingState::AuthorityReview { sms }
            || self == FilingState::Changing { stage: ChangeStage::AuthorityReview { sms } }
    }

    /// In platform review: a new application or a change (the reviewers' queue).
    pub fn in_platform_review(self) -> bool {
        matches!(
            self,
            FilingState::PlatformReview | FilingState::Changing { stage: ChangeStage::PlatformReview }
        )
    }

    pub fn is_canceling(self) -> bool {
        matches!(self, FilingState::Filed { canceling: true })
    }

    /// An application under review (2 or 4): what the never-filed-subject rule counts.
    pub fn in_progress(self) -> bool {
        matches!(self, FilingState::PlatformReview | FilingState::AuthorityReview { .. })
    }

    /// Rebuild from stored columns. Unknown combinations are `None` (a corrupt row).
    /// `change_status`: the change's stage code (0 without a change; its SMS status is `sms`).
    pub fn from_columns(status: i64, sms: i64, canceling: bool, change_status: i64) -> Option<FilingState> {
        if change_status != 0 {
            return (status == 6 && !canceling)
                .then(|| ChangeStage::from_columns(change_status, sms))
                .flatten()
                .map(|stage| FilingState::Changing { stage });
        }
        Some(match status {
            1024..=1031 => FilingState::NotFiled,
            2 => FilingState::PlatformReview,
            3 => FilingState::PlatformRejected,
            4 => FilingState::AuthorityReview { sms: SmsVerifyStatus::from_code(sms)? },
            5 => FilingState::AuthorityRejected,
            6 => FilingState::Filed { canceling },
            _ => return None,
        })
    }

    /// Chinese label for people.
    pub fn label(self) -> &'static str {
        match self {
            FilingState::NotFiled => "未备案",
            FilingState::PlatformReview => "平台审核中",
            FilingState::PlatformRejected => "平台审核驳回",
            FilingState::AuthorityReview { sms: SmsVerifyStatus::Waiting } => "管局审核中（等待短信核验）",
            FilingState::AuthorityReview { sms: SmsVerifyStatus::Done } => "管局审核中",
            FilingState::AuthorityReview { sms: SmsVerifyStatus::TimedOut } => "管局审核中（短信核验超时）",
            FilingState::AuthorityRejected => "管局审核驳回",
            FilingState::Filed { canceling: false } => "已备案",
            FilingState::Filed { canceling: true } => "已备案（注销中）",
            FilingState::Changing { stage } => stage.label(),
        }
    }

    /// The change's stage code for storage (0 without a change).
    pub fn change_status_code(self) -> i64 {
        self.change().map(ChangeStage::status_code).unwrap_or(0)
    }

    /// Every state, for the rendered transition table.
    pub const ALL: [FilingState; 15] = [
        FilingState::NotFiled,
        FilingState::PlatformReview,
        FilingState::PlatformRejected,
        FilingState::AuthorityReview { sms: SmsVerifyStatus::Waiting },
        FilingState::AuthorityReview { sms: SmsVerifyStatus::Done },
        FilingState::AuthorityReview { sms: SmsVerifyStatus::TimedOut },
        FilingState::AuthorityRejected,
        FilingState::Filed { canceling: false },
        FilingState::Filed { canceling: true },
        FilingState::Changing { stage: ChangeStage::PlatformReview },
        FilingState::Changing { stage: ChangeStage::PlatformRejected },
        FilingState::Changing { stage: ChangeStage::AuthorityReview { sms: SmsVerifyStatus::Waiting } },
        FilingState::Changing { stage: ChangeStage::AuthorityReview { sms: SmsVerifyStatus::Done } },
        FilingState::Changing { stage: ChangeStage::AuthorityReview { sms: SmsVerifyStatus::TimedOut } },
        FilingState::Changing { stage: ChangeStage::AuthorityRejected },
    ];
}

/// Flags of a mini program that make up the 1025–1031 "not filed" codes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadinessFlags {
    pub basic_info_filled: bool,
    pub category_filled: bool,
    pub certified: bool,
}

/// 1024 + 1 (basic info missing) + 2 (category missing) + 4 (not certified).
pub fn not_filed_code(flags: ReadinessFlags) -> i64 {
    1024 + i64::from(!flags.basic_info_filled)
        + 2 * i64::from(!flags.category_filled)
        + 4 * i64::from(!flags.certified)
}

/// What can happen to a filing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The developer or provider submits an application (申请备案).
    Apply,
    /// The developer submits a change of the filed record (变更备案), or resubmits a
    /// rejected one.
    ApplyChange,
    /// The developer asks to connect a record filed through another access provider by its
    /// service number (新增接入): reviewed like an application, confirmed by the authority
    /// with the same numbers.
    ApplyAccess,
    /// The applicant withdraws it while in platform review (撤回).
    Withdraw,
    /// Platform reviewer approves and hands it to the authority; SMS verification starts.
    PlatformApprove,
    /// Platform reviewer rejects (also the platform's answer to an SMS timeout).
    PlatformReject,
    /// All principals completed the MIIT SMS verification.
    SmsVerified,
    /// The 24 h SMS window passed.
    SmsTimeout,
    /// After a timeout the platform resubmits unchanged; a new SMS goes out.
    Resubmit,
    /// The provincial administration approves: numbers are issued.
    AuthorityApprove,
    /// The provincial administration rejects.
    AuthorityReject,
    /// The applicant asks to cancel the filing (注销).
    Cancel,
    /// The principal confirmed the cancellation by SMS.
    CancelConfirmed,
    /// The cancellation SMS was ignored or refused: the filing stays.
    CancelAborted,
    /// The authority revoked this platform's access (接入) to the filed service: the record
    /// stays with the authority, the mini program is no longer filed here.
    AccessRevoked,
}

impl Action {
    pub const ALL: [Action; 15] = [
        Action::Apply,
        Action::ApplyChange,
        Action::ApplyAccess,
        Action::Withdraw,
        Action::PlatformApprove,
        Action::PlatformReject,
        Action::SmsVerified,
        Action::SmsTimeout,
        Action::Resubmit,
        Action::AuthorityApprove,
        Action::AuthorityReject,
        Action::Cancel,
        Action::CancelConfirmed,
        Action::CancelAborted,
        Action::AccessRevoked,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::Apply => "apply",
            Action::ApplyChange => "apply_change",
            Action::ApplyAccess => "apply_access",
            Action::Withdraw => "withdraw",
            Action::PlatformApprove => "platform_approve",
            Action::PlatformReject => "platform_reject",
            Action::SmsVerified => "sms_verified",
            Action::SmsTimeout => "sms_timeout",
            Action::Resubmit => "resubmit",
            Action::AuthorityApprove => "authority_approve",
            Action::AuthorityReject => "authority_reject",
            Action::Cancel => "cancel",
            Action::CancelConfirmed => "cancel_confirmed",
            Action::CancelAborted => "cancel_aborted",
            Action::AccessRevoked => "access_revoked",
        }
    }
}

/// A consequence the service layer must carry out in the same transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// Send the MIIT SMS verification to the principals (new code, new 24 h window).
    StartSmsVerification,
    /// Issue the subject (if needed) and service numbers.
    IssueNumbers,
    /// Withdraw the service number (and count) after a confirmed cancellation.
    RevokeNumbers,
    /// Send the cancellation confirmation SMS.
    StartCancelConfirmation,
    /// Tell the applicant the result (event `notify_apply_icpfiling_result`, 站内信, SMS).
    NotifyResult,
    /// Clear the last rejection reasons.
    ClearAuditData,
    /// The approved change becomes the filed record (its version, the subject's name).
    ReplaceRecord,
}

/// An illegal transition, with the errcode an API caller sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{errmsg} (errcode {errcode})")]
pub struct TransitionError {
    pub errcode: i64,
    pub errmsg: &'static str,
}

fn refuse(code: i64) -> TransitionError {
    TransitionError { errcode: code, errmsg: errcode::message(code).unwrap_or("操作不允许") }
}

/// The one transition function: the new state and the effects it causes, or why not.
pub fn transition(
    state: FilingState,
    action: Action,
) -> Result<(FilingState, &'static [Effect]), TransitionError> {
    use Action as A;
    use ChangeStage as C;
    use Effect as E;
    use FilingState as S;
    use SmsVerifyStatus as Sms;
    match (state, action) {
        // 变更备案: beside the filed record, through the same reviews.
        (
            S::Filed { canceling: false } | S::Changing { stage: C::PlatformRejected | C::AuthorityRejected },
            A::ApplyChange,
        ) => Ok((S::Changing { stage: C::PlatformReview }, &[E::ClearAuditData])),
        (S::Changing { .. }, A::ApplyChange) => Err(refuse(errcode::CHANGE_OPEN)),
        (S::Filed { canceling: true }, A::ApplyChange) => Err(refuse(errcode::UNDER_REVIEW)),
        (_, A::ApplyChange) => Err(refuse(errcode::NOT_FILED_CANNOT_CHANGE)),
        (S::Changing { .. }, A::Apply) => Err(refuse(errcode::ALREADY_FILED)),
        // 新增接入: the same reviews as a new application (the order carries the number).
        (S::NotFiled | S::PlatformRejected | S::AuthorityRejected, A::ApplyAccess) => {
            Ok((S::PlatformReview, &[E::ClearAuditData]))
        }
        (S::PlatformReview | S::AuthorityReview { .. }, A::ApplyAccess) => Err(refuse(errcode::UNDER_REVIEW)),
        (S::Filed { .. } | S::Changing { .. }, A::ApplyAccess) => Err(refuse(errcode::ALREADY_FILED)),
        // Withdrawn before it reaches the authority, or given up after a rejection.
        (
            S::Changing { stage: C::PlatformReview | C::PlatformRejected | C::AuthorityRejected },
            A::Withdraw,
        ) => Ok((S::Filed { canceling: false }, &[E::ClearAuditData])),
        (S::Changing { stage: C::PlatformReview }, A::PlatformApprove) => {
            Ok((S::Changing { stage: C::AuthorityReview { sms: Sms::Waiting } }, &[E::StartSmsVerification]))
        }
        (
            S::Changing { stage: C::PlatformReview | C::AuthorityReview { sms: Sms::TimedOut } },
            A::PlatformReject,
        ) => Ok((S::Changing { stage: C::PlatformRejected }, &[E::NotifyResult])),
        (S::Changing { stage: C::AuthorityReview { sms: Sms::Waiting } }, A::SmsVerified) => {
            Ok((S::Changing { stage: C::AuthorityReview { sms: Sms::Done } }, &[]))
        }
        (S::Changing { stage: C::AuthorityReview { sms: Sms::Waiting } }, A::SmsTimeout) => {
            Ok((S::Changing { stage: C::AuthorityReview { sms: Sms::TimedOut } }, &[]))
        }
        (S::Changing { stage: C::AuthorityReview { sms: Sms::TimedOut } }, A::Resubmit) => {
            Ok((S::Changing { stage: C::AuthorityReview { sms: Sms::Waiting } }, &[E::StartSmsVerification]))
        }
        (S::Changing { stage: C::AuthorityReview { sms: Sms::Done } }, A::AuthorityApprove) => {
            Ok((S::Filed { canceling: false }, &[E::ReplaceRecord, E::ClearAuditData, E::NotifyResult]))
        }
        (S::Changing { stage: C::AuthorityReview { sms: Sms::Done } }, A::AuthorityReject) => {
            Ok((S::Changing { stage: C::AuthorityRejected }, &[E::NotifyResult]))
        }
        (S::Changing { .. }, A::Cancel) => Err(refuse(errcode::CHANGE_OPEN)),
        (S::Changing { .. }, A::AccessRevoked) => Ok((S::NotFiled, &[E::RevokeNumbers, E::NotifyResult])),

        (S::NotFiled | S::PlatformRejected | S::AuthorityRejected, A::Apply) => {
            Ok((S::PlatformReview, &[E::ClearAuditData]))
        }
        (S::PlatformReview | S::AuthorityReview { .. }, A::Apply) => Err(refuse(errcode::UNDER_REVIEW)),
        (S::Filed { .. }, A::Apply) => Err(refuse(errcode::ALREADY_FILED)),

        (S::PlatformReview, A::Withdraw) => Ok((S::NotFiled, &[])),
        (S::NotFiled, A::Withdraw) => Err(refuse(errcode::NO_WITHDRAWABLE_ORDER)),
        (_, A::Withdraw) => Err(refuse(errcode::NOT_WITHDRAWABLE)),

        (S::PlatformReview, A::PlatformApprove) => {
            Ok((S::AuthorityReview { sms: Sms::Waiting }, &[E::StartSmsVerification]))
        }
        (S::PlatformReview | S::AuthorityReview { sms: Sms::TimedOut }, A::PlatformReject) => {
            Ok((S::PlatformRejected, &[E::NotifyResult]))
        }

        (S::AuthorityReview { sms: Sms::Waiting }, A::SmsVerified) => {
            Ok((S::AuthorityReview { sms: Sms::Done }, &[]))
        }
        (S::AuthorityReview { sms: Sms::Waiting }, A::SmsTimeout) => {
            Ok((S::AuthorityReview { sms: Sms::TimedOut }, &[]))
        }
        (S::AuthorityReview { sms: Sms::TimedOut }, A::Resubmit) => {
            Ok((S::AuthorityReview { sms: Sms::Waiting }, &[E::StartSmsVerification]))
        }
        (S::AuthorityReview { sms: Sms::Done }, A::AuthorityApprove) => {
            Ok((S::Filed { canceling: false }, &[E::IssueNumbers, E::ClearAuditData, E::NotifyResult]))
        }
        (S::AuthorityReview { sms: Sms::Done }, A::AuthorityReject) => {
            Ok((S::AuthorityRejected, &[E::NotifyResult]))
        }

        (S::Filed { canceling: false }, A::Cancel) => {
            Ok((S::Filed { canceling: true }, &[E::StartCancelConfirmation]))
        }
        (S::Filed { canceling: true }, A::Cancel) => Err(refuse(errcode::UNDER_REVIEW)),
        (_, A::Cancel) => Err(refuse(errcode::NOT_FILED_CANNOT_CANCEL)),
        (S::Filed { canceling: true }, A::CancelConfirmed) => {
            Ok((S::NotFiled, &[E::RevokeNumbers, E::NotifyResult]))
        }
        (S::Filed { canceling: true }, A::CancelAborted) => Ok((S::Filed { canceling: false }, &[])),
        (_, A::CancelConfirmed | A::CancelAborted) => Err(refuse(errcode::NO_CANCELLATION)),
        // A revocation ends a cancellation under way too: nothing is left here to cancel.
        (S::Filed { .. }, A::AccessRevoked) => Ok((S::NotFiled, &[E::RevokeNumbers, E::NotifyResult])),

        _ => Err(refuse(errcode::WRONG_REVIEW_STATE)),
    }
}

/// The full transition table as text, one line per (state, action) pair: the snapshot a
/// workflow change must update on purpose.
pub fn render_table() -> String {
    let mut out = String::new();
    for state in FilingState::ALL {
        for action in Action::ALL {
            let line = match transition(state, action) {
                Ok((next, effects)) => {
                    let effects: Vec<String> = effects.iter().map(|e| format!("{e:?}")).collect();
                    format!(
                        "{:<28} --{:<17}--> {:<28} [{}]",
                        state_name(state),
                        action.name(),
                        state_name(next),
                        effects.join(", ")
                    )
                }
                Err(e) => {
                    format!("{:<28} --{:<17}--> refused {}", state_name(state), action.name(), e.errcode)
                }
            };
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

fn state_name(s: FilingState) -> String {
    match s {
        FilingState::AuthorityReview { sms } => format!("4 authority_review sms={}", sms.code()),
        FilingState::Filed { canceling } => {
            format!("6 filed{}", if canceling { " canceling" } else { "" })
        }
        FilingState::Changing { stage } => match stage {
            ChangeStage::AuthorityReview { sms } => format!("6 changing 4 sms={}", sms.code()),
            other => format!("6 changing {}", other.status_code()),
        },
        FilingState::NotFiled => "1024 not_filed".into(),
        FilingState::PlatformReview => "2 platform_review".into(),
        FilingState::PlatformRejected => "3 platform_rejected".into(),
        FilingState::AuthorityRejected => "5 authority_rejected".into(),
    }
}
