//! Raw HTTP against the WeChat-compatible API: every input tolerance and every token/quota
//! errcode, as real SDKs and real mistakes produce them.

use crate::support::*;
use beian_core::errcode;
use serde_json::{json, Value};

async fn json_of(r: reqwest::Response) -> Value {
    assert_eq!(r.status(), 200, "WeChat answers HTTP 200 even on errors");
    r.json().await.expect("json body")
}

fn code(v: &Value) -> i64 {
    v["errcode"].as_i64().expect("errcode")
}

fn assert_err(v: &Value, expected: i64) {
    assert_eq!(code(v), expected, "{v}");
    let msg = v["errmsg"].as_str().expect("errmsg");
    assert!(msg.contains(" rid: "), "error messages carry a request id: {msg}");
}

#[tokio::test]
async fn token_errors() {
    let app = TestApp::start(Backend::Sqlite, 1000).await;
    register(&app, "wxraw0001", 1).await;
    let (_, token) = authorized_token(&app, "wxraw0001", 1, &[18, 156]).await;
    let http = reqwest::Client::new();
    let get = |q: String| http.get(app.url(&format!("/wxa/icp/get_icp_entrance_info{q}"))).send();

    assert_err(&json_of(get(String::new()).await.expect("send")).await, errcode::ACCESS_TOKEN_MISSING);
    assert_err(
        &json_of(get("?access_token=".into()).await.expect("send")).await,
        errcode::ACCESS_TOKEN_MISSING,
    );
    assert_err(
        &json_of(get("?access_token=nosuchtoken".into()).await.expect("send")).await,
        errcode::INVALID_CREDENTIAL,
    );
    assert_err(
        &json_of(get("?access_token=%3Cscript%3E".into()).await.expect("send")).await,
        errcode::INVALID_ACCESS_TOKEN,
    );
    let ok = json_of(get(format!("?access_token={token}")).await.expect("send")).await;
    assert_eq!(code(&ok), 0, "{ok}");
    assert_eq!(ok["info"]["status"], 1024);

    // A component token is not an authorizer token.
    let ticket = app
        .svc
        .providers()
        .issue_verify_ticket(&authorized_token(&app, "wxraw0001", 1, &[18]).await.0.component_appid)
        .await;
    assert!(ticket.is_ok());

    app.clock.advance(chrono::Duration::seconds(7201));
    assert_err(
        &json_of(get(format!("?access_token={token}")).await.expect("send")).await,
        errcode::ACCESS_TOKEN_EXPIRED,
    );
    app.stop().await;
}

#[tokio::test]
async fn permission_set_and_quotas() {
    let app = TestApp::start(Backend::Sqlite, 3).await;
    register(&app, "wxraw0002", 2).await;
    let (_, only_17) = authorized_token(&app, "wxraw0002", 2, &[17]).await;
    let http = reqwest::Client::new();
    let url = |t: &str| app.url(&format!("/wxa/icp/query_icp_subject_types?access_token={t}"));
    assert_err(
        &json_of(http.get(url(&only_17)).send().await.expect("send")).await,
        errcode::API_UNAUTHORIZED,
    );

    let (_, t156) = authorized_token(&app, "wxraw0002", 2, &[156]).await;
    for _ in 0..3 {
        let v = json_of(http.get(url(&t156)).send().await.expect("send")).await;
        assert_eq!(code(&v), 0, "{v}");
        assert!(v["items"].as_array().is_some_and(|a| !a.is_empty()));
    }
    assert_err(&json_of(http.get(url(&t156)).send().await.expect("send")).await, errcode::MINUTE_QUOTA);
    app.clock.advance(chrono::Duration::seconds(60));
    assert_eq!(
        code(&json_of(http.get(url(&t156)).send().await.expect("send")).await),
        0,
        "a new minute, a new quota"
    );

    // Daily apply quota: the operator sets it to zero.
    let mut policy = (*app.svc.policy()).clone();
    policy.daily_apply_quota = 0;
    app.svc.set_policy(&beian_service::Actor::new("test", "op"), policy).await.expect("policy");
    let v = json_of(
        http.post(app.url(&format!("/wxa/icp/apply_icp_filing?access_token={t156}")))
            .body(r#"{"icp_subject":{}}"#)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_err(&v, errcode::DAILY_QUOTA);
    app.stop().await;
}

#[tokio::test]
async fn tolerant_input_exact_output() {
    let app = TestApp::start(Backend::Sqlite, 1000).await;
    register(&app, "wxraw0003", 3).await;
    let (_, t) = authorized_token(&app, "wxraw0003", 3, &[18, 156]).await;
    let http = reqwest::Client::new();
    let u = |p: &str| app.url(&format!("{p}?access_token={t}"));

    // JSON without Content-Type, and with a wrong one.
    let created = json_of(http.post(u("/wxa/icp/create_icp_verifytask")).send().await.expect("send")).await;
    assert_eq!(code(&created), 0, "empty body accepted: {created}");
    let task = created["task_id"].as_str().expect("task_id").to_string();
    let body = format!(r#"{{"task_id":"{task}","unknown_field":[1,2,3]}}"#);
    for ct in [None, Some("text/plain"), Some("application/json")] {
        let mut req = http.post(u("/wxa/icp/query_icp_verifytask")).body(body.clone());
        if let Some(ct) = ct {
            req = req.header("Content-Type", ct);
        }
        let v = json_of(req.send().await.expect("send")).await;
        assert_eq!(
            (code(&v), v["is_finish"].clone(), v["face_status"].clone()),
            (0, json!(false), json!(1)),
            "{ct:?}: {v}"
        );
    }
    // Malformed JSON and GET on a POST endpoint.
    assert_err(
        &json_of(http.post(u("/wxa/icp/query_icp_verifytask")).body("{not json").send().await.expect("send"))
            .await,
        errcode::DATA_FORMAT_ERROR,
    );
    assert_err(
        &json_of(http.get(u("/wxa/icp/query_icp_verifytask")).send().await.expect("send")).await,
        errcode::REQUIRE_POST,
    );

    // cancel_apply with no body at all.
    assert_err(
        &json_of(http.post(u("/wxa/icp/cancel_apply_icp_filing")).send().await.expect("send")).await,
        errcode::NO_WITHDRAWABLE_ORDER,
    );

    // Upload: fields in the form, or in the query string; "null" for an absent number.
    let part = || {
        reqwest::multipart::Part::bytes(JPEG.to_vec())
            .file_name("id.jpg")
            .mime_str("image/jpeg")
            .expect("mime")
    };
    let form = reqwest::multipart::Form::new()
        .text("type", "image")
        .text("certificate_type", "2")
        .text("icp_order_field", "icp_subject.principal_info.certificate_photo_front")
        .part("media", part());
    let v =
        json_of(http.post(u("/wxa/icp/upload_icp_media")).multipart(form).send().await.expect("send")).await;
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(v["type"], "image");
    assert!(v["created_at"].as_i64().is_some());
    let media_id = v["media_id"].as_str().expect("media_id").to_string();
    let q = format!(
        "{}&type=image&certificate_type=null&icp_order_field=icp_materials.commitment_letter",
        u("/wxa/icp/upload_icp_media")
    );
    let v = json_of(
        http.post(q)
            .multipart(reqwest::multipart::Form::new().part("media", part()))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(code(&v), 0, "query-string fields: {v}");
    // Wrong part name, not an image, wrong field.
    let v = json_of(
        http.post(u("/wxa/icp/upload_icp_media"))
            .multipart(reqwest::multipart::Form::new().text("type", "image").part("file", part()))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_err(&v, errcode::MEDIA_DATA_MISSING);
    let not_image = reqwest::multipart::Part::bytes(b"%PDF-1.4 not an image".to_vec()).file_name("x.jpg");
    let form = reqwest::multipart::Form::new()
        .text("type", "image")
        .text("icp_order_field", "icp_materials.commitment_letter")
        .part("media", not_image);
    assert_err(
        &json_of(http.post(u("/wxa/icp/upload_icp_media")).multipart(form).send().await.expect("send")).await,
        errcode::INVALID_FILE_TYPE,
    );
    let form = reqwest::multipart::Form::new()
        .text("type", "image")
        .text("icp_order_field", "icp_applets.base_info.nrlx_details.media")
        .part("media", part());
    assert_err(
        &json_of(http.post(u("/wxa/icp/upload_icp_media")).multipart(form).send().await.expect("send")).await,
        errcode::INVALID_ARGS,
    );
    // Sizes: the route's own body limit, not axum's 2 MB default, applies to the multipart
    // parser (beian_api::parse::upload); past 5 MB an image is 40006.
    for (mb, want) in [(3, 0), (6, errcode::INVALID_MEDIA_SIZE)] {
        let mut big = JPEG.to_vec();
        big.resize(mb * 1024 * 1024, 0);
        let form = reqwest::multipart::Form::new()
            .text("type", "image")
            .text("icp_order_field", "icp_materials.commitment_letter")
            .part("media", reqwest::multipart::Part::bytes(big).file_name("big.jpg"));
        let v =
            json_of(http.post(u("/wxa/icp/upload_icp_media")).multipart(form).send().await.expect("send"))
                .await;
        assert_eq!(code(&v), want, "{mb} MB: {v}");
    }

    // get_icp_media: raw bytes with an image type; JSON error otherwise.
    let r =
        http.get(format!("{}&media_id={media_id}", u("/wxa/icp/get_icp_media"))).send().await.expect("send");
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), JPEG);
    let r = http.get(format!("{}&media_id=nope", u("/wxa/icp/get_icp_media"))).send().await.expect("send");
    assert!(r.headers()["content-type"].to_str().expect("ct").starts_with("application/json"));
    assert_err(&json_of(r).await, errcode::MEDIA_ID_INVALID);

    // apply: defaults sent as ""/0/[] are absent; a bad field answers 86202 + hints.
    let sdk_defaults = json!({
        "icp_subject": {"base_info": {"type": 0, "name": "", "province": "", "city": "", "district": "", "address": "", "comment": ""},
                        "personal_info": {"residence_permit": ""}, "organize_info": {"certificate_type": "null"},
                        "principal_info": {"name": ""}, "legal_person_info": null},
        "icp_applets": {"base_info": {"service_content_types": [], "nrlx_details": [], "comment": ""}, "principal_info": {}},
        "icp_materials": {"commitment_letter": [], "promise_video": [""]},
        "extra_top_level": "ignored"
    });
    let v = json_of(
        http.post(u("/wxa/icp/apply_icp_filing")).body(sdk_defaults.to_string()).send().await.expect("send"),
    )
    .await;
    assert_err(&v, errcode::APPLY_FAIL);
    let hints = v["hints"].as_array().expect("hints");
    let fields: Vec<&str> = hints.iter().filter_map(|h| h["err_field"].as_str()).collect();
    for f in [
        "icp_subject.base_info.type",
        "icp_subject.base_info.name",
        "icp_applets.base_info.comment",
        "icp_applets.principal_info.verify_task_id",
    ] {
        assert!(fields.contains(&f), "missing hint for {f}: {fields:?}");
    }
    for h in hints {
        assert!(
            h["errcode"].as_i64().is_some() && h["errmsg"].as_str().is_some_and(|m| !m.is_empty()),
            "{h}"
        );
    }
    // An empty body where fields are required.
    assert_err(
        &json_of(http.post(u("/wxa/icp/apply_icp_filing")).send().await.expect("send")).await,
        errcode::EMPTY_POST_DATA,
    );
    // The combined certification + filing flow is documented as not supported.
    assert_err(
        &json_of(http.post(u("/wxa/sec/submit_auth_and_icp")).body("{}").send().await.expect("send")).await,
        errcode::NOT_SUPPORTED,
    );

    // The district lookup is a nested tree with numeric codes.
    let v = json_of(http.get(u("/wxa/icp/query_icp_district_code")).send().await.expect("send")).await;
    let bj = &v["items"][0];
    assert_eq!((bj["type"].clone(), bj["code"].clone()), (json!(1), json!(110000)), "{bj}");
    assert_eq!(bj["sub_list"][0]["sub_list"][0]["type"], 3);
    app.stop().await;
}

#[tokio::test]
async fn openapi_document_lists_every_endpoint() {
    let app = TestApp::start(Backend::Sqlite, 1000).await;
    let v: Value = reqwest::get(app.url("/openapi.json")).await.expect("get").json().await.expect("json");
    assert_eq!(v["openapi"], "3.0.3");
    let paths = v["paths"].as_object().expect("paths");
    for p in [
        "/wxa/icp/apply_icp_filing",
        "/wxa/icp/upload_icp_media",
        "/cgi-bin/component/api_query_auth",
        "/wxa/icp/query_icp_subject_types",
    ] {
        assert!(paths.contains_key(p), "{p} missing");
    }
    let docs = reqwest::get(app.url("/docs/api")).await.expect("get").text().await.expect("text");
    assert!(docs.contains("86937") && docs.contains("beian 扩展"), "the docs page lists beian's own codes");
    app.stop().await;
}

#[tokio::test]
async fn hostile_bodies_get_documented_errcodes_not_5xx() {
    let app = TestApp::start(Backend::Sqlite, 1000).await;
    register(&app, "wxraw0009", 9).await;
    let (_, t) = authorized_token(&app, "wxraw0009", 9, &[156]).await;
    let http = reqwest::Client::new();
    let u = |p: &str| app.url(&format!("{p}?access_token={t}"));
    // Oversized JSON body.
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(3 * 1024 * 1024));
    assert_err(
        &json_of(http.post(u("/wxa/icp/apply_icp_filing")).body(big).send().await.expect("send")).await,
        errcode::DATA_FORMAT_ERROR,
    );
    // Deep JSON, wrong encodings, a JSON array, binary garbage.
    let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    for body in [
        deep.into_bytes(),
        vec![0xff, 0xfe, 0x00, 0x7b],
        b"[1,2,3]".to_vec(),
        (0..=255u8).collect::<Vec<u8>>(),
    ] {
        let v =
            json_of(http.post(u("/wxa/icp/apply_icp_filing")).body(body).send().await.expect("send")).await;
        assert_err(&v, errcode::DATA_FORMAT_ERROR);
    }
    // A multipart body that is not multipart, and path tricks in a media id.
    let v = json_of(
        http.post(u("/wxa/icp/upload_icp_media"))
            .header("content-type", "multipart/form-data; boundary=x")
            .body("garbage")
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert!(code(&v) != 0, "{v}");
    let r = http
        .get(format!("{}&media_id=../../secret.key", u("/wxa/icp/get_icp_media")))
        .send()
        .await
        .expect("send");
    assert_err(&json_of(r).await, errcode::MEDIA_ID_INVALID);
    app.stop().await;
}
