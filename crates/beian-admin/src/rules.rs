//! The rule table's staff page (operators): every row of the current version with its
//! scope, requirement, hint, source and as-of date; the table as JSON to edit or replace
//! (paste an uploaded file's content) and publish as a new version; the JSON download; the
//! list of published versions. Validation errors come back in Chinese naming the row.

use crate::auth::{check_csrf, form, get, require};
use crate::html::{date, hidden, layout};
use crate::ops::fail;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use beian_core::platform::Role;
use beian_service::Actor;
use maud::{html, PreEscaped};

/// How many published versions the page lists.
const HISTORY: i64 = 20;

/// Loads a chosen JSON file into the form's text area (without scripts the operator pastes it).
const LOAD_FILE_SCRIPT: &str = "document.getElementById('rules-file').addEventListener('change',function(e){\
var f=e.target.files[0];if(f){f.text().then(function(t){document.getElementById('rules-json').value=t;});}});";

pub async fn page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let (staff, csrf) = match require(&s, &headers, Role::Operator).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let table = s.svc.rule_table();
    let dict = s.svc.dictionaries();
    let history = match s.svc.rule_table_history(HISTORY).await {
        Ok(h) => h,
        Err(e) => return fail(&staff, &csrf, e),
    };
    let body = html! {
        h1 { "规则表（第" (table.version()) "版）" }
        p.muted {
            "各省管局要求与前置审批的规则行。每行的提示会显示在申请人对应字段旁；修改后发布为新版本，"
            "只对此后提交的备案申请生效，已提交的申请保持提交时检查所用的版本。说明见 docs/rules.md。"
        }
        div.card {
            table #rules {
                tr {
                    th { "ID" } th { "范围" } th { "主体" } th { "要求" } th { "提示" } th { "来源" } th { "截至" }
                }
                @for r in table.rows() {
                    tr {
                        td { code { (r.id) } }
                        td { (r.scope_label(&dict)) }
                        td { (r.subjects.label()) }
                        td { (r.require.describe(&dict)) }
                        td { small { (r.hint) } }
                        td.source { small { (r.source) } }
                        td.as-of { (r.as_of.format("%Y-%m-%d").to_string()) }
                    }
                }
            }
        }
        div.card {
            h2 { "发布新版本" }
            p.muted { "编辑下面的 JSON（规则行数组），或选择 JSON 文件整体替换后发布。" a href="/admin/ops/rules.json" { "下载当前版本" } }
            form method="post" action="/admin/ops/rules" {
                (hidden(&csrf))
                label.field { span { "上传 JSON 文件" } input type="file" #rules-file accept="application/json,.json"; }
                textarea #rules-json name="json" rows="24" { (table.to_json()) }
                p { button type="submit" #publish-rules { "发布新版本" } }
            }
            script { (PreEscaped(LOAD_FILE_SCRIPT)) }
        }
        div.card {
            h2 { "版本记录" }
            table #rule-versions {
                tr { th { "版本" } th { "发布人" } th { "时间" } }
                @for v in &history {
                    tr { td { (v.version) } td { (v.author) } td { (date(v.created_at)) } }
                }
            }
        }
    };
    layout("规则表", Some((&staff, &csrf)), body).into_response()
}

pub async fn publish(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (staff, csrf) = match require(&s, &headers, Role::Operator).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let f = form(&body);
    if let Err(r) = check_csrf(&staff, &csrf, &f) {
        return r;
    }
    match s.svc.publish_rule_table(&Actor::new("operator", &staff.id), get(&f, "json")).await {
        Ok(v) => layout(
            "规则表已发布",
            Some((&staff, &csrf)),
            html! {
                div.ok-box { "规则表已发布为第" (v) "版，此后提交的备案申请按新版本检查。" }
                p { a href="/admin/ops/rules" { "返回规则表" } }
            },
        )
        .into_response(),
        Err(e) => fail(&staff, &csrf, e),
    }
}

/// The current version as a JSON file (what `beian rules export` prints).
pub async fn download(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = require(&s, &headers, Role::Operator).await {
        return r;
    }
    let table = s.svc.rule_table();
    let mut r = table.to_json().into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"rules-v{}.json\"", table.version()))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}
