//! Reading the two request bodies that carry the most untrusted structure — the apply body
//! (JSON) and the upload (multipart) — exactly as the handlers do. Public so the fuzz targets
//! (`crates/beian-fuzz`, `fuzz/`) run the same code; no token, store or clock is involved.

use crate::wire::{err, json_body, num_field, query_map, str_field, WxJson};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, StatusCode};
use beian_core::errcode;
use beian_core::payload::ApplyPayload;
use beian_service::MediaUpload;
use serde_json::Value;

/// The apply_icp_filing body as an application: tolerant JSON (any or no Content-Type), an
/// empty object is 44002, anything that is not an application 47001.
pub fn apply_body(body: &[u8]) -> Result<ApplyPayload, WxJson> {
    let v = json_body(body)?;
    if v.as_object().is_some_and(|m| m.is_empty()) {
        return Err(err(
            errcode::EMPTY_POST_DATA,
            "empty post data: 请提交备案信息（icp_subject、icp_applets、icp_materials）",
        ));
    }
    serde_json::from_value(v).map_err(|e| err(errcode::DATA_FORMAT_ERROR, &format!("data format error: {e}")))
}

/// The upload_icp_media request as an upload: multipart/form-data with the file in `media`;
/// the other fields (`type`, `certificate_type`, `icp_order_field`) from the form or, as some
/// SDKs send them, the query string (`query`, without `access_token`). The bytes are not
/// looked at here: `beian_service::media::check_upload` does that.
pub async fn upload(query: Option<&str>, req: Request) -> Result<MediaUpload, WxJson> {
    let mut fields = query_map(query);
    fields.remove("access_token");
    let mut bytes: Option<Vec<u8>> = None;
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        return Err(err(
            errcode::MEDIA_DATA_MISSING,
            "media data missing: 请以 multipart/form-data 上传，文件字段名为 media",
        ));
    }
    let unreadable = || err(errcode::DATA_FORMAT_ERROR, "data format error: multipart 请求体无法解析");
    let too_large =
        || err(errcode::INVALID_MEDIA_SIZE, "invalid media size: 文件过大，图片不超过5MB，视频不超过50MB");
    let mut mp = Multipart::from_request(req, &()).await.map_err(|_| unreadable())?;
    loop {
        match mp.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                let data = match field.bytes().await {
                    Ok(d) => d,
                    Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
                    Err(_) => return Err(unreadable()),
                };
                if name == "media" {
                    bytes = Some(data.to_vec());
                } else {
                    fields.insert(name, String::from_utf8_lossy(&data).trim().to_string());
                }
            }
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(_) => return Err(unreadable()),
        }
    }
    let Some(bytes) = bytes else {
        return Err(err(
            errcode::MEDIA_DATA_MISSING,
            "media data 不能为空：请在 multipart 的 media 字段上传文件",
        ));
    };
    let fv = Value::Object(fields.into_iter().map(|(k, v)| (k, Value::String(v))).collect());
    let Ok(certificate_type) = num_field(&fv, "certificate_type") else {
        return Err(err(errcode::INVALID_ARGS, "invalid args: certificate_type 须为证件类型编号"));
    };
    Ok(MediaUpload {
        media_type: str_field(&fv, "type").unwrap_or_default(),
        certificate_type,
        icp_order_field: str_field(&fv, "icp_order_field").unwrap_or_default(),
        bytes,
    })
}
