//! The developer's history of a mini program's filing (备案历史): one timeline of every
//! submission, platform and authority decision, change, cancellation and number issued — read
//! from the filing's audit trail and its submitted versions, nothing stored apart — and each
//! submitted version with its diff against the version before it. Members only.

use crate::auth::{forbidden, require};
use crate::html::{date, layout, oops};
use crate::pages::{event_label, unread};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use beian_core::model::{AuditEntity, AuditEvent};
use beian_core::platform::{Access, Permission};
use beian_core::state::Action;
use beian_service::accounts::Session;
use beian_service::ServiceError;
use beian_web::application;
use maud::html;

/// One line of the timeline.
struct Entry {
    at: i64,
    label: String,
    /// Part of a change (变更备案) rather than the first filing.
    change: bool,
    /// The version a submission created (linked to its page).
    version: Option<u32>,
    /// Who acted, in words.
    who: &'static str,
    /// More to say: the numbers issued, the fields a rejection named.
    note: Option<String>,
}

/// The stored actor (`developer:…`, `reviewer:…`, `authority`, `provider:…`, `system`) in words.
fn who(actor: &str) -> &'static str {
    match actor.split(':').next().unwrap_or("") {
        "developer" => "开发者",
        "reviewer" | "staff" => "平台审核员",
        "authority" => "管局",
        "provider" => "服务商",
        "operator" => "平台运营",
        _ => "系统",
    }
}

fn entry(e: &AuditEvent) -> Option<Entry> {
    let action = Action::ALL.into_iter().find(|a| a.name() == e.action)?;
    let d = &e.detail;
    let code = |k: &str| d.get(k).and_then(serde_json::Value::as_i64);
    // A change's steps keep the filed status on both sides (a cancellation's too: not a change).
    let cancel = matches!(action, Action::Cancel | Action::CancelConfirmed | Action::CancelAborted);
    let change =
        action == Action::ApplyChange || (!cancel && code("from") == Some(6) && code("to") == Some(6));
    let label = match action {
        Action::AuthorityApprove if change => "管局审核通过，变更生效".to_string(),
        Action::Withdraw if change => "撤回变更".to_string(),
        a => event_label(a).to_string(),
    };
    let version = match action {
        Action::Apply | Action::ApplyChange => code("version").and_then(|v| u32::try_from(v).ok()),
        _ => None,
    };
    let fields: Vec<&str> = d
        .get("audit_data")
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(|i| i.get("key_name").and_then(serde_json::Value::as_str)).collect())
        .unwrap_or_default();
    let number = d.get("service_record_number").and_then(serde_json::Value::as_str);
    let note = if !fields.is_empty() {
        Some(format!("驳回的字段：{}", fields.join("、")))
    } else if action == Action::AuthorityApprove {
        number.map(|n| format!("服务备案号：{n}"))
    } else {
        None
    };
    Some(Entry { at: e.at, label, change, version, who: who(&e.actor), note })
}

/// The signed-in member who may view `appid`, or the page that says why not.
async fn member(s: &AppState, headers: &HeaderMap, appid: &str, next: &str) -> Result<Session, Response> {
    let sess = require(s, headers, next).await?;
    match s.svc.accounts().require(&sess.account, appid, Access::Can(Permission::View)).await {
        Ok(_) => Ok(sess),
        Err(ServiceError::Refused { errmsg, .. }) => Err(forbidden(&sess, &errmsg)),
        Err(e) => Err(oops(Some(&sess), e)),
    }
}

/// GET `/console/apps/{appid}/history`: the timeline, newest first, with the record's numbers.
pub async fn history(State(s): State<AppState>, headers: HeaderMap, Path(appid): Path<String>) -> Response {
    let sess = match member(&s, &headers, &appid, &format!("/console/apps/{appid}/history")).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mp = or_page!(s.svc.mini_programs().mini_program(&appid).await, &sess);
    let order = or_page!(s.svc.filings().order(&appid).await, &sess);
    let trail = or_page!(s.svc.audit_trail(AuditEntity::Filing, &appid).await, &sess);
    let entries: Vec<Entry> = trail.iter().filter_map(entry).collect();
    let numbers = order
        .as_ref()
        .and_then(|v| Some((v.order.subject_record_number.clone()?, v.order.service_record_number.clone()?)));
    let body = html! {
        h1 { "备案历史 · " (mp.name) " " small.muted { (appid) } }
        div.card {
            @if let Some((subject, service)) = &numbers {
                p #numbers { "主体备案号：" strong { (subject) } br; "服务备案号：" strong { (service) } }
            }
            @if entries.is_empty() {
                p.muted #no-history { "还没有备案记录。" }
            } @else {
                table.stack #timeline-table {
                    tr.head { th { "时间" } th { "事项" } th { "办理方" } th { "说明" } }
                    @for e in entries.iter().rev() {
                        tr data-action=(e.label) {
                            td data-label="时间" { (date(e.at)) }
                            td data-label="事项" {
                                @if e.change { span.tag { "变更" } " " }
                                (e.label)
                                @if let Some(v) = e.version {
                                    " · " a href={ "/console/apps/" (appid) "/history/" (v) } { "第" (v) "版" }
                                }
                            }
                            td data-label="办理方" { (e.who) }
                            td data-label="说明" { (e.note.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
        p { a href={ "/console/apps/" (appid) } { "返回备案状态" } }
    };
    layout("备案历史", Some(&sess), unread(&s, &sess).await, body).into_response()
}

/// GET `/console/apps/{appid}/history/{version}`: one submitted version as the reviewer read
/// it, with what changed against the version before it.
pub async fn version(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((appid, version)): Path<(String, String)>,
) -> Response {
    let sess = match member(&s, &headers, &appid, &format!("/console/apps/{appid}/history")).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let not_found = || {
        let body = html! { div.error-box { "没有这一版的申请信息。" } p { a href={ "/console/apps/" (appid) "/history" } { "返回备案历史" } } };
        (StatusCode::NOT_FOUND, layout("备案历史", Some(&sess), 0, body)).into_response()
    };
    let Some(n) = version.parse::<u32>().ok().filter(|n| *n >= 1) else { return not_found() };
    let Some(current) = or_page!(s.svc.filings().submitted_version(&appid, n).await, &sess) else {
        return not_found();
    };
    let previous = match n {
        1 => None,
        _ => or_page!(s.svc.filings().submitted_version(&appid, n - 1).await, &sess),
    };
    let mp = or_page!(s.svc.mini_programs().mini_program(&appid).await, &sess);
    let trail = or_page!(s.svc.audit_trail(AuditEntity::Filing, &appid).await, &sess);
    let submitted = trail.iter().filter_map(entry).find(|e| e.version == Some(n));
    let dict = s.svc.dictionaries();
    let sections = application::sections(&current, &dict);
    // The face task is redone for every submission: not a change of the application.
    let changes: Option<Vec<application::Change>> = previous.map(|p| {
        application::diff(&application::sections(&p, &dict), &sections)
            .into_iter()
            .filter(|c| !c.path.ends_with("verify_task_id"))
            .collect()
    });
    let marked: Vec<String> = changes.iter().flatten().map(|c| c.path.clone()).collect();
    let media_url = |id: &str| format!("/console/apps/{appid}/media/{id}");
    let body = html! {
        h1 { "第" (n) "版 · " (mp.name) " " small.muted { (appid) } }
        @if let Some(e) = &submitted {
            p #version-kind {
                @if e.change { span.tag { "变更" } " " }
                (e.label) "（" (date(e.at)) "）"
            }
        }
        div.card {
            h2 { "与上一版相比" }
            @match &changes {
                None => { p.muted #first-version { "这是第一次提交。" } },
                Some(c) if c.is_empty() => { p.muted #no-diff { "与上一版相同。" } },
                Some(c) => {
                    (application::diff_table("version-diff", &format!("第{}版", n - 1), &format!("第{n}版"), c, &media_url))
                },
            }
        }
        div.card {
            h2 { "申请信息" }
            (application::table_marked(&sections, &media_url, &marked))
        }
        p { a href={ "/console/apps/" (appid) "/history" } { "返回备案历史" } }
    };
    layout("备案历史", Some(&sess), unread(&s, &sess).await, body).into_response()
}
