//! The filing state machine: the whole transition table is a snapshot, so a workflow
//! change shows up as a readable diff. Regenerate with `UPDATE_SNAPSHOTS=1`.

use beian_core::state::{not_filed_code, render_table, transition, Action, FilingState, ReadinessFlags};

#[test]
fn transition_table_snapshot() {
    crate::assert_snapshot("transitions.txt", &render_table());
}

#[test]
fn every_state_round_trips_through_its_columns() {
    for s in FilingState::ALL {
        let sms = s.sms_verify_status().map(|x| x.code()).unwrap_or(0);
        assert_eq!(
            FilingState::from_columns(s.status_code(), sms, s.is_canceling(), s.change_status_code()),
            Some(s)
        );
    }
    assert_eq!(FilingState::from_columns(4, 0, false, 0), None, "status 4 needs an SMS status");
    assert_eq!(FilingState::from_columns(7, 0, false, 0), None);
    assert_eq!(
        FilingState::from_columns(6, 0, false, 4),
        None,
        "a change in authority review needs an SMS status"
    );
    assert_eq!(FilingState::from_columns(2, 0, false, 2), None, "only a filed record has a change");
    assert_eq!(FilingState::from_columns(6, 0, true, 2), None, "no change while canceling");
}

#[test]
fn not_filed_codes_are_flag_combinations() {
    let mut seen = Vec::new();
    for bits in 0..8u8 {
        let flags = ReadinessFlags {
            basic_info_filled: bits & 1 == 0,
            category_filled: bits & 2 == 0,
            certified: bits & 4 == 0,
        };
        seen.push(not_filed_code(flags));
    }
    assert_eq!(seen, (1024..=1031).collect::<Vec<_>>());
}

#[test]
fn wechat_refusal_codes() {
    use beian_core::errcode::*;
    let code = |s, a| transition(s, a).err().map(|e| e.errcode);
    assert_eq!(code(FilingState::NotFiled, Action::Withdraw), Some(NO_WITHDRAWABLE_ORDER));
    assert_eq!(code(FilingState::PlatformRejected, Action::Withdraw), Some(NOT_WITHDRAWABLE));
    assert_eq!(code(FilingState::Filed { canceling: false }, Action::Withdraw), Some(NOT_WITHDRAWABLE));
    assert_eq!(code(FilingState::NotFiled, Action::Cancel), Some(NOT_FILED_CANNOT_CANCEL));
    assert_eq!(code(FilingState::Filed { canceling: true }, Action::Cancel), Some(UNDER_REVIEW));
    assert_eq!(code(FilingState::PlatformReview, Action::Apply), Some(UNDER_REVIEW));
    assert_eq!(code(FilingState::Filed { canceling: false }, Action::Apply), Some(ALREADY_FILED));
    // Every refusal names a code in the table, with a Chinese or WeChat message.
    for s in FilingState::ALL {
        for a in Action::ALL {
            if let Err(e) = transition(s, a) {
                assert!(message(e.errcode).is_some(), "{s:?} {a:?} refused with unknown code {}", e.errcode);
            }
        }
    }
}

#[test]
fn audit_action_names_are_distinct() {
    use beian_core::model::AuditAction;
    let mut names: Vec<&str> = Action::ALL.iter().map(|a| AuditAction::Transition(*a).as_str()).collect();
    names.extend(AuditAction::OTHERS.iter().map(|a| a.as_str()));
    let n = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), n, "two audit actions share a stored name");
}
