//! Bounds on free text and lists that beian stores or shows to someone else: what a
//! reviewer, developer, operator or provider types is kept and displayed, so each has a
//! length, and each refusal says the limit.

use crate::errcode;
use crate::model::AuditItem;

/// Rejection reasons per decision (WeChat's `audit_data` lists a handful; 30 covers every
/// field of the application once).
pub const REASONS: usize = 30;
/// A reason's field name (`key_name`).
pub const REASON_KEY_CHARS: usize = 50;
/// A reason's text or suggestion.
pub const REASON_TEXT_CHARS: usize = 300;
/// A ticket's title.
pub const TICKET_TITLE_CHARS: usize = 100;
/// A ticket's description or one reply.
pub const TICKET_BODY_CHARS: usize = 5000;
/// A person's, staff member's, account's or provider's name.
pub const NAME_CHARS: usize = 50;
/// A sign-in name.
pub const USERNAME_CHARS: usize = 64;
/// A URL (event URL, webhook).
pub const URL_CHARS: usize = 2000;
/// A webhook secret.
pub const SECRET_CHARS: usize = 200;

/// A refusal: the errcode (`86934` 字段长度不符合要求) and a Chinese message with the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLong {
    pub errcode: i64,
    pub errmsg: String,
}

/// `value` (trimmed) has at most `max` characters; `label` names it for people.
pub fn text(label: &str, value: &str, max: usize) -> Result<(), TooLong> {
    let n = value.trim().chars().count();
    if n > max {
        return Err(TooLong {
            errcode: errcode::FIELD_LENGTH,
            errmsg: format!("{label}过长：最多{max}个字符，当前{n}个"),
        });
    }
    Ok(())
}

/// A list has at most `max` items.
pub fn items(label: &str, len: usize, max: usize) -> Result<(), TooLong> {
    if len > max {
        return Err(TooLong {
            errcode: errcode::FIELD_LENGTH,
            errmsg: format!("{label}过多：最多{max}条，当前{len}条"),
        });
    }
    Ok(())
}

/// Rejection reasons (a reviewer's, or the simulator's configured ones): at most [`REASONS`],
/// each bounded, and at least one, each naming its field (`key_name`) and saying why (`error`).
pub fn reasons(reasons: &[AuditItem]) -> Result<(), TooLong> {
    items("驳回原因", reasons.len(), REASONS)?;
    for (i, r) in reasons.iter().enumerate() {
        let n = i + 1;
        text(&format!("第{n}条驳回原因的字段名称"), &r.key_name, REASON_KEY_CHARS)?;
        text(&format!("第{n}条驳回原因"), &r.error, REASON_TEXT_CHARS)?;
        text(&format!("第{n}条修改建议"), &r.suggest, REASON_TEXT_CHARS)?;
    }
    if reasons.is_empty() || reasons.iter().any(|r| r.key_name.trim().is_empty() || r.error.trim().is_empty())
    {
        return Err(TooLong {
            errcode: errcode::INVALID_INPUT,
            errmsg: "驳回须至少给出一条原因，每条须写明字段（key_name）和原因（error）".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_said() {
        assert!(text("标题", "一二三", 3).is_ok());
        let e = text("标题", "一二三四", 3).expect_err("too long");
        assert_eq!(e.errmsg, "标题过长：最多3个字符，当前4个");
        assert_eq!(
            items("驳回原因", 31, REASONS).expect_err("too many").errmsg,
            "驳回原因过多：最多30条，当前31条"
        );
    }
}
