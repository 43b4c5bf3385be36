//! Operator pages: policy dates and entrance switches, quotas, simulator controls, service
//! providers, the reason catalogue, dictionaries (versioned; the rule table has its own page,
//! `rules.rs`), the working-day calendar (a year's file uploaded, versioned), the job queue with
//! dead letters, the audit log, and support tickets answered from the platform's side.

use crate::auth::{check_csrf, form, get, require};
use crate::html::{date, error_box, hidden, layout};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use beian_core::dict::DictKind;
use beian_core::platform::{JobState, Reason, Role, Staff};
use beian_service::{Actor, ServiceError};
use chrono::Datelike;
use maud::html;

fn actor(s: &Staff) -> Actor {
    Actor::new("operator", &s.id)
}

/// The simulator's refusals and failures show like the service's.
fn sim_error(e: beian_authority_sim::SimError) -> ServiceError {
    match e {
        beian_authority_sim::SimError::Refused { errcode, errmsg } => {
            ServiceError::Refused { errcode, errmsg }
        }
        beian_authority_sim::SimError::Internal(m) => ServiceError::Internal(m),
    }
}

pub(crate) fn fail(staff: &Staff, csrf: &str, e: ServiceError) -> Response {
    let msg = match e {
        ServiceError::Refused { errmsg, .. } => errmsg,
        other => {
            tracing::error!("ops: {other}");
            "系统繁忙，请稍后再试".into()
        }
    };
    (
        StatusCode::BAD_REQUEST,
        layout(
            "操作未完成",
            Some((staff, csrf)),
            html! {
                (error_box(&msg))
                p { a href="/admin/ops" { "返回" } }
            },
        ),
    )
        .into_response()
}

macro_rules! operator {
    ($s:expr, $headers:expr) => {
        match require(&$s, &$headers, Role::Operator).await {
            Ok(x) => x,
            Err(r) => return r,
        }
    };
}

macro_rules! posted {
    ($s:expr, $headers:expr, $body:expr) => {{
        let (staff, csrf) = operator!($s, $headers);
        let f = form(&$body);
        if let Err(r) = check_csrf(&staff, &csrf, &f) {
            return r;
        }
        (staff, csrf, f)
    }};
}

pub async fn home(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let (staff, csrf) = operator!(s, headers);
    let p = s.svc.policy();
    let sim = match &s.sim {
        Some(sim) => match sim.settings().await {
            Ok(x) => Some(x),
            Err(e) => return fail(&staff, &csrf, sim_error(e)),
        },
        None => None,
    };
    let h = hidden(&csrf);
    let body = html! {
        h1 { "运营设置" }
        p {
            a href="/admin/ops/providers" { "服务商" } " · "
            a href="/admin/accounts" { "开发者帐号" } " · "
            a href="/admin/ops/reasons" { "驳回原因库" } " · "
            a href="/admin/ops/dictionaries" { "字典" } " · "
            a href="/admin/ops/calendar" { "工作日历" } " · "
            a href="/admin/ops/rules" { "规则表" } " · "
            a href="/admin/ops/jobs" { "任务队列" } " · "
            a href="/admin/ops/audit" { "审计日志" } " · "
            a href="/admin/tickets" { "工单" } " · "
            a href="/admin/ops/sms" { "短信发件箱" } " · "
            @if s.desk.is_some() { a href="/admin/desk" #desk-link { "管局工作台" } " · " }
            a href="/admin/dashboard" { "数据看板" }
        }
        div.card {
            h2 { "政策与入口" }
            form method="post" action="/admin/ops/policy" {
                (h)
                label.field { span { "备案系统开放日期" } input type="text" name="system_open_date" value=(p.system_open_date); }
                label.field { span { "上架门槛日期（此后未备案不得上架）" } input type="text" name="listing_gate_date" value=(p.listing_gate_date); }
                label.field { span { "存量小程序备案截止日期" } input type="text" name="deadline_date" value=(p.deadline_date); }
                label.field { span { "清退日期" } input type="text" name="clearance_date" value=(p.clearance_date); }
                label {
                    input type="checkbox" name="authority_outage" value="1" #outage checked[p.authority_outage];
                    " 管局系统维护中（关闭所有备案入口）"
                }
                label.field {
                    span { "名称关键词限制（每行一个，命中则关闭该小程序的备案入口）" }
                    textarea name="name_keyword_blocklist" { (p.name_keyword_blocklist.join("\n")) }
                }
                label.field { span { "每日备案申请配额（每日10:00重置）" } input type="text" name="daily_apply_quota" value=(p.daily_apply_quota); }
                label.field {
                    span { "主体备案数量上限：个人 / 个体工商户 / 单位" }
                    input type="text" name="cap_personal" value=(p.cap_personal);
                    " "
                    input type="text" name="cap_individual_business" value=(p.cap_individual_business);
                    " "
                    input type="text" name="cap_organisation" value=(p.cap_organisation);
                }
                label.field { span { "平台初审时限（工作日）" } input type="text" name="platform_review_sla_days" value=(p.platform_review_sla_days); }
                button type="submit" #save-policy { "保存政策" }
            }
        }
        @if let Some(sim) = &sim {
            div.card {
                h2 { "管局模拟器" }
                p.muted { "当前时间（模拟器时钟）：" (date(s.svc.now().timestamp())) }
                form method="post" action="/admin/ops/simulator" {
                    (h)
                    label.field { span { "管局审核工作日" } input type="text" name="review_working_days" value=(sim.review_working_days); }
                    label.field {
                        span { "默认结果" }
                        select name="default_outcome" {
                            option value="approve" selected[sim.default_outcome == "approve"] { "通过" }
                            option value="reject" selected[sim.default_outcome == "reject"] { "驳回" }
                        }
                    }
                    label.field { span { "指定结果（每行 appid=approve 或 appid=reject）" } textarea name="forced" { (sim.forced.iter().map(|(a, o)| format!("{a}={o}\n")).collect::<String>()) } }
                    button type="submit" { "保存模拟器设置" }
                }
                form method="post" action="/admin/ops/advance" {
                    (h)
                    label.field { span { "推进时间（小时）" } input type="text" name="hours" value="24"; }
                    button.secondary type="submit" { "推进" }
                }
            }
        } @else {
            div.card {
                h2 { "管局对接" }
                @if s.desk.is_some() {
                    p { "报送方式：人工工作台。每个报送在 " a href="/admin/desk" { "管局工作台" } " 生成待办，由运营人员在管局系统中办理并登记结果。" }
                } @else {
                    p { "报送方式：由配置的网关自动报送管局。" }
                }
            }
        }
    };
    layout("运营设置", Some((&staff, &csrf)), body).into_response()
}

pub async fn save_policy(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (staff, csrf, f) = posted!(s, headers, body);
    let mut p = (*s.svc.policy()).clone();
    let date_of = |k: &str| get(&f, k).trim().parse::<chrono::NaiveDate>();
    let num = |k: &str| get(&f, k).trim().parse::<u32>();
    match (
        date_of("system_open_date"),
        date_of("listing_gate_date"),
        date_of("deadline_date"),
        date_of("clearance_date"),
    ) {
        (Ok(a), Ok(b), Ok(c), Ok(d)) => {
            p.system_open_date = a;
            p.listing_gate_date = b;
            p.deadline_date = c;
            p.clearance_date = d;
        }
        _ => {
            return fail(
                &staff,
                &csrf,
                ServiceError::refused(beian_core::errcode::INVALID_INPUT, "日期格式应为 YYYY-MM-DD"),
            )
        }
    }
    match (
        num("daily_apply_quota"),
        num("cap_personal"),
        num("cap_individual_business"),
        num("cap_organisation"),
        num("platform_review_sla_days"),
    ) {
        (Ok(q), Ok(a), Ok(b), Ok(c), Ok(d)) => {
            p.daily_apply_quota = q;
            p.cap_personal = a;
            p.cap_individual_business = b;
            p.cap_organisation = c;
            p.platform_review_sla_days = d;
        }
        _ => {
            return fail(
                &staff,
                &csrf,
                ServiceError::refused(beian_core::errcode::INVALID_INPUT, "配额、上限和时限须为非负整数"),
            )
        }
    }
    p.authority_outage = get(&f, "authority_outage") == "1";
    p.name_keyword_blocklist = get(&f, "name_keyword_blocklist")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    match s.svc.set_policy(&actor(&staff), p).await {
        Ok(()) => Redirect::to("/admin/ops").into_response(),
        Err(e) => fail(&staff, &csrf, e),
    }
}

pub async fn save_simulator(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (staff, csrf, f) = posted!(s, headers, body);
    // Edited and saved back: a failed read must not turn into defaults written over them.
    let Some(simulator) = &s.sim else { return StatusCode::NOT_FOUND.into_response() };
    let mut sim = match simulator.settings().await {
        Ok(x) => x,
        Err(e) => return fail(&staff, &csrf, sim_error(e)),
    };
    sim.review_working_days =
        get(&f, "review_working_days").trim().parse().unwrap_or(sim.review_working_days);
    sim.default_outcome = get(&f, "default_outcome").to_string();
    sim.forced = get(&f, "forced")
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(a, o)| (a.trim().to_string(), o.trim().to_string()))
        .filter(|(a, _)| !a.is_empty())
        .collect();
    match simulator.set_settings(&actor(&staff).0, &sim).await {
        Ok(()) => Redirect::to("/admin/ops").into_response(),
        Err(e) => fail(&staff, &csrf, sim_error(e)),
    }
}

pub async fn advance(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if s.sim.is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let (staff, csrf, f) = posted!(s, headers, body);
    let hours: i64 = get(&f, "hours").trim().parse().unwrap_or(0);
    if !(1..=24 * 366).contains(&hours) {
        return fail(
            &staff,
            &csrf,
            ServiceError::refused(beian_core::errcode::INVALID_INPUT, "请填写1到8784之间的小时数"),
        );
    }
    match s.svc.advance_clock(&actor(&staff), chrono::Duration::hours(hours)).await {
        Ok(true) => Redirect::to("/admin/ops").into_response(),
        Ok(false) => fail(
            &staff,
            &csrf,
            ServiceError::refused(
                beian_core::errcode::INVALID_INPUT,
                "当前时钟不可调整（仅 demo 或 --simulated-clock 时可以）",
            ),
        ),
        Err(e) => fail(&staff, &csrf, e),
    }
}

pub async fn providers(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let (staff, csrf) = operator!(s, headers);
    let list = match s.svc.providers().list_providers().await {
        Ok(x) => x,
        Err(e) => return fail(&staff, &csrf, e),
    };
    let h = hidden(&csrf);
    let body = html! {
        div.card {
            h1 { "服务商" }
            table {
                tr { th { "服务商" } th { "授权事件接收URL" } th {} }
                @for p in &list {
                    tr {
                        td { (p.name) br; small.muted { (p.component_appid) } }
                        td {
                            form method="post" action={ "/admin/ops/providers/" (p.component_appid) "/url" } {
                                (h)
                                input type="text" name="event_url" value=(p.event_url);
                                button.secondary type="submit" { "保存" }
                            }
                        }
                        td {
                            form method="post" action={ "/admin/ops/providers/" (p.component_appid) "/rotate" } {
                                (h)
                                button.secondary type="submit" { "重置密钥" }
                            }
                        }
                    }
                }
            }
        }
        div.card {
            h2 { "新建服务商" }
            form method="post" action="/admin/ops/providers" {
                (h)
                label.field { span { "名称" } input type="text" name="name" required; }
                label.field { span { "授权事件接收URL" } input type="text" name="event_url" required; }
                button type="submit" { "创建" }
            }
        }
    };
    layout("服务商", Some((&staff, &csrf)), body).into_response()
}

pub async fn create_provider(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (staff, csrf, f) = posted!(s, headers, body);
    match s.svc.providers().create_provider(&actor(&staff), get(&f, "name"), get(&f, "event_url")).await {
        Ok(c) => layout(
            "服务商已创建",
            Some((&staff, &csrf)),
            html! {
                div.ok-box { "服务商已创建。以下密钥只显示这一次，请立即交给服务商：" }
                table {
                    tr { th { "component_appid" } td { (c.component_appid) } }
                    tr { th { "component_appsecret" } td { (c.component_appsecret) } }
                    tr { th { "Token" } td { (c.token) } }
                    tr { th { "EncodingAESKey" } td { (c.encoding_aes_key) } }
                }
                p { a href="/admin/ops/providers" { "返回" } }
            },
        )
        .into_response(),
        Err(e) => fail(&staff, &csrf, e),
    }
}

pub async fn rotate_provider(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let (staff, csrf, _) = posted!(s, headers, body);
    match s.svc.providers().rotate_provider_secret(&actor(&staff), &id).await {
        Ok(secret) => layout(
            "密钥已重置",
            Some((&staff, &csrf)),
            html! {
                div.ok-box { "新的 component_appsecret（只显示一次）：" code { (secret) } }
                p { a href="/admin/ops/providers" { "返回" } }
            },
        )
        .into_response(),
        Err(e) => fail(&staff, &csrf, e),
    }
}

pub async fn provider_url(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let (staff, csrf, f) = posted!(s, headers, body);
    match s.svc.providers().set_provider_event_url(&actor(&staff), &id, get(&f, "event_url")).await {
        Ok(()) => Redirect::to("/admin/ops/providers").into_response(),
        Err(e) => fail(&staff, &csrf, e),
    }
}

pub async fn reasons(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let (staff, csrf) = operator!(s, headers);
    let list = match s.svc.review().reasons().await {
        Ok(x) => x,
        Err(e) => return fail(&staff, &csrf, e),
    };
    let body = html! {
        div.card {
            h1 { "驳回原因库" }
            p.muted { "字段名称 · 驳回原因 · 修改建议" }
            table {
                @for r in &list {
                    tr {
                        td {
                            form method="post" action="/admin/ops/reasons" {
                                (hidden(&csrf))
                                input type="hidden" name="id" value=(r.id);
                                input type="text" name="key_name" value=(r.key_name);
                                " "
                                input type="text" name="error" value=(r.error);
                                " "
                                input type="text" name="suggest" value=(r.suggest);
                                label { input type="checkbox" name="active" value="1" checked[r.active]; " 启用" }
                                " "
                                button.secondary type="submit" { "保存" }
                            }
                        }
                    }
                }
            }
        }
        div.card {
            h2 { "新增原因" }
            form method="post" action="/admin/ops/reasons" {
                (hidden(&csrf))
                input type="hidden" name="id" value="0";
                input type="hidden" name="active" value="1";
                label.field { span { "字段名称" } input type="text" name="key_name" required; }
                label.field { span { "驳回原因" } input type="text" name="error" required; }
                label.field { span { "修改建议" } input type="text" name="suggest"; }
                button type="submit" { "新增" }
            }
        }
    };
    layout("驳回原因库", Some((&staff, &csrf)), body).into_response()
}

pub async fn save_reason(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (staff, csrf, f) = posted!(s, headers, body);
    let r = Reason {
        id: get(&f, "id").parse().unwrap_or(0),
        key_name: get(&f, "key_name").trim().into(),
        error: get(&f, "error").trim().into(),
        suggest: get(&f, "suggest").trim().into(),
        active: get(&f, "active") == "1",
    };
    match s.svc.review().save_reason(&actor(&staff), &r).await {
        Ok(_) => Redirect::to("/admin/ops/reasons").into_response(),
        Err(e) => fail(&staff, &csrf, e),
    }
}

pub async fn dictionaries(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let (staff, csrf) = operator!(s, headers);
    let dict = s.svc.dictionaries();
    let body = html! {
        h1 { "字典" }
        p.muted { "每次发布保存为新版本（旧版本保留），整体校验通过才生效。区县字典来自统计局数据包，请用 scripts/gen-districts 更新。" }
        @for k in DictKind::ALL.iter().filter(|k| **k != DictKind::Districts) {
            div.card {
                h2 { (k.as_str()) }
                form method="post" action="/admin/ops/dictionaries" {
                    (hidden(&csrf))
                    input type="hidden" name="kind" value=(k.as_str());
                    textarea name="json" rows="8" { (dict.kind_json(*k)) }
                    p { button.secondary type="submit" { "发布新版本" } }
                }
            }
        }
    };
    layout("字典", Some((&staff, &csrf)), body).into_response()
}

pub async fn publish_dictionary(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (staff, csrf, f) = posted!(s, headers, body);
    let Some(kind) = DictKind::parse(get(&f, "kind")) else {
        return fail(&staff, &csrf, ServiceError::refused(beian_core::errcode::INVALID_INPUT, "未知的字典"));
    };
    match s.svc.update_dictionary(&actor(&staff), kind, get(&f, "json")).await {
        Ok(v) => layout(
            "已发布",
            Some((&staff, &csrf)),
            html! {
                div.ok-box { (kind.as_str()) " 已发布为第" (v) "版。" }
                p { a href="/admin/ops/dictionaries" { "返回" } }
            },
        )
        .into_response(),
        Err(e) => fail(&staff, &csrf, e),
    }
}

pub async fn calendar(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let (staff, csrf) = operator!(s, headers);
    let status = s.svc.operations().calendar_status();
    let gap = s.svc.operations().calendar_gap();
    let next_year = beian_core::time::beijing_date(s.svc.now()).year() + 1;
    let body = html! {
        h1 { "工作日历" }
        p.muted {
            "截止日期（平台初审时限、管局审核时长）按工作日计算。每年的法定节假日和调休以国务院办公厅的放假安排为准，"
            "文件格式与 holiday-cn 相同：{\"year\": 2027, \"days\": [{\"name\": \"元旦\", \"date\": \"2027-01-01\", \"isOffDay\": true}, …]}，"
            "isOffDay 为 false 的日期是调休上班日（必须是周六或周日）。上传的文件替换该年份的内置数据和数据目录中的文件，保存为新版本（旧版本保留），"
            "在本节点立即生效，其他节点在下次重新加载时（每分钟）生效。没有数据的年份按周一至周五计算。"
        }
        @if let Some(gap) = &gap {
            (error_box(&gap.message()))
        }
        div.card {
            h2 { "已加载的年份" }
            table {
                thead { tr { th { "年份" } th { "来源" } th { "日期数" } } }
                tbody {
                    @for y in &status.years {
                        tr { td { (y.year) } td { (y.source.label()) } td { (y.days) } }
                    }
                }
            }
            @if let Some(dir) = &status.dir {
                p.muted { "数据目录：" (dir) "（文件名为年份，如 2027.json）" }
            }
            @for p in &status.problems {
                (error_box(p))
            }
            form method="post" action="/admin/ops/calendar/reload" {
                (hidden(&csrf))
                button.secondary type="submit" #reload-calendar { "重新加载" }
            }
        }
        div.card {
            h2 { "上传某年的放假安排" }
            form method="post" action="/admin/ops/calendar" enctype="multipart/form-data" {
                (hidden(&csrf))
                label.field { span { "年份" } input type="number" name="year" value=(next_year) min="2000" max="2100" required; }
                label.field { span { "文件（holiday-cn 格式的 JSON，如 2027.json）" } input type="file" name="file" accept=".json,application/json"; }
                label.field { span { "或粘贴 JSON" } textarea name="json" rows="6" {} }
                button type="submit" #upload-calendar { "上传并生效" }
            }
        }
    };
    layout("工作日历", Some((&staff, &csrf)), body).into_response()
}

/// The upload form's fields: the CSRF token and the year as text, the file's bytes.
async fn calendar_fields(mut m: Multipart) -> Result<(Vec<(String, String)>, Vec<u8>), String> {
    let mut fields = Vec::new();
    let mut file = Vec::new();
    while let Some(field) = m.next_field().await.map_err(|e| format!("表单无法读取：{e}"))? {
        let name = field.name().unwrap_or("").to_string();
        let bytes = field.bytes().await.map_err(|e| format!("表单无法读取：{e}"))?;
        match name.as_str() {
            "file" => file = bytes.to_vec(),
            "_csrf" | "year" | "json" => {
                fields.push((name, String::from_utf8_lossy(&bytes).into_owned()));
            }
            _ => {}
        }
    }
    Ok((fields, file))
}

/// The most of a body that is not the upload form read before answering (axum's default).
const OTHER_BODY_LIMIT: usize = 2 * 1024 * 1024;

pub async fn upload_calendar(State(s): State<AppState>, req: Request) -> Response {
    let headers = req.headers().clone();
    let (staff, csrf) = operator!(s, headers);
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let (f, file) = if !multipart {
        // Not this page's form, so no token can be read from it: refused below. The body is
        // read first so the client gets the answer, not a reset connection.
        let _ = axum::body::to_bytes(req.into_body(), OTHER_BODY_LIMIT).await;
        (Vec::new(), Vec::new())
    } else {
        let read = match Multipart::from_request(req, &()).await {
            Ok(m) => calendar_fields(m).await,
            Err(e) => Err(format!("表单无法读取：{e}")),
        };
        match read {
            Ok(x) => x,
            Err(msg) => {
                return fail(&staff, &csrf, ServiceError::refused(beian_core::errcode::INVALID_INPUT, msg))
            }
        }
    };
    if let Err(r) = check_csrf(&staff, &csrf, &f) {
        return r;
    }
    let refused =
        |msg: &str| fail(&staff, &csrf, ServiceError::refused(beian_core::errcode::INVALID_INPUT, msg));
    let Ok(year) = get(&f, "year").trim().parse::<i32>() else {
        return refused("请填写年份，如 2027");
    };
    let text = if file.is_empty() {
        get(&f, "json").to_string()
    } else {
        match String::from_utf8(file) {
            Ok(t) => t,
            Err(_) => return refused("文件不是 UTF-8 编码的文本，请上传 holiday-cn 格式的 JSON 文件"),
        }
    };
    if text.trim().is_empty() {
        return refused("请选择文件或粘贴 JSON");
    }
    match s.svc.operations().upload_calendar_year(&actor(&staff), year, &text).await {
        Ok(v) => layout(
            "已上传",
            Some((&staff, &csrf)),
            html! {
                div.ok-box { (year) "年的放假安排已保存为第" (v) "版，已生效。" }
                p { a href="/admin/ops/calendar" { "返回" } }
            },
        )
        .into_response(),
        Err(e) => fail(&staff, &csrf, e),
    }
}

pub async fn reload_calendar(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (staff, csrf, _f) = posted!(s, headers, body);
    match s.svc.operations().reload_calendar().await {
        Ok(()) => Redirect::to("/admin/ops/calendar").into_response(),
        Err(e) => fail(&staff, &csrf, e),
    }
}

pub async fn jobs(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let (staff, csrf) = operator!(s, headers);
    let stats = match s.svc.job_queue().job_stats().await {
        Ok(x) => x,
        Err(e) => return fail(&staff, &csrf, e),
    };
    let dead = match s.svc.job_queue().jobs(Some(JobState::Dead), 100).await {
        Ok(x) => x,
        Err(e) => return fail(&staff, &csrf, e),
    };
    let h = hidden(&csrf);
    let body = html! {
        div.card {
            h1 { "任务队列" }
            table {
                tr { th { "状态" } th { "数量" } th { "最早执行时间" } }
                @for (st, n, oldest) in &stats { tr { td { (st) } td { (n) } td { (date(*oldest)) } } }
            }
        }
        div.card {
            h2 { "死信" }
            table #dead {
                tr { th { "任务" } th { "类型" } th { "尝试次数" } th { "最后错误" } th {} }
                @for j in &dead {
                    tr {
                        td { "#" (j.id) }
                        td { (j.kind) }
                        td { (j.attempts) }
                        td { (j.last_error.as_deref().unwrap_or("")) }
                        td {
                            form method="post" action={ "/admin/ops/jobs/" (j.id) "/retry" } {
                                (h)
                                button.secondary type="submit" { "重试" }
                            }
                            form method="post" action={ "/admin/ops/jobs/" (j.id) "/discard" } {
                                (h)
                                button.secondary type="submit" { "丢弃" }
                            }
                        }
                    }
                }
            }
        }
    };
    layout("任务队列", Some((&staff, &csrf)), body).into_response()
}

pub async fn job_action(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((id, action)): Path<(i64, String)>,
    body: Bytes,
) -> Response {
    let (staff, csrf, _) = posted!(s, headers, body);
    let r = match action.as_str() {
        "retry" => s.svc.job_queue().retry_dead_job(id).await,
        "discard" => s.svc.job_queue().discard_dead_job(&actor(&staff), id).await,
        _ => Ok(false),
    };
    match r {
        Ok(true) => Redirect::to("/admin/ops/jobs").into_response(),
        Ok(false) => fail(
            &staff,
            &csrf,
            ServiceError::refused(beian_core::errcode::WRONG_REVIEW_STATE, "只能处理死信中的任务"),
        ),
        Err(e) => fail(&staff, &csrf, e),
    }
}

pub async fn audit(State(s): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let (staff, csrf) = operator!(s, headers);
    let needle = q
        .as_deref()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("q=")))
        .map(crate::auth::decode)
        .unwrap_or_default();
    let list = match s.svc.operations().search_audit(&needle, 200).await {
        Ok(x) => x,
        Err(e) => return fail(&staff, &csrf, e),
    };
    let body = html! {
        div.card {
            h1 { "审计日志" }
            form method="get" action="/admin/ops/audit" {
                input type="text" name="q" value=(needle) placeholder="AppID、操作人（如 reviewer:xxx）或操作（如 platform_reject）";
                " "
                button.secondary type="submit" { "搜索" }
            }
            table #audit {
                tr { th { "时间" } th { "操作人" } th { "对象" } th { "操作" } th { "详情" } }
                @for e in &list {
                    tr {
                        td data-label="时间" { (date(e.at)) }
                        td data-label="操作人" { (e.actor) }
                        td data-label="对象" { (e.entity) "/" (e.entity_id) }
                        td data-label="操作" { (e.action) }
                        td data-label="详情" { small { (e.detail.to_string()) } }
                    }
                }
            }
        }
    };
    layout("审计日志", Some((&staff, &csrf)), body).into_response()
}

pub async fn tickets(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let (staff, csrf) = operator!(s, headers);
    let list = match s.svc.accounts().tickets(None).await {
        Ok(x) => x,
        Err(e) => return fail(&staff, &csrf, e),
    };
    let body = html! {
        div.card {
            h1 { "工单" }
            table {
                @for t in &list {
                    tr {
                        td { a href={ "/admin/tickets/" (t.id) } { "#" (t.id) " " (t.title) } }
                        td { (t.appid) }
                        td { (t.state_label()) }
                        td { (date(t.updated_at)) }
                    }
                }
            }
        }
    };
    layout("工单", Some((&staff, &csrf)), body).into_response()
}

pub async fn ticket(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    let (staff, csrf) = operator!(s, headers);
    let Ok(Some((t, msgs))) = s.svc.accounts().ticket(id).await else {
        return fail(&staff, &csrf, ServiceError::refused(beian_core::errcode::INVALID_INPUT, "工单不存在"));
    };
    let body = html! {
        div.card {
            h1 { "#" (t.id) " " (t.title) }
            pre { (t.context) }
            ul {
                @for m in &msgs {
                    li { strong { (m.author) } " " small.muted { (date(m.created_at)) } br; (m.body) }
                }
            }
            form method="post" action={ "/admin/tickets/" (t.id) "/reply" } {
                (hidden(&csrf))
                label.field { span { "回复" } textarea name="body" required {} }
                button type="submit" { "回复开发者" }
            }
        }
    };
    layout("工单", Some((&staff, &csrf)), body).into_response()
}

pub async fn reply(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let (staff, csrf, f) = posted!(s, headers, body);
    match s.svc.accounts().reply_ticket(id, &format!("operator:{}", staff.id), get(&f, "body")).await {
        Ok(()) => Redirect::to(&format!("/admin/tickets/{id}")).into_response(),
        Err(e) => fail(&staff, &csrf, e),
    }
}

/// The development SMS outbox: what the stand-in SMS channel "sent" (demo mode, or
/// `sms_outbox = true`), newest first, optionally for one phone number — where an operator
/// finds a verification code in a simulation.
pub async fn sms(State(s): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let (staff, csrf) = operator!(s, headers);
    let phone = q
        .as_deref()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("phone=")))
        .map(crate::auth::decode)
        .unwrap_or_default();
    let filter = Some(phone.trim()).filter(|p| !p.is_empty());
    let list = match s.svc.job_queue().sms_outbox(filter, 200).await {
        Ok(x) => x,
        Err(e) => return fail(&staff, &csrf, e),
    };
    let body = html! {
        div.card {
            h1 { "短信发件箱" }
            p.muted {
                "开发与演示用的短信替身：这里的短信不会发到手机。配置了短信网关的平台不使用发件箱。"
            }
            form method="get" action="/admin/ops/sms" role="search" {
                label.field {
                    span { "手机号码" }
                    input type="text" name="phone" value=(phone) maxlength="11" placeholder="留空显示全部";
                }
                button.secondary type="submit" { "筛选" }
            }
            @if list.is_empty() {
                p #empty-outbox { "发件箱里没有短信。" }
            } @else {
                table #outbox {
                    tr { th { "时间（北京时间）" } th { "手机号码" } th { "内容" } }
                    @for m in &list {
                        tr {
                            td data-label="时间" { (date(m.created_at)) }
                            td data-label="手机号码" { (m.phone) }
                            td data-label="内容" { (m.text) }
                        }
                    }
                }
            }
        }
    };
    layout("短信发件箱", Some((&staff, &csrf)), body).into_response()
}
