//! The host platform's sync API over HTTP (`/api/platform/v1/events`, `/reconcile`):
//! signatures, key rotation, the replay window, events applied once, bad bodies with field
//! paths; an admin change on a filed mini program shown as 负责人须变更 in the console and on
//! the staff dashboard; reconciliation's differences; the document's worked example.

use crate::console::Browser;
use crate::public_query::file;
use crate::support::*;
use beian_authority_bridge::protocol::{signature, unix_now, Keys};
use beian_core::platform::{MemberRole, Role};
use beian_service::Actor;
use serde_json::{json, Value};

pub const SECRET_1: &str = "platform-secret-one-0123456789abcdef";
pub const SECRET_2: &str = "platform-secret-two-0123456789abcdef";

/// The keys every test app serves the sync API with (`p1`, `p2`).
pub fn api_config() -> beian::platform_api::PlatformApiConfig {
    let keys =
        Keys::new([("p1".to_string(), SECRET_1.to_string()), ("p2".to_string(), SECRET_2.to_string())])
            .expect("keys");
    beian::platform_api::PlatformApiConfig { keys, replay_window_secs: 300 }
}

both!(
    events_are_signed_and_applied_once,
    an_admin_change_after_filing_requires_a_principal_change,
    reconciliation_answers_the_differences
);

/// POST `body` to `path` with the given headers: (status, JSON answer).
async fn post_raw(app: &TestApp, path: &str, body: &[u8], headers: &[(&str, String)]) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(app.url(path)).body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let r = req.send().await.expect("send");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn signed(key: &str, ts: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    api_config().keys.sign(key, ts, body).expect("a configured key").to_vec()
}

async fn send(app: &TestApp, path: &str, key: &str, body: &Value) -> (u16, Value) {
    let body = serde_json::to_vec(body).expect("json");
    post_raw(app, path, &body, &signed(key, unix_now(), &body)).await
}

const EVENTS: &str = "/api/platform/v1/events";
const RECONCILE: &str = "/api/platform/v1/reconcile";

fn admin(n: u32) -> Value {
    json!({"name": format!("管理员{n}"), "id_number": admin_id(n), "mobile": admin_mobile(n)})
}

fn upsert(event_id: &str, appid: &str, name: &str, n: u32) -> Value {
    json!({"version": 1, "event_id": event_id, "event": {
        "type": "mini_program_upserted", "appid": appid, "name": name,
        "flags": {"basic_info_filled": true, "category_filled": true, "certified": true},
        "listed": false, "owner": "", "admin": admin(n)}})
}

async fn name_of(app: &TestApp, appid: &str) -> Option<String> {
    app.svc.mini_programs().mini_program(appid).await.ok().map(|m| m.name)
}

async fn events_are_signed_and_applied_once(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    let first = upsert("host-ev-1", "wxsync0001", "同步小程序", 81);
    let body = serde_json::to_vec(&first).expect("json");
    let headers = signed("p1", unix_now(), &body);

    // Badly signed, unsigned, unknown key, outside the window either way: 401, nothing applied.
    let mut forged = headers.clone();
    forged[2].1 = signed("p1", unix_now(), b"another body")[2].1.clone();
    for (what, h) in [
        ("a signature over another body", forged),
        ("no signature", vec![]),
        ("an unknown key", {
            let mut h = headers.clone();
            h[0].1 = "p9".into();
            h
        }),
        ("late", signed("p1", unix_now() - 301, &body)),
        ("early", signed("p1", unix_now() + 301, &body)),
    ] {
        let (st, answer) = post_raw(&app, EVENTS, &body, &h).await;
        assert_eq!(st, 401, "{what}: {answer}");
        assert!(answer["errmsg"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {answer}");
    }
    let (_, late) = post_raw(&app, EVENTS, &body, &signed("p1", unix_now() - 301, &body)).await;
    assert_eq!(late["field"], "X-Beian-Timestamp", "{late}");
    assert!(late["errmsg"].as_str().is_some_and(|m| m.contains("时间戳")), "{late}");
    assert_eq!(name_of(&app, "wxsync0001").await, None, "nothing applied");

    // Applied once; the same request replayed answers the first outcome.
    let (st, answer) = post_raw(&app, EVENTS, &body, &headers).await;
    assert_eq!((st, answer["outcome"].as_str()), (200, Some("registered")), "{answer}");
    assert_eq!(answer["event_id"], "host-ev-1");
    let (st, again) = post_raw(&app, EVENTS, &body, &headers).await;
    assert_eq!((st, &again), (200, &answer), "a replay answers the first outcome");
    // The same event id with another body (signed with the rotated key): still the first
    // outcome, and not applied.
    let (st, again) = send(&app, EVENTS, "p2", &upsert("host-ev-1", "wxsync0001", "改过的名称", 81)).await;
    assert_eq!((st, again["outcome"].as_str()), (200, Some("registered")), "{again}");
    assert_eq!(name_of(&app, "wxsync0001").await.as_deref(), Some("同步小程序"));
    // A new event id is a new event.
    let (st, renamed) = send(&app, EVENTS, "p2", &upsert("host-ev-2", "wxsync0001", "改过的名称", 81)).await;
    assert_eq!((st, renamed["outcome"].as_str()), (200, Some("updated")), "{renamed}");
    assert_eq!(name_of(&app, "wxsync0001").await.as_deref(), Some("改过的名称"));

    // A refusal is an outcome too, answered again on replay.
    let deleted_unknown =
        json!({"version": 1, "event_id": "host-ev-3", "event": {"type": "deleted", "appid": "wxnobody01"}});
    let (st, refused) = send(&app, EVENTS, "p1", &deleted_unknown).await;
    assert_eq!((st, refused["outcome"].as_str()), (200, Some("refused")), "{refused}");
    assert!(refused["errcode"].as_i64().is_some_and(|c| c != 0), "{refused}");
    assert_eq!(send(&app, EVENTS, "p1", &deleted_unknown).await.1, refused);

    // Bad bodies: 400 with the field's path, never 500.
    let (st, answer) = post_raw(&app, EVENTS, b"not json", &signed("p1", unix_now(), b"not json")).await;
    assert_eq!(st, 400, "{answer}");
    for (body, field) in [
        (
            json!({"version": 1, "event_id": "e4", "event": {"type": "renamed", "appid": "wxsync0001"}}),
            "event.type",
        ),
        (
            json!({"version": 1, "event_id": "", "event": {"type": "listed", "appid": "wxsync0001"}}),
            "event_id",
        ),
        (
            json!({"version": 2, "event_id": "e5", "event": {"type": "listed", "appid": "wxsync0001"}}),
            "version",
        ),
        (json!({"version": 1, "event_id": "e6", "event": {"type": "listed"}}), "event"),
        (
            json!({"version": 1, "event_id": "e7", "event": {"type": "mini_program_upserted", "appid": "wxsync0001",
                "name": "x", "flags": {"basic_info_filled": "yes"}, "listed": false, "owner": ""}}),
            "event.flags.basic_info_filled",
        ),
        (
            json!({"version": 1, "event_id": "e8", "event": {"type": "listed", "appid": "wxsync0001"}, "extra": 1}),
            "extra",
        ),
    ] {
        let (st, answer) = send(&app, EVENTS, "p1", &body).await;
        assert_eq!((st, answer["field"].as_str()), (400, Some(field)), "{body}: {answer}");
        assert!(answer["errmsg"].as_str().is_some_and(|m| m.contains("请求")), "{answer}");
    }
    assert_eq!(name_of(&app, "wxsync0001").await.as_deref(), Some("改过的名称"));
    app.stop().await;
}

/// A new account `user` with `role` in `appid`, signed in to the console.
pub(crate) async fn signed_in(app: &TestApp, appid: &str, user: &str, role: MemberRole) -> Browser {
    let actor = Actor::new("test", "c");
    let acc = app.svc.accounts().create_account(&actor, user, user, "secret-pass-1").await.expect("account");
    app.svc.accounts().grant(&actor, appid, &acc.id, role, &[]).await.expect("grant");
    let mut b = Browser::new(app);
    assert_eq!(b.login(user, "secret-pass-1").await.0, 303);
    b
}

async fn an_admin_change_after_filing_requires_a_principal_change(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    let appid = "wxsync0002";
    file(&app, appid, 82).await;
    let developer = signed_in(&app, appid, "dev82", MemberRole::Admin).await;
    let (st, page, _) = developer.get(&format!("/console/apps/{appid}")).await;
    assert_eq!(st, 200);
    assert!(!page.contains("负责人须变更"), "not before the admin changes");

    let changed = |id: &str, n: u32| {
        let mut a = admin(n);
        a["type"] = json!("admin_changed");
        a["appid"] = json!(appid);
        json!({"version": 1, "event_id": id, "event": a})
    };
    let (st, answer) = send(&app, EVENTS, "p1", &changed("adm-1", 83)).await;
    assert_eq!(st, 200, "{answer}");
    assert_eq!(
        (answer["outcome"].as_str(), answer["admin_changed"].as_bool(), answer["filed"].as_bool()),
        (Some("updated"), Some(true), Some(true)),
        "{answer}"
    );
    // The console's status page: the banner, linking to the change filing.
    let (st, page, _) = developer.get(&format!("/console/apps/{appid}")).await;
    assert_eq!(st, 200);
    assert!(page.contains("id=\"principal-change\"") && page.contains("负责人须变更"), "{page}");
    assert!(page.contains(&format!("href=\"/console/apps/{appid}/change\"")), "{page}");
    // The developer is told: a 站内信, and a text to the (new) admin.
    let (messages, _) = app.svc.mini_programs().messages(appid, 10).await.expect("messages");
    assert!(messages.iter().any(|m| m.title == "负责人须变更"), "{messages:?}");
    eventually("the text to the new admin", || async {
        let out = app.svc.job_queue().sms_outbox(Some(&admin_mobile(83)), 10).await.expect("outbox");
        out.iter().any(|m| m.text.contains("负责人须变更"))
    })
    .await;
    // The staff dashboard lists it.
    let operator = crate::security_staff::staff(&app, "运维", Role::Operator).await;
    let cookie = staff_cookie(&app, &operator).await;
    let (st, _, dash) = staff_get(&app, "/admin/dashboard", &cookie).await;
    assert_eq!(st, 200);
    assert!(dash.contains("负责人须变更（1）") && dash.contains(appid), "{dash}");

    // The admin changes back to the filed principal: the mark is gone.
    let (st, answer) = send(&app, EVENTS, "p1", &changed("adm-2", 82)).await;
    assert_eq!((st, answer["filed"].as_bool()), (200, Some(true)), "{answer}");
    let (_, page, _) = developer.get(&format!("/console/apps/{appid}")).await;
    assert!(!page.contains("id=\"principal-change\""), "{page}");
    let (_, _, dash) = staff_get(&app, "/admin/dashboard", &cookie).await;
    assert!(dash.contains("负责人须变更（0）"), "{dash}");
    // A replay of the first change is answered, not applied again.
    let (_, replay) = send(&app, EVENTS, "p1", &changed("adm-1", 83)).await;
    assert_eq!(replay["admin_changed"].as_bool(), Some(true));
    let (_, page, _) = developer.get(&format!("/console/apps/{appid}")).await;
    assert!(!page.contains("id=\"principal-change\""), "a replay does not mark again");
    app.stop().await;
}

/// lowercase hex SHA-256 of `name\nid_number\nmobile` (docs/platform-api.md), computed here
/// independently of beian.
fn fingerprint(n: u32) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(format!("管理员{n}\n{}\n{}", admin_id(n), admin_mobile(n)).as_bytes()))
}

async fn reconciliation_answers_the_differences(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    for (appid, n) in [("wxrec0001", 84), ("wxrec0002", 85), ("wxrec0003", 86)] {
        let (st, a) =
            send(&app, EVENTS, "p1", &upsert(&format!("r-{appid}"), appid, &format!("核对{n}"), n)).await;
        assert_eq!((st, a["outcome"].as_str()), (200, Some("registered")), "{a}");
    }
    let flags = json!({"basic_info_filled": true, "category_filled": true, "certified": true});
    let list = json!({"version": 1, "mini_programs": [
        // The same as beian's, the admin by fingerprint.
        {"appid": "wxrec0001", "name": "核对84", "flags": flags, "listed": false, "admin_fingerprint": fingerprint(84)},
        // Renamed, certified lost, listed, and another admin (in full).
        {"appid": "wxrec0002", "name": "新名称", "flags": {"basic_info_filled": true, "category_filled": true, "certified": false},
         "listed": true, "admin": admin(87)},
        // Unknown to beian.
        {"appid": "wxrec0099", "name": "新小程序", "flags": flags, "listed": false},
    ]});
    let (st, answer) = send(&app, RECONCILE, "p2", &list).await;
    assert_eq!(st, 200, "{answer}");
    assert_eq!(answer["unknown_to_beian"], json!(["wxrec0099"]), "{answer}");
    assert_eq!(answer["unknown_to_platform"], json!(["wxrec0003"]), "{answer}");
    let diffs = answer["differences"].as_array().expect("differences");
    assert_eq!(diffs.len(), 1, "{answer}");
    assert_eq!(diffs[0]["appid"], "wxrec0002");
    let fields: Vec<&str> =
        diffs[0]["fields"].as_array().expect("fields").iter().filter_map(|f| f["field"].as_str()).collect();
    assert_eq!(fields, ["name", "flags.certified", "listed", "admin"], "{answer}");
    assert_eq!(diffs[0]["fields"][0], json!({"field": "name", "platform": "新名称", "beian": "核对85"}));
    assert!(
        !answer.to_string().contains(&admin_id(87)) && !answer.to_string().contains(&admin_id(85)),
        "no identities echoed"
    );
    // Nothing applied.
    assert_eq!(name_of(&app, "wxrec0002").await.as_deref(), Some("核对85"));
    assert_eq!(name_of(&app, "wxrec0099").await, None);

    // Bad lists: field paths; unsigned: 401.
    let dup = json!({"version": 1, "mini_programs": [
        {"appid": "wxrec0001", "name": "a", "flags": flags, "listed": false},
        {"appid": "wxrec0001", "name": "a", "flags": flags, "listed": false}]});
    let (st, a) = send(&app, RECONCILE, "p1", &dup).await;
    assert_eq!((st, a["field"].as_str()), (400, Some("mini_programs[1].appid")), "{a}");
    let bad = json!({"version": 1, "mini_programs": [{"appid": "wxrec0001", "name": "a", "flags": flags}]});
    let (st, a) = send(&app, RECONCILE, "p1", &bad).await;
    assert_eq!((st, a["field"].as_str()), (400, Some("mini_programs[0]")), "{a}");
    let body = serde_json::to_vec(&list).expect("json");
    assert_eq!(post_raw(&app, RECONCILE, &body, &[]).await.0, 401);
    app.stop().await;
}

/// The worked example in docs/platform-api.md: its signature is what the protocol computes.
#[test]
fn the_documented_example_signature_is_recomputed() {
    let doc = include_str!("../../../../docs/platform-api.md");
    let between = |start: &str, end: &str| -> String {
        let from = doc.find(start).map(|i| i + start.len()).expect(start);
        let to = doc[from..].find(end).expect(end) + from;
        doc[from..to].to_string()
    };
    let secret = between("<!-- example-secret -->`", "`");
    let ts: i64 = between("<!-- example-timestamp -->`", "`").parse().expect("timestamp");
    let body = between("<!-- example-body -->\n```json\n", "\n```");
    let sig = between("<!-- example-signature -->`", "`");
    assert_eq!(signature(&secret, ts, body.as_bytes()), sig);
    // And the body is an event the API reads.
    let v: Value = serde_json::from_str(&body).expect("the example body is JSON");
    assert_eq!(v["version"], 1);
    let fp = between("<!-- example-fingerprint-input -->`", "`").replace("\\n", "\n");
    let fp_hex = between("<!-- example-fingerprint -->`", "`");
    let ours = beian_service::host::admin_fingerprint(&beian_core::model::Person {
        name: fp.split('\n').next().unwrap_or_default().into(),
        id_number: fp.split('\n').nth(1).unwrap_or_default().into(),
        mobile: fp.split('\n').nth(2).unwrap_or_default().into(),
    });
    assert_eq!(ours, fp_hex);
}

/// The event schema names every event type beian reads, with the tag it serialises with.
#[test]
fn the_event_schema_names_every_event_type() {
    use beian_core::model::Person;
    use beian_core::state::ReadinessFlags;
    use beian_ports::host::PlatformEvent;
    let schema: Value =
        serde_json::from_str(include_str!("../../../../docs/schemas/platform/event.json")).expect("schema");
    let mut named: Vec<String> = schema["$defs"]["event"]["oneOf"]
        .as_array()
        .expect("oneOf")
        .iter()
        .filter_map(|v| v["properties"]["type"]["const"].as_str().map(str::to_string))
        .collect();
    named.sort();
    let appid = String::from("wx");
    let person = Person { name: String::new(), id_number: String::new(), mobile: String::new() };
    let every = [
        PlatformEvent::MiniProgramUpserted {
            appid: appid.clone(),
            name: String::new(),
            flags: ReadinessFlags::default(),
            listed: false,
            owner: String::new(),
            admin: None,
        },
        PlatformEvent::AdminChanged { appid: appid.clone(), admin: person },
        PlatformEvent::Listed { appid: appid.clone() },
        PlatformEvent::Delisted { appid: appid.clone() },
        PlatformEvent::Deleted { appid },
    ];
    let mut kinds: Vec<String> = every
        .iter()
        .map(|e| serde_json::to_value(e).expect("json")["type"].as_str().expect("tag").to_string())
        .collect();
    kinds.sort();
    assert_eq!(named, kinds);
    for e in &every {
        assert_eq!(serde_json::to_value(e).expect("json")["type"], e.kind());
    }
    for f in ["reconcile.json", "answers.json"] {
        let text = std::fs::read_to_string(format!(
            "{}/../../docs/schemas/platform/{f}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("schema file");
        serde_json::from_str::<Value>(&text).expect("a JSON schema");
    }
}
