//! Small server-rendered pages of the API edge: the admin's face-verification page, the
//! simulated SMS verification page, and the frame the authorization and API docs pages share.
//! Chinese UI, no JavaScript, nothing loaded from elsewhere; written with maud (every
//! interpolation escaped).

use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use beian_core::errcode;
use beian_core::model::FaceStatus;
use beian_service::identity::FacePage;
use maud::{html, Markup, PreEscaped};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/face/{task_id}", get(face_page).post(face_submit))
        .route("/face/{task_id}/start", post(face_start))
        .route("/face/{task_id}/callback", get(face_callback).post(face_callback))
}

/// The simulator's verification page: mounted only when the simulator is the authority
/// gateway (with a real authority the MIIT texts and verifies in its own system).
pub fn simulator_routes() -> Router<AppState> {
    Router::new().route("/miit/verify", get(sms_page).post(sms_submit))
}

/// The pages' whole style sheet (constant, no interpolation).
const STYLE: &str = "body{font:15px/1.6 system-ui,\"PingFang SC\",\"Noto Sans CJK SC\",sans-serif;color:#1f2328;background:#f6f8fa;max-width:40rem;margin:2rem auto;padding:0 1rem}\
h1{font-size:1.4rem}main{background:#fff;border:1px solid #d1d9e0;border-radius:8px;padding:1rem 1.25rem}\
.error{color:#cf222e;font-weight:600} label{display:block;font-weight:600}\
input{display:block;width:100%;max-width:24rem;box-sizing:border-box;font:inherit;padding:.4rem .5rem;border:1px solid #d1d9e0;border-radius:6px;margin-top:.2rem}\
button,.btn{display:inline-block;font:inherit;padding:.45rem 1.2rem;background:#1a7f37;color:#fff;border:0;border-radius:6px;cursor:pointer;text-decoration:none;white-space:nowrap}\
small{color:#59636e} td code{overflow-wrap:anywhere}\
@media (max-width:640px){table,tbody,tr,th,td{display:block}tr{border-bottom:1px solid #d1d9e0;padding:.4rem 0}\
tr:not(:has(td)){display:none}td{overflow-wrap:anywhere}}";

pub fn page(title: &str, body: Markup) -> Markup {
    // A style element's text is raw in HTML: the constant goes in as it is (its quotes must
    // not become entities).
    beian_web::document(
        title,
        "小程序备案",
        html! { style { (PreEscaped(STYLE)) } },
        html! { main { (body) } },
    )
}

/// A refusal in the pages' style.
pub fn error_line(message: &str) -> Markup {
    html! { p.error role="alert" { (message) } }
}

pub fn form_pairs(body: &Bytes) -> Vec<(String, String)> {
    beian_web::form_pairs(body)
}

/// The face page: the built-in check's form (labelled "no biometrics"), or the button that
/// starts a session at the configured provider.
fn face_form(p: &FacePage, message: Option<&str>) -> Markup {
    page(
        "备案人脸核身",
        html! {
            h1 { "小程序备案：管理员人脸核身" }
            p { "小程序「" (p.mini_program) "」正在提交备案，需要由" strong { "小程序管理员本人" } "完成核身。" }
            @if let Some(m) = message { (error_line(m)) }
            @if p.biometric {
                form method="post" action={ "/face/" (p.task.task_id) "/start" } {
                    p { button type="submit" #start-session { "开始人脸核身" } }
                }
                p { small { "点击后将跳转到人脸核身服务商的页面完成刷脸（活体检测与人脸比对），完成后会自动返回本页。" } }
            } @else {
                p #no-biometrics { strong { "演示核身（无生物识别）：" } "本平台当前配置的内置核身只核对管理员的姓名与身份证号，不采集人脸、不做活体检测，仅用于模拟与演示。" }
                form method="post" {
                    p { label { "管理员姓名 " input name="name" required; } }
                    p { label { "管理员身份证号 " input name="id_number" required maxlength="18"; } }
                    p { button type="submit" { "开始核身" } }
                }
            }
        },
    )
}

/// The way back for an admin who filed in the console (a provider's own page shows the
/// result itself).
fn back_to_filing(appid: &str) -> Markup {
    html! {
        p { a.btn #back-to-filing href={ "/console/apps/" (appid) "/filing?step=face&saved=1" } { "返回备案页面" } }
    }
}

/// What the page says about the last decided session, if it failed.
fn last_outcome(p: &FacePage) -> Option<String> {
    match p.outcome.as_deref() {
        Some("expired") => Some(beian_service::identity::SESSION_EXPIRED.to_string()),
        Some("failed") => Some(format!(
            "上次核身未通过（核身服务结果码：{}），请由管理员本人重新核身",
            p.raw_code.as_deref().unwrap_or("-")
        )),
        _ => None,
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, page("核身任务不存在", html! { p.error { "核身任务不存在，请检查链接。" } }))
        .into_response()
}

/// A service refusal or failure as a page.
fn face_error(e: beian_service::ServiceError) -> Response {
    match e {
        // No such task: a plain 404. A task whose notice expired says so (same code, its own text).
        beian_service::ServiceError::Refused { errcode, errmsg }
            if errcode == errcode::FACE_TASK_NOT_FOUND
                && Some(errmsg.as_str()) == errcode::message(errcode) =>
        {
            not_found()
        }
        beian_service::ServiceError::Refused { errcode, errmsg, .. } if errcode == errcode::SYSTEM_ERROR => (
            StatusCode::SERVICE_UNAVAILABLE,
            page("核身服务暂不可用", html! { p.error role="alert" { (errmsg) } }),
        )
            .into_response(),
        beian_service::ServiceError::Refused { errmsg, .. } => {
            (StatusCode::BAD_REQUEST, page("核身失败", html! { p.error role="alert" { (errmsg) } }))
                .into_response()
        }
        e => {
            tracing::error!("face verification: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                page("系统繁忙", html! { p.error { "系统繁忙，请稍后再试。" } }),
            )
                .into_response()
        }
    }
}

/// GET: the task's page. A pending session's result is pulled first, so coming back from the
/// provider's page shows the result.
async fn face_page(State(s): State<AppState>, Path(task_id): Path<String>) -> Response {
    match s.svc.materials().face_task_for_page(&task_id).await {
        Ok(p) if p.task.expires_at <= s.svc.now().timestamp() => (
            StatusCode::GONE,
            page(
                "核身任务已过期",
                html! { p.error { "核身任务已过期（有效期3天），请联系服务商或开发者重新发起。" } },
            ),
        )
            .into_response(),
        Ok(p) if p.task.is_finish && p.task.face_status == FaceStatus::Succeeded => page(
            "核身已完成",
            html! { h1 #face-done { "核身已完成" } p { "你已完成人脸核身，可以关闭此页面。" } (back_to_filing(&p.task.appid)) },
        )
        .into_response(),
        Ok(p) => face_form(&p, last_outcome(&p).as_deref()).into_response(),
        Err(e) => face_error(e),
    }
}

/// POST: the built-in check's form.
async fn face_submit(State(s): State<AppState>, Path(task_id): Path<String>, body: Bytes) -> Response {
    let form = form_pairs(&body);
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    match s.svc.materials().complete_face_verification(&task_id, &get("name"), &get("id_number")).await {
        Ok(t) if t.face_status == FaceStatus::Succeeded => page(
            "核身成功",
            html! { h1 { "核身成功" } p { "人脸核身已完成，可以回到备案页面继续提交。" } (back_to_filing(&t.appid)) },
        )
        .into_response(),
        Ok(_) => match s.svc.materials().face_task_for_page(&task_id).await {
            Ok(p) => (
                StatusCode::BAD_REQUEST,
                face_form(&p, Some("核身未通过：姓名或身份证号与小程序管理员不一致，请由管理员本人重新核身")),
            )
                .into_response(),
            Err(e) => face_error(e),
        },
        Err(e) => face_error(e),
    }
}

/// POST: start a session at the configured provider and send the person to its page.
async fn face_start(State(s): State<AppState>, Path(task_id): Path<String>) -> Response {
    match s.svc.materials().start_face_session(&task_id).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => face_error(e),
    }
}

/// GET or POST: a provider's notification. Nothing in the request is trusted (no vendor
/// signature is checked): it only triggers a pull of the session's result from the provider.
async fn face_callback(State(s): State<AppState>, Path(task_id): Path<String>) -> Response {
    match s.svc.materials().refresh_face_task(&task_id).await {
        Ok(_) => (StatusCode::OK, "ok").into_response(),
        Err(beian_service::ServiceError::Refused { errcode, .. })
            if errcode == errcode::FACE_TASK_NOT_FOUND =>
        {
            (StatusCode::NOT_FOUND, "unknown task").into_response()
        }
        Err(e) => {
            tracing::warn!(task_id, "face callback: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, "retry later").into_response()
        }
    }
}

fn sms_form(message: Option<(&str, bool)>) -> Markup {
    page(
        "ICP备案短信核验",
        html! {
            h1 { "ICP备案短信核验（模拟工信部）" }
            p { "收到“【工信部ICP备案】验证码”短信的负责人，请在24小时内输入手机号、身份证号后6位和验证码。验证码错误5次后本次核验失败。" }
            @match message {
                Some((m, true)) => { p role="status" { strong { (m) } } },
                Some((m, false)) => { (error_line(m)) },
                None => {},
            }
            form method="post" {
                p { label { "手机号 " input name="phone" required inputmode="numeric" maxlength="11"; } }
                p { label { "身份证号后6位 " input name="id_last6" required maxlength="6"; } }
                p { label { "短信验证码 " input name="code" required inputmode="numeric" maxlength="6"; } }
                p { button type="submit" { "提交核验" } }
            }
            p { small { "这是 beian 内置的管局模拟器页面；接入真实管局时由管局系统提供核验。" } }
        },
    )
}

async fn sms_page() -> Markup {
    sms_form(None)
}

async fn sms_submit(State(s): State<AppState>, body: Bytes) -> Response {
    let form = form_pairs(&body);
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let Some(sim) = &s.sim else { return StatusCode::NOT_FOUND.into_response() };
    let verified = sim.verify(&get("phone"), &get("id_last6"), &get("code")).await;
    match verified.map_err(crate::staff::sim_error) {
        Ok(beian_authority_sim::VerifyOutcome::Verified { complete, .. }) => {
            let msg = if complete {
                "核验成功，备案已进入管局审核。"
            } else {
                "核验成功。还有其他负责人需要完成核验。"
            };
            sms_form(Some((msg, true))).into_response()
        }
        Err(beian_service::ServiceError::Refused { errmsg, .. }) => {
            (StatusCode::BAD_REQUEST, sms_form(Some((&errmsg, false)))).into_response()
        }
        Err(e) => {
            tracing::error!("sms verification page: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, sms_form(Some(("系统繁忙，请稍后再试", false)))).into_response()
        }
    }
}
