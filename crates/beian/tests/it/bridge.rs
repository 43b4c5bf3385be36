//! The HTTP bridge from the platform's side: `/api/authority/events` (signatures, key
//! rotation, the replay window, replayed, reordered and late events, bad input), and the
//! gateway's outcomes for the job that submits (accepted, retried, dead-lettered for
//! operators).

use crate::authority_contract::{bridge_config, bridge_keys};
use crate::support::*;
use beian_authority_bridge::protocol::unix_now;
use beian_core::platform::Role;
use beian_service::Actor;
use beian_testkit::servers::{HttpReceiver, Reply};
use serde_json::json;

both!(events_are_applied_once_or_refused);

/// POST `body` to `/api/authority/events` with the given headers: (status, JSON answer).
async fn post_raw(app: &TestApp, body: &[u8], headers: &[(&str, String)]) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new().post(app.url("/api/authority/events")).body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let r = req.send().await.expect("send");
    (r.status().as_u16(), r.json().await.unwrap_or(serde_json::Value::Null))
}

fn signed(key: &str, ts: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    bridge_keys().sign(key, ts, body).expect("a configured key").to_vec()
}

async fn send(app: &TestApp, key: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let body = serde_json::to_vec(body).expect("json");
    post_raw(app, &body, &signed(key, unix_now(), &body)).await
}

async fn state(app: &TestApp, appid: &str) -> (i64, i64) {
    let i = app.svc.filings().entrance_info(appid).await.expect("info");
    (i.status, i.sms_verify_status)
}

/// Applied, approved by the platform: waiting for the SMS verification at the authority.
async fn at_authority(app: &TestApp, appid: &str, n: u32) -> u32 {
    register(app, appid, n).await;
    apply_personal(app, appid, n).await;
    app.svc.filings().platform_approve(&Actor::new("test", "r"), appid).await.expect("approve");
    app.svc.filings().order(appid).await.expect("order").expect("order").order.authority_round
}

async fn events_are_applied_once_or_refused(b: Backend) {
    // No bridge answers at this address: submissions are retried in the background, which
    // is not what this test looks at.
    let app = TestApp::start_bridge(b, bridge_config("http://127.0.0.1:9")).await;
    let round = at_authority(&app, "wxbr0001", 71).await;
    assert_eq!(state(&app, "wxbr0001").await, (4, 1));
    let verified =
        json!({"event_id": "ev-1", "appid": "wxbr0001", "round": round, "event": {"kind": "sms_verified"}});
    let body = serde_json::to_vec(&verified).expect("json");
    let headers = signed("k1", unix_now(), &body);

    // Badly signed: refused, nothing applied.
    let mut forged = headers.clone();
    forged[2].1 = bridge_keys().sign("k1", unix_now(), b"other").expect("sign")[2].1.clone();
    assert_eq!(post_raw(&app, &body, &forged).await.0, 401, "a signature over another body");
    let mut unknown = headers.clone();
    unknown[0].1 = "k9".into();
    assert_eq!(post_raw(&app, &body, &unknown).await.0, 401, "an unknown key id");
    assert_eq!(post_raw(&app, &body, &[]).await.0, 401, "no signature");
    let (st, answer) = post_raw(&app, &body, &signed("k1", unix_now() - 301, &body)).await;
    assert_eq!(st, 400, "outside the replay window: {answer}");
    assert!(answer["errmsg"].as_str().is_some_and(|m| m.contains("时间戳")), "{answer}");
    assert_eq!(state(&app, "wxbr0001").await, (4, 1), "nothing applied");

    // Applied once; the same request replayed within the window is a duplicate.
    let (st, answer) = post_raw(&app, &body, &headers).await;
    assert_eq!((st, answer["receipt"].as_str()), (200, Some("applied")), "{answer}");
    assert_eq!(state(&app, "wxbr0001").await, (4, 2));
    let (st, answer) = post_raw(&app, &body, &headers).await;
    assert_eq!((st, answer["receipt"].as_str()), (200, Some("duplicate")), "{answer}");
    // Redelivered signed with the other key (rotation): still the same event.
    let (st, answer) = send(&app, "k2", &verified).await;
    assert_eq!((st, answer["receipt"].as_str()), (200, Some("duplicate")), "{answer}");

    // Reordered and late: the window closing after verification, an event of an old round.
    let expired =
        json!({"event_id": "ev-2", "appid": "wxbr0001", "round": round, "event": {"kind": "sms_expired"}});
    let (st, answer) = send(&app, "k2", &expired).await;
    assert_eq!((st, answer["receipt"].as_str()), (200, Some("ignored")), "{answer}");
    let old = json!({"event_id": "ev-3", "appid": "wxbr0001", "round": round + 7, "event": {"kind": "sms_verified"}});
    let (st, answer) = send(&app, "k1", &old).await;
    assert_eq!((st, answer["receipt"].as_str()), (200, Some("ignored")), "{answer}");
    assert_eq!(state(&app, "wxbr0001").await, (4, 2), "neither changed the order");

    // Bad input: 400 with a field path or a Chinese reason, never 500, nothing changed.
    let (st, answer) = post_raw(&app, b"not json", &signed("k1", unix_now(), b"not json")).await;
    assert_eq!(st, 400, "{answer}");
    let (st, answer) =
        send(&app, "k1", &json!({"event_id": "ev-4", "appid": "wxbr0001", "round": round, "event": {"kind": "approved_maybe"}}))
            .await;
    assert_eq!((st, answer["field"].as_str()), (400, Some("event.kind")), "{answer}");
    let (st, answer) =
        send(&app, "k1", &json!({"event_id": "ev-5", "appid": "wxbr0001", "round": "x"})).await;
    assert_eq!((st, answer["field"].as_str()), (400, Some("round")), "{answer}");
    let wrong = json!({"event_id": "ev-6", "appid": "wxbr0001", "round": round, "event": {
        "kind": "approved", "subject_number": "京ICP备2026999999号", "service_number": "京ICP备2026999999号-1X"}});
    let (st, answer) = send(&app, "k1", &wrong).await;
    assert_eq!(st, 400, "numbers of another province: {answer}");
    assert!(
        answer["errmsg"].as_str().is_some_and(|m| m.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))),
        "{answer}"
    );
    let nobody =
        json!({"event_id": "ev-7", "appid": "wxnobody", "round": 1, "event": {"kind": "sms_verified"}});
    assert_eq!(send(&app, "k1", &nobody).await.0, 400, "an unknown mini program");
    let order = app.svc.filings().order("wxbr0001").await.expect("order").expect("order").order;
    assert_eq!((state(&app, "wxbr0001").await, order.service_record_number), ((4, 2), None));
    // The refused approval was not recorded: the same event id with the right numbers applies.
    let ctx = app.svc.filings().number_context("wxbr0001").await.expect("ctx").expect("subject");
    let subject = beian_core::numbering::subject_number(&ctx.province_abbr, 2026, 42);
    let right = json!({"event_id": "ev-6", "appid": "wxbr0001", "round": round, "event": {
        "kind": "approved", "subject_number": subject,
        "service_number": beian_core::numbering::service_number(&subject, 1)}});
    let (st, answer) = send(&app, "k1", &right).await;
    assert_eq!((st, answer["receipt"].as_str()), (200, Some("applied")), "{answer}");
    assert_eq!(state(&app, "wxbr0001").await.0, 6);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_operation_is_dead_lettered_for_operators_and_a_busy_bridge_is_retried() {
    // The bridge refuses the first operation it is sent (400 with its reason) and is busy
    // (503) for the second, then takes it.
    let bridge = HttpReceiver::start(vec![
        Reply {
            status: 400,
            content_type: "application/json",
            body: r#"{"errcode":40001,"errmsg":"省份代码不在接入范围内"}"#.as_bytes().to_vec(),
        },
        Reply { status: 503, content_type: "text/plain", body: b"busy".to_vec() },
        Reply::text("{}"),
    ])
    .await;
    let app = TestApp::start_bridge(Backend::Sqlite, bridge_config(&bridge.url(""))).await;
    let operator = app
        .svc
        .review()
        .create_staff(&Actor::new("test", "setup"), "运维", Role::Operator)
        .await
        .expect("staff")
        .1;
    at_authority(&app, "wxbr0002", 72).await;
    eventually("the refused submission to be dead-lettered", || async {
        let (_, jobs) = staff_api(&app, "GET", "/api/operator/jobs?state=dead", &operator, json!(null)).await;
        jobs.to_string().contains("省份代码不在接入范围内")
    })
    .await;
    // And on the operators' job page in the staff console.
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let login = http
        .post(app.url("/admin/login"))
        .form(&[("token", operator.as_str())])
        .send()
        .await
        .expect("sign in");
    assert_eq!(login.status().as_u16(), 303);
    let cookie =
        login.headers()["set-cookie"].to_str().expect("cookie").split(';').next().expect("pair").to_string();
    let page = http.get(app.url("/admin/ops/jobs")).header("cookie", cookie).send().await.expect("jobs page");
    let page = page.text().await.expect("page");
    assert!(page.contains("死信") && page.contains("省份代码不在接入范围内"), "{page}");

    // Signed as the protocol says.
    let req = bridge.seen().into_iter().next().expect("a request");
    assert_eq!(req.path, "/v1/operations");
    let sig = |h: &str| req.headers.get(&h.to_ascii_lowercase()).cloned();
    assert_eq!(sig("X-Beian-Key-Id").as_deref(), Some("k1"));
    let ts: i64 = sig("X-Beian-Timestamp").expect("timestamp").parse().expect("unix seconds");
    assert_eq!(
        sig("X-Beian-Signature"),
        Some(beian_authority_bridge::protocol::signature(crate::authority_contract::SECRET_1, ts, &req.body))
    );
    let envelope: serde_json::Value = serde_json::from_slice(&req.body).expect("json");
    assert_eq!(
        envelope["operation_id"],
        format!("wxbr0002:new_subject_and_service:{}", envelope["operation"]["round"])
    );
    assert_eq!(
        (envelope["version"].as_i64(), envelope["operation"]["kind"].as_str()),
        (Some(1), Some("new_subject_and_service"))
    );

    // A busy bridge: the job backs off (10 s on the platform's clock) and is delivered.
    at_authority(&app, "wxbr0003", 73).await;
    eventually("a first, failed attempt", || async { bridge.seen().len() >= 2 }).await;
    app.clock.advance(chrono::Duration::seconds(11));
    eventually("the retried submission", || async { bridge.seen().len() >= 3 }).await;
    let last: serde_json::Value = serde_json::from_slice(&bridge.seen()[2].body).expect("json");
    assert_eq!(last["operation"]["appid"], "wxbr0003");
    app.stop().await;
}
