//! `/openapi.json` (OpenAPI 3.0 description of the WeChat-compatible API) and `/docs/api`.

use crate::AppState;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use serde_json::{json, Value};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi_json)).route("/docs/api", get(docs_page))
}

async fn openapi_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json; charset=UTF-8")], document().to_string())
}

/// (method, path, summary, body kind, token parameter)
pub const ENDPOINTS: &[(&str, &str, &str, &str, &str)] = &[
    ("post", "/cgi-bin/component/api_component_token", "获取第三方平台 component_access_token", "json", ""),
    (
        "post",
        "/cgi-bin/component/api_create_preauthcode",
        "获取预授权码 pre_auth_code",
        "json",
        "component_access_token",
    ),
    ("post", "/cgi-bin/component/api_query_auth", "使用授权码获取授权信息", "json", "component_access_token"),
    (
        "post",
        "/cgi-bin/component/api_authorizer_token",
        "获取/刷新授权方接口调用令牌",
        "json",
        "component_access_token",
    ),
    (
        "post",
        "/cgi-bin/component/beian_get_event_config",
        "beian 扩展：查询事件接收URL与订阅",
        "json",
        "component_access_token",
    ),
    (
        "post",
        "/cgi-bin/component/beian_set_event_config",
        "beian 扩展：设置事件接收URL与订阅",
        "json",
        "component_access_token",
    ),
    ("post", "/wxa/icp/create_icp_verifytask", "发起小程序管理员人脸核身", "json", "access_token"),
    ("post", "/wxa/icp/query_icp_verifytask", "查询人脸核身任务状态", "json", "access_token"),
    ("post", "/wxa/icp/upload_icp_media", "上传小程序备案媒体材料", "multipart", "access_token"),
    ("get", "/wxa/icp/get_icp_media", "获取小程序备案媒体材料", "none", "access_token"),
    ("post", "/wxa/icp/apply_icp_filing", "申请小程序备案", "json", "access_token"),
    ("post", "/wxa/icp/cancel_apply_icp_filing", "撤回小程序备案申请", "none", "access_token"),
    ("post", "/wxa/icp/cancel_icp_filing", "注销小程序备案", "json", "access_token"),
    ("get", "/wxa/icp/get_icp_entrance_info", "获取小程序备案状态及驳回原因", "none", "access_token"),
    ("get", "/wxa/icp/get_online_icp_order", "获取小程序已备案详情", "none", "access_token"),
    ("get", "/wxa/icp/query_icp_service_content_types", "获取小程序服务内容类型", "none", "access_token"),
    ("get", "/wxa/icp/query_icp_certificate_types", "获取证件类型", "none", "access_token"),
    ("get", "/wxa/icp/query_icp_district_code", "获取区域信息", "none", "access_token"),
    ("get", "/wxa/icp/query_icp_nrlx_types", "获取前置审批项类型", "none", "access_token"),
    ("get", "/wxa/icp/query_icp_subject_types", "获取单位性质", "none", "access_token"),
    (
        "post",
        "/wxa/sec/submit_auth_and_icp",
        "申请小程序认证及备案（beian 不支持，返回 86918）",
        "json",
        "access_token",
    ),
    (
        "post",
        "/wxa/sec/query_auth_and_icp",
        "查询小程序认证及备案进度（beian 不支持，返回 86918）",
        "json",
        "access_token",
    ),
];

pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for (method, path, summary, body, token) in ENDPOINTS {
        let mut op = json!({
            "summary": summary,
            "responses": { "200": {
                "description": "Always HTTP 200: `errcode` 0 on success, otherwise an error code (see /docs/api and docs/errcodes.md). get_icp_media answers raw bytes on success.",
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/WxResult" } } }
            }}
        });
        let mut params = Vec::new();
        if !token.is_empty() {
            params.push(
                json!({ "name": token, "in": "query", "required": true, "schema": { "type": "string" } }),
            );
        }
        if *path == "/wxa/icp/get_icp_media" {
            params.push(json!({ "name": "media_id", "in": "query", "required": true, "schema": { "type": "string" } }));
            op["responses"]["200"]["content"]["image/jpeg"] =
                json!({ "schema": { "type": "string", "format": "binary" } });
            op["responses"]["200"]["content"]["video/mp4"] =
                json!({ "schema": { "type": "string", "format": "binary" } });
        }
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        match *body {
            "json" => {
                op["requestBody"] = json!({ "required": false, "content": { "application/json": { "schema": { "type": "object", "additionalProperties": true } } } });
            }
            "multipart" => {
                op["requestBody"] = json!({ "required": true, "content": { "multipart/form-data": { "schema": {
                    "type": "object", "required": ["media"],
                    "properties": {
                        "type": { "type": "string", "enum": ["image", "video"] },
                        "certificate_type": { "type": "string" },
                        "icp_order_field": { "type": "string" },
                        "media": { "type": "string", "format": "binary" }
                    }
                } } } });
            }
            _ => {}
        }
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[*method] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "beian — WeChat-compatible ICP filing API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Wire-compatible with WeChat's third-party-platform mini program filing API (/wxa/icp/*). Change only the host of an existing SDK."
        },
        "paths": paths,
        "components": { "schemas": {
            "WxResult": {
                "type": "object",
                "properties": {
                    "errcode": { "type": "integer" },
                    "errmsg": { "type": "string" },
                    "hints": { "type": "array", "items": { "$ref": "#/components/schemas/Hint" } }
                },
                "additionalProperties": true
            },
            "Hint": {
                "type": "object",
                "properties": { "errcode": { "type": "integer" }, "errmsg": { "type": "string" }, "err_field": { "type": "string" } }
            }
        }}
    })
}

/// The events pushed to providers: (InfoType, WeChat's own, what it says).
const EVENTS: &[(&str, bool, &str)] = &[
    ("component_verify_ticket", true, "每10分钟推送的验证票据"),
    ("authorized / updateauthorized / unauthorized", true, "授权、更新授权、取消授权"),
    ("notify_icpfiling_verify_result", true, "人脸核身结果（result：2 失败，3 成功）"),
    ("notify_apply_icpfiling_result", true, "备案结果（beian_status：3 平台驳回，5 管局驳回，6 已备案）"),
    (
        beian_core::plan::CHANGE_RESULT_EVENT,
        false,
        "变更备案结果：beian_status 为备案本身的状态（6，变更期间不变），change_status：3 平台驳回，5 管局驳回，6 变更通过（以变更后的信息为准）。进行中的变更另见 get_icp_entrance_info 的扩展字段 change",
    ),
];

async fn docs_page() -> Markup {
    crate::pages::page(
        "接口文档",
        html! {
            h1 { "服务商接口（兼容微信 /wxa/icp/*）" }
            p {
                "现有 SDK 只需把接口域名改为本平台地址。所有 JSON 接口均返回 HTTP 200，以 " code { "errcode" } " 判断结果；"
                "机器可读描述见 " a href="/openapi.json" { "/openapi.json" } "。"
            }
            table {
                tr { th { "接口" } th { "说明" } th { "令牌参数" } }
                @for (m, p, s, _, t) in ENDPOINTS {
                    tr { td { code { (m.to_uppercase()) " " (p) } } td { (s) } td { (t) } }
                }
            }
            h2 { "推送事件" }
            p { "推送到授权事件接收URL，格式与微信相同（AES 加密的 XML，带 " code { "msg_signature" } "），接收方回复 " code { "success" } " 前按退避重试。" }
            table #events {
                tr { th { "InfoType" } th { "来源" } th { "说明" } }
                @for (name, wechat, what) in EVENTS {
                    tr { td { code { (name) } } td { @if *wechat { "微信" } @else { "beian 扩展" } } td { (what) } }
                }
            }
            h2 { "错误码" }
            table {
                tr { th { "errcode" } th { "来源" } th { "默认 errmsg" } }
                @for c in beian_core::errcode::TABLE {
                    tr {
                        td { (c.code) }
                        td { @if c.origin == beian_core::errcode::Origin::WeChat { "微信" } @else { "beian 扩展" } }
                        td { (c.errmsg) }
                    }
                }
            }
        },
    )
}
