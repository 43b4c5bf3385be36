//! 接入已有备案 (new access) and 取消接入 (cancel access): the two console pages of the access
//! requests (`/console/apps/{appid}/access`, `/console/apps/{appid}/cancel-access`).
//!
//! A new access takes the existing service number here and the application data from the
//! filing wizard's draft (the wizard is where the subject, the principals, the materials and
//! the face verification are entered and checked step by step); the number's own errors are
//! shown at the number, the application's with a link to the wizard step that fixes them.
//! Cancelling an access spells out what it means and needs an explicit confirmation.

use crate::auth::{check_csrf, forbidden, form, get, require};
use crate::html::{csrf_field, error_box, layout, oops, wrap, FieldState};
use crate::pages::unread;
use crate::wizard::{step_of, STEPS};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use beian_core::plan::ACCESS_NUMBER_FIELD;
use beian_core::platform::{Access, Permission};
use beian_core::rules::Hint;
use beian_core::state::FilingState;
use beian_service::accounts::Session;
use beian_service::{Actor, ServiceError};
use maud::{html, Markup};

/// The signed-in developer who may file for `appid` (`back`: where sign-in returns to).
async fn guard(s: &AppState, headers: &HeaderMap, appid: &str, back: &str) -> Result<Session, Response> {
    let sess = require(s, headers, &format!("/console/apps/{appid}/{back}")).await?;
    match s.svc.accounts().require(&sess.account, appid, Access::Can(Permission::File)).await {
        Ok(_) => Ok(sess),
        Err(ServiceError::Refused { errmsg, .. }) => Err(forbidden(&sess, &errmsg)),
        Err(e) => Err(oops(Some(&sess), e)),
    }
}

/// A POST of one of the two pages: the developer who may file, the form, its CSRF token checked.
async fn posted(
    s: &AppState,
    headers: &HeaderMap,
    appid: &str,
    back: &str,
    body: &Bytes,
) -> Result<(Session, Vec<(String, String)>), Response> {
    let sess = guard(s, headers, appid, back).await?;
    let f = form(body);
    check_csrf(&sess, get(&f, "_csrf"))?;
    Ok((sess, f))
}

/// What the access page shows after a submission: the number typed, the hints, a refusal.
#[derive(Default)]
struct Feedback {
    number: String,
    hints: Vec<Hint>,
    notice: Option<String>,
}

/// GET: the access form (number, the draft's subject, the confirmation).
pub async fn access_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
) -> Response {
    let sess = match guard(&s, &headers, &appid, "access").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    access_view(&s, &sess, &appid, Feedback::default(), StatusCode::OK).await
}

/// POST: submit the new access (number + the wizard's draft).
pub async fn submit_access(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    body: Bytes,
) -> Response {
    let (sess, f) = match posted(&s, &headers, &appid, "access", &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let number = get(&f, "service_number").trim().to_string();
    let mut fb = Feedback { number: number.clone(), ..Feedback::default() };
    if get(&f, "agree") != "1" {
        fb.notice = Some("请先勾选确认：申请信息真实，且该备案号是本主体已有的备案".into());
        return access_view(&s, &sess, &appid, fb, StatusCode::BAD_REQUEST).await;
    }
    let draft = or_page!(s.svc.filings().draft_or_start(&appid).await, &sess);
    let actor = Actor::new("developer", &sess.account.id);
    match s.svc.filings().apply_access(&actor, &appid, &number, draft).await {
        Ok(_) => {
            if let Err(e) = s.svc.filings().discard_draft(&appid).await {
                tracing::warn!(appid, "access submitted, but the draft was not discarded: {e}");
            }
            Redirect::to(&format!("/console/apps/{appid}?submitted=1")).into_response()
        }
        Err(ServiceError::Hints(h)) => {
            fb.hints = h;
            access_view(&s, &sess, &appid, fb, StatusCode::BAD_REQUEST).await
        }
        Err(ServiceError::Refused { errmsg, .. }) => {
            fb.notice = Some(errmsg);
            access_view(&s, &sess, &appid, fb, StatusCode::CONFLICT).await
        }
        Err(e) => oops(Some(&sess), e),
    }
}

async fn access_view(s: &AppState, sess: &Session, appid: &str, fb: Feedback, code: StatusCode) -> Response {
    let mp = or_page!(s.svc.mini_programs().mini_program(appid).await, sess);
    let info = or_page!(s.svc.filings().entrance_info(appid).await, sess);
    let draft = or_page!(s.svc.filings().draft_or_start(appid).await, sess);
    // Only an unfiled mini program (or one whose last request was rejected) may ask.
    let open = matches!(
        info.state(),
        FilingState::NotFiled | FilingState::PlatformRejected | FilingState::AuthorityRejected
    );
    let number_state = FieldState {
        hints: fb.hints.iter().filter(|h| h.err_field == ACCESS_NUMBER_FIELD).collect(),
        rejected: None,
    };
    let others: Vec<&Hint> = fb.hints.iter().filter(|h| h.err_field != ACCESS_NUMBER_FIELD).collect();
    let dict = s.svc.dictionaries();
    let subject = &draft.icp_subject.base_info;
    let province = subject
        .province
        .parse()
        .ok()
        .and_then(|c| dict.region_at(1, c))
        .map(|r| r.name.to_string())
        .unwrap_or_else(|| "未填写".into());
    let value = if fb.number.is_empty() {
        info.access.as_ref().map(|a| a.service_number.clone()).unwrap_or_default()
    } else {
        fb.number
    };
    let body = html! {
        h1 { "接入已有备案 " small.muted { (mp.name) " · " (appid) } }
        div.card {
            p {
                "小程序已通过其他接入服务商（例如同名小程序在其他平台）完成备案的，可以用已有的"
                strong { "服务备案号" } "接入本平台：平台核验主体和负责人信息后报送管局确认，负责人会收到工信部的短信验证码。"
                strong { "不会产生新的备案号" } "；管局确认后，小程序在本平台即为已备案。"
            }
            @if !open {
                (error_box(&format!("当前状态（{}）不能申请接入已有备案。", info.state().label())))
                p { a href={ "/console/apps/" (appid) } { "返回备案状态" } }
            } @else {
                @if let Some(n) = &fb.notice { (error_box(n)) }
                form method="post" action={ "/console/apps/" (appid) "/access" } novalidate {
                    (csrf_field(sess))
                    (wrap(
                        "service_number",
                        "已有的服务备案号",
                        html! { input type="text" name="service_number" id="service_number" value=(value) autocomplete="off" placeholder="粤ICP备2026012345号-1X"; },
                        "备案号中的省份须与主体所在省份一致；可在 https://beian.miit.gov.cn/ 查询",
                        &number_state,
                    ))
                    h2 { "申请信息" }
                    p {
                        "主体、负责人、证件材料和人脸核身在" a #open-wizard href={ "/console/apps/" (appid) "/filing" } { "备案向导" }
                        "中填写（填写后回到本页提交，无需在向导中提交）。当前草稿："
                    }
                    ul #access-draft {
                        li { "主体名称：" (if subject.name.is_empty() { "未填写" } else { subject.name.as_str() }) }
                        li { "主体所在省份：" (province) }
                        li { "主体负责人：" (if draft.icp_subject.principal_info.name.is_empty() { "未填写" } else { draft.icp_subject.principal_info.name.as_str() }) }
                    }
                    @if !others.is_empty() {
                        div.error-box role="alert" #access-hints {
                            strong { "申请信息需要修改" }
                            ul {
                                @for h in &others { (hint_item(appid, h)) }
                            }
                        }
                    }
                    label {
                        input type="checkbox" name="agree" value="1";
                        " 我确认申请信息真实，且该备案号是本主体已有的备案"
                    }
                    p { button type="submit" #submit-access { "提交接入申请" } }
                }
            }
        }
    };
    (code, layout("接入已有备案", Some(sess), unread(s, sess).await, body)).into_response()
}

/// One hint of the application, with the wizard step that fixes it.
fn hint_item(appid: &str, h: &Hint) -> Markup {
    let step = step_of(&h.err_field);
    let title = STEPS.iter().find(|(k, _)| *k == step).map(|(_, t)| *t).unwrap_or("确认提交");
    html! {
        li {
            @if !h.err_field.is_empty() { strong { (beian_core::rules::label(&h.err_field)) } "：" }
            (h.errmsg) " "
            a href={ "/console/apps/" (appid) "/filing?step=" (step) } { "去“" (title) "”修改" }
        }
    }
}

/// GET: what cancelling this platform's access means, and the confirmation.
pub async fn cancel_access_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
) -> Response {
    let sess = match guard(&s, &headers, &appid, "cancel-access").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    cancel_access_view(&s, &sess, &appid, None, StatusCode::OK).await
}

/// POST: ask the authority to remove this platform's access (confirmed by the checkbox).
pub async fn submit_cancel_access(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    body: Bytes,
) -> Response {
    let (sess, f) = match posted(&s, &headers, &appid, "cancel-access", &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if get(&f, "confirm") != "1" {
        let why = "请先勾选确认你已了解取消接入的后果";
        return cancel_access_view(&s, &sess, &appid, Some(why.into()), StatusCode::BAD_REQUEST).await;
    }
    let actor = Actor::new("developer", &sess.account.id);
    match s.svc.filings().cancel(&actor, &appid, Some(3), None).await {
        Ok(_) => Redirect::to(&format!("/console/apps/{appid}")).into_response(),
        Err(ServiceError::Refused { errmsg, .. }) => {
            cancel_access_view(&s, &sess, &appid, Some(errmsg), StatusCode::CONFLICT).await
        }
        Err(e) => oops(Some(&sess), e),
    }
}

async fn cancel_access_view(
    s: &AppState,
    sess: &Session,
    appid: &str,
    notice: Option<String>,
    code: StatusCode,
) -> Response {
    let mp = or_page!(s.svc.mini_programs().mini_program(appid).await, sess);
    let info = or_page!(s.svc.filings().entrance_info(appid).await, sess);
    let order = or_page!(s.svc.filings().order(appid).await, sess);
    let number = order.and_then(|v| v.order.service_record_number).unwrap_or_default();
    let open = info.state() == (FilingState::Filed { canceling: false });
    let body = html! {
        h1 { "取消接入 " small.muted { (mp.name) " · " (appid) } }
        div.card {
            @if !open {
                (error_box(&format!("当前状态（{}）不能取消接入：只有已备案、且没有进行中的变更或注销的小程序可以取消接入。", info.state().label())))
                p { a href={ "/console/apps/" (appid) } { "返回备案状态" } }
            } @else {
                p { "取消接入是取消本平台对该小程序备案（服务备案号 " strong #cancel-access-number { (number) } "）的接入，只能取消本平台自己的接入。取消后：" }
                ul #consequences {
                    li { strong { "小程序在本平台不再视为已备案" } "：未备案的小程序不能上架，已上架的将按平台规则下架，用户无法再访问。" }
                    li { strong { "本平台不再展示备案号" } "，备案公开查询中也不再显示该小程序。" }
                    li { strong { "工信部的备案记录仍然保留" } "（这不是注销备案；如要注销备案，请使用备案状态页的“注销备案”）。" }
                    li { "如果本平台是该备案唯一的接入服务商，取消后该备案将没有任何接入，成为" strong { "空壳备案" } "，管局可能注销空壳备案；管局也可能不同意取消最后一个接入（备案保持有效）。" }
                    li { "取消接入不需要短信核验，管局确认后生效，不能撤回。" }
                }
                @if let Some(n) = &notice { (error_box(n)) }
                form method="post" action={ "/console/apps/" (appid) "/cancel-access" } {
                    (csrf_field(sess))
                    label {
                        input type="checkbox" name="confirm" value="1" #confirm-cancel-access;
                        " 我已了解以上后果，确认取消本平台的接入"
                    }
                    p { button.danger type="submit" #submit-cancel-access { "确认取消接入" } }
                }
            }
        }
    };
    (code, layout("取消接入", Some(sess), unread(s, sess).await, body)).into_response()
}
