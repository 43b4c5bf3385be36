//! beian-client against a fake server on 127.0.0.1 that records every request and plays back
//! canned answers, plus the event receiver against pushes built with beian-wxcrypt.

use std::collections::HashMap;

use beian_client::{Client, Error, Event, EventReceiver, FieldPlacement, Hint, Upload};
use beian_core::payload::ApplyPayload;
use beian_testkit::servers::{HttpReceiver, Recorded as Seen, Reply};
use beian_wxcrypt::{xml_message, WxCrypt, XmlValue};
use serde_json::{json, Value};

const JSON: &str = "application/json; charset=UTF-8";

fn ok_json(v: Value) -> Reply {
    Reply::json(v)
}

/// beian-testkit's HTTP receiver: records every request and plays back canned answers.
struct Fake(HttpReceiver);

impl Fake {
    /// Start a server that answers the n-th request with `replies[n]` (the last one repeats).
    async fn start(replies: Vec<Reply>) -> (Client, Fake) {
        let rx = HttpReceiver::start(replies).await;
        (Client::new(&format!("{}/", rx.base)), Fake(rx))
    }

    fn seen(&self) -> Vec<Seen> {
        self.0.seen()
    }

    fn last(&self) -> Seen {
        self.seen().pop().expect("a request was made")
    }
}

// ---------------------------------------------------------------- token flow

#[tokio::test]
async fn component_token_flow_request_shapes() {
    let (client, fake) = Fake::start(vec![
        // component token answers carry no errcode
        ok_json(json!({"component_access_token": "CAT", "expires_in": 7200})),
        ok_json(json!({"pre_auth_code": "PAC", "expires_in": 1800})),
        ok_json(json!({"authorization_info": {
            "authorizer_appid": "wxapp", "authorizer_access_token": "AAT", "expires_in": 7200,
            "authorizer_refresh_token": "ART",
            "func_info": [{"funcscope_category": {"id": 18}}, {"funcscope_category": {"id": 156}},
                          {"confirm_info": {"need_confirm": 0}}]}})),
        ok_json(json!({"errcode": 0, "errmsg": "ok", "authorizer_access_token": "AAT2", "expires_in": 7200,
                       "authorizer_refresh_token": "ART2"})),
    ])
    .await;

    let t = client.component_token("wxcomp", "secret", "ticket@@@x").await.expect("component token");
    assert_eq!((t.component_access_token.as_str(), t.expires_in), ("CAT", 7200));
    let s = fake.last();
    assert_eq!((s.method.as_str(), s.path.as_str()), ("POST", "/cgi-bin/component/api_component_token"));
    assert!(s.query.is_empty());
    assert!(s.content_type.starts_with("application/json"));
    assert_eq!(
        s.json(),
        json!({"component_appid": "wxcomp", "component_appsecret": "secret", "component_verify_ticket": "ticket@@@x"})
    );

    let p = client.create_pre_auth_code("CAT", "wxcomp").await.expect("pre auth code");
    assert_eq!((p.pre_auth_code.as_str(), p.expires_in), ("PAC", 1800));
    let s = fake.last();
    assert_eq!(s.path, "/cgi-bin/component/api_create_preauthcode");
    assert_eq!(s.query.get("component_access_token").map(String::as_str), Some("CAT"));
    assert_eq!(s.json(), json!({"component_appid": "wxcomp"}));

    let a = client.query_auth("CAT", "wxcomp", "authcode").await.expect("query auth");
    assert_eq!(a.authorizer_appid, "wxapp");
    assert_eq!(a.authorizer_access_token, "AAT");
    assert_eq!(a.authorizer_refresh_token, "ART");
    assert_eq!(a.func_info, vec![18, 156]);
    let s = fake.last();
    assert_eq!(s.path, "/cgi-bin/component/api_query_auth");
    assert_eq!(s.query.get("component_access_token").map(String::as_str), Some("CAT"));
    assert_eq!(s.json(), json!({"component_appid": "wxcomp", "authorization_code": "authcode"}));

    let r = client.authorizer_token("CAT", "wxcomp", "wxapp", "ART").await.expect("refresh");
    assert_eq!((r.authorizer_access_token.as_str(), r.authorizer_refresh_token.as_str()), ("AAT2", "ART2"));
    let s = fake.last();
    assert_eq!(s.path, "/cgi-bin/component/api_authorizer_token");
    assert_eq!(s.query.get("component_access_token").map(String::as_str), Some("CAT"));
    assert_eq!(
        s.json(),
        json!({"component_appid": "wxcomp", "authorizer_appid": "wxapp", "authorizer_refresh_token": "ART"})
    );
    assert_eq!(fake.seen().len(), 4);
}

#[test]
fn authorization_page_url_is_encoded() {
    let c = Client::new("http://127.0.0.1:9/");
    assert_eq!(
        c.authorization_page_url("wxcomp", "preauthcode@@@A+b/c=", "https://p.example/cb?x=1&y=中"),
        "http://127.0.0.1:9/cgi-bin/componentloginpage?component_appid=wxcomp\
         &pre_auth_code=preauthcode%40%40%40A%2Bb%2Fc%3D\
         &redirect_uri=https%3A%2F%2Fp.example%2Fcb%3Fx%3D1%26y%3D%E4%B8%AD&auth_type=2"
    );
    let w = Client::new("https://api.weixin.qq.com").with_login_page_base("https://mp.weixin.qq.com/");
    assert!(w
        .authorization_page_url("a", "b", "c")
        .starts_with("https://mp.weixin.qq.com/cgi-bin/componentloginpage?component_appid=a&"));
    assert_eq!(w.base_url(), "https://api.weixin.qq.com");
}

#[tokio::test]
async fn token_errors_map_to_api_errors() {
    let (client, _fake) = Fake::start(vec![ok_json(
        json!({"errcode": 61004, "errmsg": "access clientip is not registered rid: 6a1b-2c3d-4e5f"}),
    )])
    .await;
    let e = client.component_token("a", "b", "c").await.expect_err("api error");
    match e {
        Error::Api { errcode, errmsg, hints } => {
            assert_eq!(errcode, 61004);
            assert_eq!(errmsg, "access clientip is not registered rid: 6a1b-2c3d-4e5f");
            assert!(hints.is_empty());
        }
        other => panic!("unexpected {other:?}"),
    }
}

// ---------------------------------------------------------------- face verification

#[tokio::test]
async fn verify_task_shapes() {
    let (client, fake) = Fake::start(vec![
        ok_json(json!({"errcode": 0, "errmsg": "", "task_id": "T1"})),
        ok_json(json!({"errcode": 0, "errmsg": "ok", "task_id": "T2", "verify_url": "https://v.example/T2"})),
        ok_json(json!({"errcode": 0, "errmsg": "ok", "is_finish": true, "face_status": 3})),
        ok_json(json!({"errcode": 0, "errmsg": "ok", "is_finish": true, "face_status": 3,
                       "along_with_auth_result": 9})),
        ok_json(json!({"errcode": 1, "errmsg": "code过期或不存在 rid: x"})),
    ])
    .await;

    let t = client.create_icp_verify_task("AAT", false).await.expect("create");
    assert_eq!((t.task_id.as_str(), t.verify_url), ("T1", None));
    let s = fake.last();
    assert_eq!((s.method.as_str(), s.path.as_str()), ("POST", "/wxa/icp/create_icp_verifytask"));
    assert_eq!(s.query.get("access_token").map(String::as_str), Some("AAT"));
    assert_eq!(s.json(), json!({"along_with_auth": false}));

    let t = client.create_icp_verify_task("AAT", true).await.expect("create combined");
    assert_eq!(t.verify_url.as_deref(), Some("https://v.example/T2"));
    assert_eq!(fake.last().json(), json!({"along_with_auth": true}));

    let q = client.query_icp_verify_task("AAT", "T1").await.expect("query");
    assert!(q.is_finish);
    assert_eq!((q.face_status, q.along_with_auth_result), (3, None));
    let s = fake.last();
    assert_eq!(s.path, "/wxa/icp/query_icp_verifytask");
    assert_eq!(s.json(), json!({"task_id": "T1"}));

    let q = client.query_icp_verify_task("AAT", "T2").await.expect("query combined");
    assert_eq!(q.along_with_auth_result, Some(9));

    let e = client.query_icp_verify_task("AAT", "gone").await.expect_err("expired");
    assert_eq!(e.errcode(), Some(1));
}

// ---------------------------------------------------------------- media

#[tokio::test]
async fn upload_with_form_fields() {
    let (client, fake) = Fake::start(vec![ok_json(
        json!({"errcode": 0, "errmsg": "ok", "type": "image", "media_id": "M1", "created_at": 1692883651}),
    )])
    .await;
    let up = Upload::image(
        "icp_subject.principal_info.certificate_photo_front",
        "front.JPG",
        b"\xff\xd8jpeg".to_vec(),
    )
    .certificate_type(2);
    let m = client.upload_icp_media("AAT", &up, FieldPlacement::Form).await.expect("upload");
    assert_eq!((m.media_id.as_str(), m.media_type.as_str(), m.created_at), ("M1", "image", 1692883651));

    let s = fake.last();
    assert_eq!((s.method.as_str(), s.path.as_str()), ("POST", "/wxa/icp/upload_icp_media"));
    assert!(s.content_type.starts_with("multipart/form-data; boundary="), "{}", s.content_type);
    assert_eq!(s.query.len(), 1);
    assert_eq!(s.query.get("access_token").map(String::as_str), Some("AAT"));
    let parts = s.parts().await;
    let text = |name: &str| {
        parts.iter().find(|p| p.0 == name).map(|p| String::from_utf8(p.3.clone()).expect("utf-8"))
    };
    assert_eq!(text("type").as_deref(), Some("image"));
    assert_eq!(text("certificate_type").as_deref(), Some("2"));
    assert_eq!(
        text("icp_order_field").as_deref(),
        Some("icp_subject.principal_info.certificate_photo_front")
    );
    let media = parts.iter().find(|p| p.0 == "media").expect("media part");
    assert_eq!(media.1.as_deref(), Some("front.JPG"));
    assert_eq!(media.2.as_deref(), Some("image/jpeg"));
    assert_eq!(media.3, b"\xff\xd8jpeg");
    assert_eq!(parts.len(), 4);
}

#[tokio::test]
async fn upload_with_query_fields() {
    let (client, fake) = Fake::start(vec![ok_json(
        // SKIT's field name and WxJava's string type are accepted too
        json!({"errcode": 0, "errmsg": "ok", "type": "video", "media_id": "V1", "create_at": "1692883652"}),
    )])
    .await;
    let up = Upload::video("icp_materials.promise_video", "promise.mp4", vec![0u8; 64]);
    let m = client.upload_icp_media("AAT", &up, FieldPlacement::Query).await.expect("upload");
    assert_eq!((m.media_id.as_str(), m.media_type.as_str(), m.created_at), ("V1", "video", 1692883652));

    let s = fake.last();
    assert_eq!(s.query.get("access_token").map(String::as_str), Some("AAT"));
    assert_eq!(s.query.get("type").map(String::as_str), Some("video"));
    assert_eq!(s.query.get("icp_order_field").map(String::as_str), Some("icp_materials.promise_video"));
    assert!(!s.query.contains_key("certificate_type"), "unset certificate_type is not sent");
    let parts = s.parts().await;
    assert_eq!(parts.len(), 1, "only the file is in the form");
    assert_eq!(parts[0].0, "media");
    assert_eq!(parts[0].2.as_deref(), Some("video/mp4"));
    assert_eq!(parts[0].3.len(), 64);
}

#[tokio::test]
async fn upload_error_is_api_error() {
    let (client, _fake) =
        Fake::start(vec![ok_json(json!({"errcode": 40097, "errmsg": "invalid args rid: 1"}))]).await;
    let up = Upload::image("icp_applets.base_info.nrlx_details.media", "a.png", vec![1, 2, 3]);
    let e = client.upload_icp_media("AAT", &up, FieldPlacement::Form).await.expect_err("40097");
    assert_eq!(e.errcode(), Some(40097));
}

#[tokio::test]
async fn get_media_bytes_or_json_error() {
    let jpeg = b"\xff\xd8\xff\xe0 not really a jpeg".to_vec();
    let (client, fake) = Fake::start(vec![
        Reply { status: 200, content_type: "image/jpeg", body: jpeg.clone() },
        ok_json(json!({"errcode": 86205, "errmsg": "media_id不合法 rid: 67f50620-121a78c7-310ade12"})),
        Reply { status: 200, content_type: "video/mp4", body: b"{\"errcode\":1}".to_vec() },
    ])
    .await;

    let m = client.get_icp_media("AAT", "M1").await.expect("media");
    assert_eq!((m.content_type.as_str(), m.bytes), ("image/jpeg", jpeg));
    let s = fake.last();
    assert_eq!((s.method.as_str(), s.path.as_str()), ("GET", "/wxa/icp/get_icp_media"));
    assert_eq!(s.query.get("access_token").map(String::as_str), Some("AAT"));
    assert_eq!(s.query.get("media_id").map(String::as_str), Some("M1"));

    match client.get_icp_media("AAT", "bad").await.expect_err("86205") {
        Error::Api { errcode, errmsg, .. } => {
            assert_eq!(errcode, 86205);
            assert_eq!(errmsg, "media_id不合法 rid: 67f50620-121a78c7-310ade12");
        }
        other => panic!("unexpected {other:?}"),
    }

    // A media content type wins even if the bytes happen to look like JSON.
    let m = client.get_icp_media("AAT", "M2").await.expect("video");
    assert_eq!(m.content_type, "video/mp4");
    assert_eq!(m.bytes, b"{\"errcode\":1}");
}

// ---------------------------------------------------------------- apply / withdraw / cancel

fn sample_payload() -> ApplyPayload {
    serde_json::from_value(json!({
        "icp_subject": {
            "base_info": {"type": 5, "name": "李四", "province": "440000", "city": "440300",
                          "district": "440305", "address": "科技园路1号A座101室"},
            "organize_info": {"certificate_type": 2, "certificate_number": "440305199201011234",
                              "certificate_address": "广东省深圳市南山区科技园路1号A座101室"},
            "principal_info": {"name": "李四", "mobile": "13800000000", "certificate_type": 2,
                               "certificate_photo_front": "MEDIA_ID_FRONT"}
        },
        "icp_applets": {
            "base_info": {"service_content_types": [1, 2], "nrlx_details": [{"type": 24}],
                          "comment": "本小程序为个人读书笔记分享工具"},
            "principal_info": {"name": "李四", "verify_task_id": "T1"}
        },
        "icp_materials": {"commitment_letter": ["MEDIA_COMMIT"]}
    }))
    .expect("payload")
}

#[tokio::test]
async fn apply_sends_payload_and_maps_hints() {
    let (client, fake) = Fake::start(vec![
        ok_json(json!({"errcode": 0, "errmsg": "ok", "hints": []})),
        ok_json(json!({"errcode": 86202, "errmsg": "apply icp filing fail rid: 67f50620-121a78c7-310ade12",
            "hints": [{"errcode": 86328, "err_field": "icp_subject.organize_info.certificate_photo",
                       "errmsg": "无法读取图片识别内容，请尝试重新提交或重新上传图片"},
                      {"errcode": 86302, "err_field": "icp_applets.base_info.comment", "errmsg": "x"}]})),
    ])
    .await;
    let payload = sample_payload();
    client.apply_icp_filing("AAT", &payload).await.expect("accepted");
    let s = fake.last();
    assert_eq!((s.method.as_str(), s.path.as_str()), ("POST", "/wxa/icp/apply_icp_filing"));
    assert_eq!(s.query.get("access_token").map(String::as_str), Some("AAT"));
    assert!(s.content_type.starts_with("application/json"));
    let body = s.json();
    assert_eq!(body, serde_json::to_value(&payload).expect("to json"));
    assert_eq!(body["icp_subject"]["base_info"]["province"], "440000");
    assert_eq!(body["icp_applets"]["principal_info"]["verify_task_id"], "T1");
    assert!(String::from_utf8(s.body.clone()).expect("utf-8").contains("李四"), "Chinese sent unescaped");

    let e = client.apply_icp_filing("AAT", &payload).await.expect_err("86202");
    assert_eq!(e.errcode(), Some(86202));
    assert_eq!(
        e.hints(),
        &[
            Hint {
                errcode: 86328,
                errmsg: "无法读取图片识别内容，请尝试重新提交或重新上传图片".into(),
                err_field: "icp_subject.organize_info.certificate_photo".into(),
            },
            Hint { errcode: 86302, errmsg: "x".into(), err_field: "icp_applets.base_info.comment".into() },
        ]
    );
    assert!(e.to_string().contains("86202"));
}

#[tokio::test]
async fn withdraw_and_cancel_shapes() {
    let (client, fake) = Fake::start(vec![
        ok_json(json!({"errcode": 0, "errmsg": "ok"})),
        ok_json(json!({"errcode": 0, "errmsg": "ok"})),
        ok_json(json!({"errcode": 0, "errmsg": "ok"})),
        ok_json(json!({"errcode": 86368, "errmsg": "不存在可撤回的审核订单 rid: 1"})),
    ])
    .await;

    client.cancel_apply_icp_filing("AAT").await.expect("withdraw");
    let s = fake.last();
    assert_eq!((s.method.as_str(), s.path.as_str()), ("POST", "/wxa/icp/cancel_apply_icp_filing"));
    assert_eq!(s.query.get("access_token").map(String::as_str), Some("AAT"));
    assert!(s.body.is_empty(), "no body");

    client.cancel_icp_filing("AAT", 2, Some(1)).await.expect("cancel");
    let s = fake.last();
    assert_eq!((s.method.as_str(), s.path.as_str()), ("POST", "/wxa/icp/cancel_icp_filing"));
    assert_eq!(s.json(), json!({"cancel_type": 2, "reason_type": 1}));

    client.cancel_icp_filing("AAT", 1, None).await.expect("cancel subject");
    assert_eq!(fake.last().json(), json!({"cancel_type": 1}));

    let e = client.cancel_apply_icp_filing("AAT").await.expect_err("nothing to withdraw");
    assert_eq!(e.errcode(), Some(86368));
}

// ---------------------------------------------------------------- status and order

#[tokio::test]
async fn entrance_info_full_and_sparse() {
    let (client, fake) = Fake::start(vec![
        ok_json(
            json!({"errcode": 0, "errmsg": "ok", "info": {"status": 3, "is_canceling": false, "available": 1,
            "audit_data": [{"key_name": "小程序备注", "error": "备注未描述实际服务内容",
                            "suggest": "请具体描述小程序的主要服务，20-200字"}]}}),
        ),
        ok_json(json!({"errcode": 0, "errmsg": "ok", "info": {"status": 4, "sms_verify_status": 1,
            "audit_data": null}})),
    ])
    .await;
    let i = client.get_icp_entrance_info("AAT").await.expect("info");
    assert_eq!((i.status, i.is_canceling, i.available, i.sms_verify_status), (3, false, 1, None));
    assert_eq!(i.audit_data.len(), 1);
    assert_eq!(i.audit_data[0].key_name, "小程序备注");
    assert_eq!(i.audit_data[0].suggest, "请具体描述小程序的主要服务，20-200字");
    let s = fake.last();
    assert_eq!((s.method.as_str(), s.path.as_str()), ("GET", "/wxa/icp/get_icp_entrance_info"));
    assert_eq!(s.query.get("access_token").map(String::as_str), Some("AAT"));

    let i = client.get_icp_entrance_info("AAT").await.expect("sparse info");
    assert_eq!((i.status, i.sms_verify_status, i.available), (4, Some(1), 0));
    assert!(i.audit_data.is_empty() && !i.is_canceling);
}

fn applet(appid: &str, record_number: &str) -> Value {
    json!({"base_info": {"appid": appid, "name": "读书笔记", "service_content_types": [1, 2],
                         "nrlx_details": [{"type": 24}], "comment": "c", "record_number": record_number},
           "principal_info": {"name": "*四", "mobile": "138******00"}})
}

#[tokio::test]
async fn online_order_applets_as_array_or_object() {
    let subject = json!({"base_info": {"type": 5, "name": "*四", "province": "440000",
                                       "record_number": "粤ICP备2024000001号"},
                         "principal_info": {"name": "*四", "certificate_number": "44**************34"}});
    let (client, fake) = Fake::start(vec![
        ok_json(json!({"errcode": 0, "errmsg": "ok", "icp_subject": subject,
                       "icp_applets": [applet("wxapp", "粤ICP备2024000001号-1X")]})),
        ok_json(json!({"errcode": 0, "errmsg": "ok", "icp_subject": subject,
                       "icp_applets": applet("wxapp", "粤ICP备2024000001号-2X")})),
    ])
    .await;

    let o = client.get_online_icp_order("AAT").await.expect("order (array)");
    assert_eq!(o.icp_subject.base_info.record_number, "粤ICP备2024000001号");
    assert_eq!(o.icp_subject.principal_info.certificate_number, "44**************34");
    assert_eq!(o.icp_applets.len(), 1);
    assert_eq!(o.icp_applets[0].base_info.appid, "wxapp");
    assert_eq!(o.icp_applets[0].base_info.record_number, "粤ICP备2024000001号-1X");
    assert_eq!(o.icp_applets[0].base_info.service_content_types, vec![1, 2]);
    assert_eq!(o.raw["icp_applets"][0]["base_info"]["name"], "读书笔记");
    let s = fake.last();
    assert_eq!((s.method.as_str(), s.path.as_str()), ("GET", "/wxa/icp/get_online_icp_order"));

    let o = client.get_online_icp_order("AAT").await.expect("order (object)");
    assert_eq!(o.icp_applets.len(), 1);
    assert_eq!(o.icp_applets[0].base_info.record_number, "粤ICP备2024000001号-2X");
}

// ---------------------------------------------------------------- lookups

#[tokio::test]
async fn lookups_parse_items_and_district_tree() {
    let (client, fake) = Fake::start(vec![
        ok_json(json!({"errcode": 0, "errmsg": "ok", "items": [
            {"type": 1, "code": 110000, "name": "北京市", "sub_list": [
                {"type": 2, "code": 110100, "name": "市辖区", "sub_list": [
                    {"type": 3, "code": 110101, "name": "东城区"},
                    {"type": 3, "code": 110105, "name": "朝阳区", "sub_list": []}]}]},
            {"type": 1, "code": "440000", "name": "广东省", "sub_list": null}]})),
        ok_json(json!({"errcode": 0, "errmsg": "ok", "items": [
            {"type": 1, "parent_type": 500, "name": "生活缴费", "remark": "水电煤气话费等"},
            {"type": 500, "parent_type": 0, "name": "生活服务"}]})),
        ok_json(json!({"errcode": 0, "errmsg": "ok", "items": [
            {"type": 2, "subject_type": 5, "name": "居民身份证", "remark": ""}]})),
        ok_json(json!({"errcode": 0, "errmsg": "ok", "items": [{"type": 24, "name": "以上都不涉及"}]})),
        ok_json(json!({"errcode": 0, "errmsg": "ok", "items": [{"type": 5, "name": "个人", "remark": "r"}]})),
        ok_json(json!({"errcode": -1, "errmsg": "system error"})),
    ])
    .await;

    let d = client.query_icp_district_code("AAT").await.expect("districts");
    assert_eq!(d.len(), 2);
    assert_eq!((d[0].level, d[0].code, d[0].name.as_str()), (1, 110000, "北京市"));
    let city = &d[0].sub_list[0];
    assert_eq!((city.level, city.code), (2, 110100));
    assert_eq!(city.sub_list.iter().map(|x| x.code).collect::<Vec<_>>(), vec![110101, 110105]);
    assert_eq!(d[0].find(110105).map(|x| x.name.as_str()), Some("朝阳区"));
    assert_eq!((d[1].code, d[1].sub_list.len()), (440000, 0));
    let s = fake.last();
    assert_eq!((s.method.as_str(), s.path.as_str()), ("GET", "/wxa/icp/query_icp_district_code"));
    assert_eq!(s.query.get("access_token").map(String::as_str), Some("AAT"));

    let sc = client.query_icp_service_content_types("AAT").await.expect("service types");
    assert_eq!((sc[0].type_id, sc[0].parent_type, sc[0].remark.as_str()), (1, 500, "水电煤气话费等"));
    assert_eq!((sc[1].type_id, sc[1].parent_type, sc[1].remark.as_str()), (500, 0, ""));
    assert_eq!(fake.last().path, "/wxa/icp/query_icp_service_content_types");

    let ct = client.query_icp_certificate_types("AAT").await.expect("certificate types");
    assert_eq!((ct[0].type_id, ct[0].subject_type, ct[0].name.as_str()), (2, 5, "居民身份证"));
    assert_eq!(fake.last().path, "/wxa/icp/query_icp_certificate_types");

    let n = client.query_icp_nrlx_types("AAT").await.expect("nrlx");
    assert_eq!((n[0].type_id, n[0].name.as_str()), (24, "以上都不涉及"));
    assert_eq!(fake.last().path, "/wxa/icp/query_icp_nrlx_types");

    let st = client.query_icp_subject_types("AAT").await.expect("subject types");
    assert_eq!((st[0].type_id, st[0].name.as_str()), (5, "个人"));
    assert_eq!(fake.last().path, "/wxa/icp/query_icp_subject_types");

    let e = client.query_icp_subject_types("AAT").await.expect_err("system error");
    assert_eq!(e.errcode(), Some(-1));
}

// ---------------------------------------------------------------- transport-level failures

#[tokio::test]
async fn non_json_and_non_200_answers() {
    let (client, _fake) = Fake::start(vec![
        Reply { status: 200, content_type: "text/html", body: b"<html>proxy</html>".to_vec() },
        Reply { status: 502, content_type: "text/plain", body: b"bad gateway".to_vec() },
        Reply {
            status: 401,
            content_type: JSON,
            body: br#"{"errcode":40001,"errmsg":"invalid credential"}"#.to_vec(),
        },
        ok_json(json!({"errcode": 0, "errmsg": "ok"})),
    ])
    .await;
    let e = client.query_icp_nrlx_types("AAT").await.expect_err("html");
    assert!(matches!(&e, Error::Decode(m) if m.contains("/wxa/icp/query_icp_nrlx_types")), "{e:?}");
    let e = client.query_icp_nrlx_types("AAT").await.expect_err("502");
    assert!(matches!(&e, Error::Status { status: 502, body } if body == "bad gateway"), "{e:?}");
    let e = client.query_icp_nrlx_types("AAT").await.expect_err("401 with errcode");
    assert_eq!(e.errcode(), Some(40001));
    // success without the fields a typed answer needs
    let e = client.create_icp_verify_task("AAT", false).await.expect_err("no task_id");
    assert!(matches!(e, Error::Decode(_)), "{e:?}");
}

#[tokio::test]
async fn unreachable_server_is_http_error() {
    let addr = beian_testkit::servers::closed_addr().await;
    let e = Client::new(&format!("http://{addr}")).query_icp_nrlx_types("AAT").await.expect_err("refused");
    assert!(matches!(e, Error::Http(_)), "{e:?}");
}

// ---------------------------------------------------------------- events

const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

/// Build a push as WeChat/beian would: (query, body).
fn push(fields: &[(&str, XmlValue)]) -> (HashMap<String, String>, String) {
    let crypt = WxCrypt::new("msgtoken", KEY, "wxcomp").expect("crypt");
    let encrypt = crypt.encrypt(&xml_message(fields));
    let (ts, nonce) = ("1700000000", "n0nce");
    let sig = crypt.sign(ts, nonce, &encrypt);
    let query =
        [("timestamp", ts), ("nonce", nonce), ("encrypt_type", "aes"), ("msg_signature", sig.as_str())]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    (query, crypt.envelope(&encrypt))
}

fn t(s: &str) -> XmlValue {
    XmlValue::Text(s.into())
}

fn receiver() -> EventReceiver {
    EventReceiver::new("msgtoken", KEY, "wxcomp").expect("receiver")
}

#[test]
fn events_open_to_typed_variants() {
    let r = receiver();
    let base = |info: &str| {
        vec![("AppId", t("wxcomp")), ("CreateTime", XmlValue::Number(1700000000)), ("InfoType", t(info))]
    };
    let cases: Vec<(Vec<(&str, XmlValue)>, Event)> = vec![
        (
            [base("component_verify_ticket"), vec![("ComponentVerifyTicket", t("ticket@@@abc"))]].concat(),
            Event::ComponentVerifyTicket {
                app_id: "wxcomp".into(),
                create_time: 1700000000,
                ticket: "ticket@@@abc".into(),
            },
        ),
        (
            [
                base("authorized"),
                vec![
                    ("AuthorizerAppid", t("wxapp")),
                    ("AuthorizationCode", t("queryauthcode@@@1")),
                    ("AuthorizationCodeExpiredTime", XmlValue::Number(1700003600)),
                    ("PreAuthCode", t("preauthcode@@@1")),
                ],
            ]
            .concat(),
            Event::Authorized {
                authorizer_appid: "wxapp".into(),
                authorization_code: "queryauthcode@@@1".into(),
                authorization_code_expired_time: 1700003600,
                pre_auth_code: "preauthcode@@@1".into(),
            },
        ),
        (
            [
                base("updateauthorized"),
                vec![
                    ("AuthorizerAppid", t("wxapp")),
                    ("AuthorizationCode", t("queryauthcode@@@2")),
                    ("AuthorizationCodeExpiredTime", XmlValue::Number(1700003601)),
                    ("PreAuthCode", t("preauthcode@@@2")),
                ],
            ]
            .concat(),
            Event::UpdateAuthorized {
                authorizer_appid: "wxapp".into(),
                authorization_code: "queryauthcode@@@2".into(),
                authorization_code_expired_time: 1700003601,
                pre_auth_code: "preauthcode@@@2".into(),
            },
        ),
        (
            [base("unauthorized"), vec![("AuthorizerAppid", t("wxapp"))]].concat(),
            Event::Unauthorized { authorizer_appid: "wxapp".into() },
        ),
        (
            [
                base("notify_icpfiling_verify_result"),
                vec![("task_id", t("T1")), ("verify_appid", t("wxapp")), ("result", XmlValue::Number(3))],
            ]
            .concat(),
            Event::IcpFilingVerifyResult {
                task_id: "T1".into(),
                verify_appid: "wxapp".into(),
                result: 3,
                along_with_auth_result: None,
            },
        ),
        (
            [
                base("notify_icpfiling_verify_result"),
                vec![
                    ("task_id", t("T2")),
                    ("verify_appid", t("wxapp")),
                    ("result", XmlValue::Number(2)),
                    ("along_with_auth_result", XmlValue::Number(9)),
                ],
            ]
            .concat(),
            Event::IcpFilingVerifyResult {
                task_id: "T2".into(),
                verify_appid: "wxapp".into(),
                result: 2,
                along_with_auth_result: Some(9),
            },
        ),
        (
            [
                base("notify_apply_icpfiling_result"),
                vec![("authorizer_appid", t("wxapp")), ("beian_status", XmlValue::Number(6))],
            ]
            .concat(),
            Event::ApplyIcpFilingResult { authorizer_appid: "wxapp".into(), beian_status: 6 },
        ),
        (
            [
                base("notify_3rd_wxa_auth_and_icp"),
                vec![("procedure_id", t("P1")), ("procedure_status", XmlValue::Number(26))],
            ]
            .concat(),
            Event::AuthAndIcpResult { procedure_id: "P1".into(), procedure_status: 26 },
        ),
        (
            [base("notify_3rd_wxa_wxverify"), vec![("appid", t("wxapp"))]].concat(),
            Event::Other {
                info_type: "notify_3rd_wxa_wxverify".into(),
                fields: vec![
                    ("AppId".into(), "wxcomp".into()),
                    ("CreateTime".into(), "1700000000".into()),
                    ("InfoType".into(), "notify_3rd_wxa_wxverify".into()),
                    ("appid".into(), "wxapp".into()),
                ],
            },
        ),
    ];
    for (fields, want) in cases {
        let (query, body) = push(&fields);
        assert_eq!(r.open_query(&query, &body).expect("open_query"), want);
        let got = r.open(&query["msg_signature"], &query["timestamp"], &query["nonce"], &body).expect("open");
        assert_eq!(got, want);
    }
}

#[test]
fn events_reject_bad_signature_and_foreign_messages() {
    let r = receiver();
    let (mut query, body) =
        push(&[("AppId", t("wxcomp")), ("InfoType", t("unauthorized")), ("AuthorizerAppid", t("wxapp"))]);
    assert_eq!(
        r.open_query(&query, &body).expect("genuine"),
        Event::Unauthorized { authorizer_appid: "wxapp".into() }
    );

    // tampered signature, timestamp, or a receiver with another token
    let mut bad = query.clone();
    bad.insert("msg_signature".into(), "0".repeat(40));
    assert!(matches!(
        r.open_query(&bad, &body),
        Err(Error::Crypt(beian_wxcrypt::WxCryptError::BadSignature))
    ));
    let mut bad = query.clone();
    bad.insert("timestamp".into(), "1700000001".into());
    assert!(matches!(
        r.open_query(&bad, &body),
        Err(Error::Crypt(beian_wxcrypt::WxCryptError::BadSignature))
    ));
    let other_token = EventReceiver::new("othertoken", KEY, "wxcomp").expect("receiver");
    assert!(matches!(other_token.open_query(&query, &body), Err(Error::Crypt(_))));

    // a receiver for another component cannot read it even with the right token
    let other_app = EventReceiver::new("msgtoken", KEY, "wxother").expect("receiver");
    assert!(matches!(
        other_app.open_query(&query, &body),
        Err(Error::Crypt(beian_wxcrypt::WxCryptError::WrongAppId(_)))
    ));

    // malformed requests
    assert!(matches!(r.open_query(&query, "<xml><AppId>wxcomp</AppId></xml>"), Err(Error::Decode(_))));
    query.remove("nonce");
    assert!(matches!(r.open_query(&query, &body), Err(Error::Decode(_))));
    assert!(matches!(EventReceiver::new("t", "short", "wxcomp"), Err(Error::Crypt(_))));
}

#[test]
fn events_with_missing_or_bad_fields_are_decode_errors() {
    let r = receiver();
    let (query, body) =
        push(&[("InfoType", t("notify_apply_icpfiling_result")), ("authorizer_appid", t("wxapp"))]);
    assert!(matches!(r.open_query(&query, &body), Err(Error::Decode(m)) if m.contains("beian_status")));
    let (query, body) = push(&[
        ("InfoType", t("notify_icpfiling_verify_result")),
        ("task_id", t("T")),
        ("verify_appid", t("wx")),
        ("result", t("three")),
    ]);
    assert!(matches!(r.open_query(&query, &body), Err(Error::Decode(m)) if m.contains("result")));
    assert_eq!(
        Event::parse("<xml><MsgType>text</MsgType></xml>").expect("parse"),
        Event::Other { info_type: String::new(), fields: vec![("MsgType".into(), "text".into())] }
    );
}
