//! The reviewer's pages: the queue (filters, overdue first, claims, keyboard) and the review
//! page (typed fields beside their materials, rule findings, the diff against the previous
//! submission, the subject's other filings, approve / reject with catalogue reasons).

use crate::auth::{check_csrf, form, get, require};
use crate::html::{date, esc, layout};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use beian_core::errcode;
use beian_core::platform::{Role, Staff};
use beian_service::review::RejectReason;
use beian_service::ServiceError;
use serde_json::Value;

fn q(query: &Option<String>, key: &str) -> String {
    query
        .as_deref()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix(&format!("{key}="))))
        .map(crate::auth::decode)
        .unwrap_or_default()
}

/// The value of a service call, or (returned from the handler) the error page: a failed read
/// is shown to the reviewer, never replaced by an empty default.
macro_rules! or_error_page {
    ($e:expr, $staff:expr, $csrf:expr) => {
        match $e {
            Ok(x) => x,
            Err(e) => return error_page($staff, $csrf, e),
        }
    };
}

fn error_page(staff: &Staff, csrf: &str, e: ServiceError) -> Response {
    let (status, msg) = match e {
        ServiceError::Refused { errcode: code, errmsg } => (
            if code == errcode::CONFLICT || code == errcode::WRONG_REVIEW_STATE {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            },
            errmsg,
        ),
        other => {
            tracing::error!("admin: {other}");
            (StatusCode::SERVICE_UNAVAILABLE, "系统繁忙，请稍后再试".into())
        }
    };
    (
        status,
        layout(
            "操作未完成",
            Some((staff, csrf)),
            &format!(
                "<div class=error-box role=alert>{}</div><p><a href=/admin>返回审核队列</a></p>",
                esc(&msg)
            ),
        ),
    )
        .into_response()
}

/// The review queue.
pub async fn queue(State(s): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let (staff, csrf) = match require(&s, &headers, Role::Reviewer).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (status_f, prov_f, type_f, overdue_f) =
        (q(&query, "status"), q(&query, "province"), q(&query, "subject_type"), q(&query, "overdue"));
    let items = or_error_page!(s.svc.review().review_queue(1000).await, &staff, &csrf);
    let dict = s.svc.dictionaries();
    let rows: String = items
        .iter()
        .filter(|i| status_f.is_empty() || i.status.to_string() == status_f)
        .filter(|i| prov_f.is_empty() || i.province == prov_f)
        .filter(|i| type_f.is_empty() || i.subject_type.to_string() == type_f)
        .filter(|i| overdue_f.is_empty() || i.overdue)
        .enumerate()
        .map(|(n, i)| {
            let prov = i.province.parse().ok().and_then(|c| dict.region_at(1, c)).map(|r| r.name.to_string()).unwrap_or_default();
            // The queue holds orders under platform review and those the SMS window returned.
            let st = if i.status == beian_core::state::FilingState::PlatformReview.status_code() {
                "平台审核中"
            } else {
                "短信核验超时，待平台处理"
            };
            format!(
                "<tr class=row data-n={n} data-href=\"/admin/review/{0}\"><td><a href=\"/admin/review/{0}\">{1}</a><br><small class=muted>{0}</small></td><td>{st}</td><td>{prov}</td><td>{2}</td><td>{3}{4}</td><td>{5}</td></tr>",
                esc(&i.appid),
                esc(&i.name),
                dict.subject_type(i.subject_type).map(|t| esc(&t.name)).unwrap_or_default(),
                i.review_due_at.map(date).unwrap_or_default(),
                if i.overdue { " <span class=badge>已超时</span>" } else { "" },
                i.claimed_by.as_deref().map(esc).unwrap_or_else(|| "—".into())
            )
        })
        .collect();
    let provinces: String = dict
        .districts()
        .iter()
        .map(|p| {
            format!(
                "<option value={}{}>{}</option>",
                p.code,
                if p.code.to_string() == prov_f { " selected" } else { "" },
                esc(&p.name)
            )
        })
        .collect();
    let types: String = dict
        .subject_types()
        .iter()
        .map(|t| {
            format!(
                "<option value={}{}>{}</option>",
                t.type_id,
                if t.type_id.to_string() == type_f { " selected" } else { "" },
                esc(&t.name)
            )
        })
        .collect();
    let body = format!(
        "<div class=card><h1>审核队列</h1>\
         <form method=get action=/admin class=filters><select name=status><option value=\"\">全部状态</option><option value=2{}>平台审核中</option><option value=4{}>短信核验超时</option></select>\
         <select name=province><option value=\"\">全部省份</option>{provinces}</select><select name=subject_type><option value=\"\">全部主体性质</option>{types}</select>\
         <label><input type=checkbox name=overdue value=1{}> 只看超时</label> <button class=secondary type=submit>筛选</button></form>\
         <p class=muted>键盘：j / k 上下选择，Enter 打开。超时的订单排在最前。</p>\
         <table id=queue><tr><th>小程序</th><th>状态</th><th>省份</th><th>主体性质</th><th>初审截止</th><th>认领人</th></tr>{rows}</table></div>\
         <script>(function(){{var rows=[].slice.call(document.querySelectorAll('tr.row'));var i=-1;function mark(){{rows.forEach(function(r,k){{r.style.background=k===i?'#ddf4ff':'';}});}}\
         document.addEventListener('keydown',function(e){{if(e.target.tagName==='INPUT'||e.target.tagName==='SELECT')return;if(e.key==='j'){{i=Math.min(i+1,rows.length-1);mark();}}if(e.key==='k'){{i=Math.max(i-1,0);mark();}}if(e.key==='Enter'&&rows[i]){{location.href=rows[i].dataset.href;}}}});}})();</script>",
        if status_f == "2" { " selected" } else { "" },
        if status_f == "4" { " selected" } else { "" },
        if overdue_f.is_empty() { "" } else { " checked" },
    );
    layout("审核队列", Some((&staff, &csrf)), &body).into_response()
}

/// Flatten an application into (dotted path, value) pairs.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&p, x, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten(&format!("{prefix}.{i}"), x, out);
            }
        }
        Value::Null => {}
        other => {
            let s = match other {
                Value::String(s) => s.clone(),
                x => x.to_string(),
            };
            if !s.is_empty() {
                out.push((prefix.to_string(), s));
            }
        }
    }
}

/// The review page.
pub async fn review_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
) -> Response {
    let (staff, csrf) = match require(&s, &headers, Role::Reviewer).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(Some(view)) = s.svc.filings().order(&appid).await else {
        return error_page(
            &staff,
            &csrf,
            ServiceError::refused(errcode::UNKNOWN_APPID, "该小程序没有备案订单"),
        );
    };
    let current = match or_error_page!(
        s.svc.filings().submitted_version(&appid, view.order.versions).await,
        &staff,
        &csrf
    ) {
        Some(p) => p,
        None => {
            return error_page(
                &staff,
                &csrf,
                ServiceError::Internal(format!(
                    "{appid}: submitted version {} is missing",
                    view.order.versions
                )),
            )
        }
    };
    let previous = if view.order.versions > 1 {
        or_error_page!(
            s.svc.filings().submitted_version(&appid, view.order.versions - 1).await,
            &staff,
            &csrf
        )
    } else {
        None
    };
    let mp_name = or_error_page!(s.svc.mini_programs().mini_program(&appid).await, &staff, &csrf).name;
    let dict = s.svc.dictionaries();

    // Typed fields next to their materials.
    let mut fields = Vec::new();
    flatten("", &serde_json::to_value(&current).unwrap_or(Value::Null), &mut fields);
    let media_ids: Vec<String> = current.media_refs().into_iter().map(|(_, id)| id.to_string()).collect();
    let rows: String = fields
        .iter()
        .map(|(path, value)| {
            let shown = if media_ids.contains(value) {
                format!("<a href=\"/admin/review/{appid}/media/{0}\" target=_blank><img class=preview alt=\"{1}\" src=\"/admin/review/{appid}/media/{0}\"></a>", esc(value), esc(beian_core::rules::label(path)))
            } else {
                esc(value)
            };
            format!("<tr><th>{}<br><small class=muted>{}</small></th><td>{shown}</td></tr>", esc(beian_core::rules::label(path)), esc(path))
        })
        .collect();

    // What the rules say now (time has passed since submission; some findings may be new).
    let findings =
        or_error_page!(s.svc.filings().validate_application(&appid, &current).await, &staff, &csrf);
    let findings: String = findings
        .iter()
        .filter(|h| h.errcode != errcode::SUBJECT_IN_PROGRESS && !h.err_field.is_empty())
        .map(|h| format!("<li>{}：{}</li>", esc(beian_core::rules::label(&h.err_field)), esc(&h.errmsg)))
        .collect();
    let findings = if findings.is_empty() {
        "<p class=muted>规则引擎未发现问题。</p>".to_string()
    } else {
        format!("<ul>{findings}</ul>")
    };

    // The diff against the previous submission.
    let diff = match &previous {
        None => "<p class=muted>首次提交。</p>".to_string(),
        Some(prev) => {
            let mut old = Vec::new();
            flatten("", &serde_json::to_value(prev).unwrap_or(Value::Null), &mut old);
            let mut changed = String::new();
            for (p, v) in &fields {
                match old.iter().find(|(q, _)| q == p) {
                    Some((_, w)) if w == v => {}
                    Some((_, w)) => changed.push_str(&format!(
                        "<tr><th>{}</th><td><del>{}</del><br><ins>{}</ins></td></tr>",
                        esc(beian_core::rules::label(p)),
                        esc(w),
                        esc(v)
                    )),
                    None => changed.push_str(&format!(
                        "<tr><th>{}</th><td><ins>{}</ins></td></tr>",
                        esc(beian_core::rules::label(p)),
                        esc(v)
                    )),
                }
            }
            for (p, w) in &old {
                if !fields.iter().any(|(q, _)| q == p) {
                    changed.push_str(&format!(
                        "<tr><th>{}</th><td><del>{}</del></td></tr>",
                        esc(beian_core::rules::label(p)),
                        esc(w)
                    ));
                }
            }
            if changed.is_empty() {
                "<p class=muted>与上次提交相同。</p>".into()
            } else {
                format!("<table id=diff>{changed}</table>")
            }
        }
    };
    let siblings: String = or_error_page!(s.svc.filings().subject_filings(&appid).await, &staff, &csrf)
        .iter()
        .map(|f| {
            format!(
                "<li>{} <small class=muted>{}</small> 状态 {} {}</li>",
                esc(&f.name),
                esc(&f.appid),
                f.status,
                f.service_record_number.as_deref().map(esc).unwrap_or_default()
            )
        })
        .collect();
    let reasons = or_error_page!(s.svc.review().reasons().await, &staff, &csrf);
    let catalogue: String = reasons
        .iter()
        .filter(|r| r.active)
        .map(|r| format!("<label class=reason><input type=checkbox name=reason_id value={}> <strong>{}</strong>：{} <small class=muted>建议：{}</small></label><br>", r.id, esc(&r.key_name), esc(&r.error), esc(&r.suggest)))
        .collect();
    let field_options: String = beian_core::rules::FIELDS
        .iter()
        .map(|f| format!("<option value=\"{0}\">{0}</option>", esc(beian_core::rules::label(f))))
        .collect();
    let actions = if view.order.state.in_progress() {
        let approve_label =
            if matches!(view.order.state, beian_core::state::FilingState::AuthorityReview { .. }) {
                "重新提交管局（重新发送短信）"
            } else {
                "初审通过，提交管局"
            };
        format!(
            "<div class=card><h2>审核</h2><p>认领人：{}</p>\
             <form method=post action=/admin/review/{appid}/claim><input type=hidden name=_csrf value=\"{csrf}\"><input type=hidden name=version value={v}><button class=secondary type=submit id=claim>认领</button></form>\
             <form method=post action=/admin/review/{appid}/approve><input type=hidden name=_csrf value=\"{csrf}\"><input type=hidden name=version value={v}><button type=submit id=approve>{approve_label}</button></form>\
             <form method=post action=/admin/review/{appid}/reject id=reject-form><input type=hidden name=_csrf value=\"{csrf}\"><input type=hidden name=version value={v}>\
             <h3>驳回原因（从原因库选择）</h3>{catalogue}\
             <h3>或填写原因</h3><datalist id=field-names>{field_options}</datalist>\
             <label class=field><span>字段</span><input type=text name=key_name list=field-names></label>\
             <label class=field><span>原因</span><input type=text name=error></label>\
             <label class=field><span>修改建议</span><input type=text name=suggest></label>\
             <button class=danger type=submit id=reject>驳回</button></form></div>",
            view.order.claimed_by.as_deref().map(esc).unwrap_or_else(|| "未认领".into()),
            v = view.order.row_version,
        )
    } else {
        String::new()
    };
    let body = format!(
        "<h1>{} <small class=muted>{}</small></h1><p>状态：{} · 第{}次提交</p>\
         <div class=card><h2>规则引擎检查</h2>{findings}</div>\
         <div class=card><h2>与上次提交的差异</h2>{diff}</div>\
         <div class=card><h2>该主体的其他备案</h2><ul>{}</ul></div>{actions}\
         <div class=card><h2>申请信息与材料</h2><table id=fields>{rows}</table></div>",
        esc(&mp_name),
        esc(&appid),
        view.status,
        view.order.versions,
        if siblings.is_empty() { "<li class=muted>无</li>".into() } else { siblings },
    );
    let _ = &dict;
    layout("审核", Some((&staff, &csrf)), &body).into_response()
}

fn version(f: &[(String, String)]) -> Option<i64> {
    get(f, "version").parse().ok()
}

pub async fn claim(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    body: Bytes,
) -> Response {
    let (staff, csrf) = match require(&s, &headers, Role::Reviewer).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let f = form(&body);
    if let Err(r) = check_csrf(&staff, &csrf, &f) {
        return r;
    }
    match s.svc.review().claim(&staff, &appid, false).await {
        Ok(_) => Redirect::to(&format!("/admin/review/{appid}")).into_response(),
        Err(e) => error_page(&staff, &csrf, e),
    }
}

pub async fn approve(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    body: Bytes,
) -> Response {
    let (staff, csrf) = match require(&s, &headers, Role::Reviewer).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let f = form(&body);
    if let Err(r) = check_csrf(&staff, &csrf, &f) {
        return r;
    }
    match s.svc.review().review_approve(&staff, &appid, version(&f)).await {
        Ok(_) => Redirect::to("/admin").into_response(),
        Err(e) => error_page(&staff, &csrf, e),
    }
}

pub async fn reject(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    body: Bytes,
) -> Response {
    let (staff, csrf) = match require(&s, &headers, Role::Reviewer).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let f = form(&body);
    if let Err(r) = check_csrf(&staff, &csrf, &f) {
        return r;
    }
    let mut reasons: Vec<RejectReason> = f
        .iter()
        .filter(|(k, _)| k == "reason_id")
        .filter_map(|(_, v)| v.parse().ok())
        .map(|id| RejectReason { reason_id: Some(id), ..RejectReason::default() })
        .collect();
    if !get(&f, "key_name").trim().is_empty() || !get(&f, "error").trim().is_empty() {
        reasons.push(RejectReason {
            reason_id: None,
            key_name: get(&f, "key_name").into(),
            error: get(&f, "error").into(),
            suggest: get(&f, "suggest").into(),
        });
    }
    match s.svc.review().review_reject(&staff, &appid, reasons, version(&f)).await {
        Ok(_) => Redirect::to("/admin").into_response(),
        Err(e) => error_page(&staff, &csrf, e),
    }
}

pub async fn media(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((appid, media_id)): Path<(String, String)>,
) -> Response {
    if require(&s, &headers, Role::Reviewer).await.is_err() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match s.svc.materials().get_media(&appid, &media_id).await {
        Ok((meta, bytes)) => ([(header::CONTENT_TYPE, meta.content_type)], bytes).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
