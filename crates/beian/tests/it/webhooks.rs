//! Webhooks through the entries people use: the console's settings page, test delivery,
//! delivery log and 重新发送 (a receiver that answers 500, then 200), the events a webhook
//! subscribes to, the `v1` signature over the timestamp, one developer never seeing
//! another's webhook; and providers setting their own event URL and events through the
//! beian extension of the component API.

use crate::console::developer;
use crate::support::*;
use beian_core::model::AuditEntity;
use beian_core::platform::Role;
use beian_service::Actor;
use beian_testkit::servers::{HttpReceiver, Reply};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

both!(developer_webhook_in_the_console, provider_event_config);

/// The receiver's check (docs/webhooks.md): HMAC-SHA256(secret, timestamp + "." + body).
fn signed(secret: &str, ts: &str, body: &[u8], sig: &str) -> bool {
    let Some(hex_sig) = sig.strip_prefix("v1=") else { return false };
    let Ok(sig) = hex::decode(hex_sig) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    html.split(start).nth(1).and_then(|s| s.split(end).next()).unwrap_or_default()
}

async fn developer_webhook_in_the_console(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    let appid = "wxwh0001";
    let dev = developer(&app, appid, 81).await;
    let other = developer(&app, "wxwh0002", 82).await;
    let fail_once = Reply { status: 500, content_type: "text/plain", body: b"busy".to_vec() };
    let rx = HttpReceiver::start(vec![fail_once, Reply::text("ok")]).await;
    let hook = rx.url("/hook");
    let page = format!("/console/apps/{appid}/webhook");

    let (st, html, _) = dev.get(&page).await;
    assert_eq!(st, 200, "{html}");
    // Addresses into the node's network are refused, said in Chinese; nothing is saved.
    let (st, _, body) = dev
        .post(&page, &html, &[("url", "https://10.0.0.7/hook"), ("all_events", "1"), ("enabled", "1")])
        .await;
    assert_eq!(st, 400);
    assert!(body.contains("不能指向内网地址"), "{body}");
    let (st, _, body) = dev
        .post(&page, &html, &[("url", "http://example.com/hook"), ("all_events", "1"), ("enabled", "1")])
        .await;
    assert_eq!(st, 400);
    assert!(body.contains("https://"), "{body}");
    assert!(app.svc.mini_programs().webhook_view(appid).await.expect("view").is_none());

    // Saved with one event: the secret is generated and shown once.
    let (st, _, body) = dev
        .post(
            &page,
            &html,
            &[("url", &hook), ("secret_mode", "keep"), ("event", "platform_rejected"), ("enabled", "1")],
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let secret = between(&body, "<code id=\"secret\">", "<").to_string();
    assert!(secret.starts_with("whsec_") && secret.len() == 38, "{secret}");
    let (_, html, _) = dev.get(&page).await;
    assert!(!html.contains(&secret), "never shown again");
    assert!(html.contains(&secret[secret.len() - 4..]), "the last 4 are shown");

    // Another developer sees neither the settings nor the log, and cannot retry a delivery.
    assert_eq!(other.get(&page).await.0, 403);
    assert_eq!(other.get(&format!("{page}/deliveries")).await.0, 403);

    // A test delivery: the receiver answers 500, the log says so and offers 重新发送.
    let (st, loc, _) = dev.post(&format!("{page}/test"), &html, &[]).await;
    assert_eq!((st, loc.as_str()), (303, format!("{page}/deliveries").as_str()));
    eventually("the failed delivery in the log", || async {
        dev.get(&format!("{page}/deliveries")).await.1.contains("HTTP 500")
    })
    .await;
    let (_, log, _) = dev.get(&format!("{page}/deliveries")).await;
    assert!(log.contains("失败，等待重试") && log.contains("重新发送"), "{log}");
    assert!(!log.contains("busy"), "the receiver's answer body is not shown: {log}");
    let job_id = between(&log, "id=\"delivery-", "\"").to_string();
    let retry = format!("{page}/deliveries/{job_id}/retry");

    // The other developer cannot retry it through their own mini program either.
    let (_, other_log, _) = other.get("/console/apps/wxwh0002/webhook/deliveries").await;
    assert!(!other_log.contains(&format!("delivery-{job_id}")));
    let (st, _, _) = other
        .post(&format!("/console/apps/wxwh0002/webhook/deliveries/{job_id}/retry"), &other_log, &[])
        .await;
    assert_eq!(st, 400);

    let (st, _, _) = dev.post(&retry, &log, &[]).await;
    assert_eq!(st, 303);
    eventually("the retried delivery succeeds", || async {
        dev.get(&format!("{page}/deliveries")).await.1.contains("已送达")
    })
    .await;
    let seen = rx.seen();
    assert_eq!(seen.len(), 2, "one failure, one retry");
    for r in &seen {
        let ts = &r.headers["x-beian-timestamp"];
        let sig = &r.headers["x-beian-signature"];
        assert!(signed(&secret, ts, &r.body, sig), "signed over timestamp.body");
        let later = (ts.parse::<i64>().expect("numeric") + 600).to_string();
        assert!(!signed(&secret, &later, &r.body, sig), "a changed timestamp does not verify");
        assert_eq!(r.headers["x-beian-event"], "test");
        assert_eq!(r.json()["template"], "test");
    }
    assert_eq!(seen[0].headers["x-beian-event-id"], seen[1].headers["x-beian-event-id"], "the same delivery");
    // Done deliveries are not offered again.
    let (st, _, _) = dev.post(&retry, &log, &[]).await;
    assert_eq!(st, 400);

    // Subscribed events only: the application's notice is not sent, the rejection is.
    apply_personal(&app, appid, 81).await;
    let reviewer = crate::workflow::token(&app, Role::Reviewer).await;
    let reasons = app.svc.review().reasons().await.expect("reasons");
    let (st, _) = staff_api(
        &app,
        "POST",
        &format!("/api/review/orders/{appid}/reject"),
        &reviewer,
        json!({"reasons": [{"reason_id": reasons[0].id}]}),
    )
    .await;
    assert_eq!(st, 200);
    eventually("the rejection delivered", || async { rx.seen().len() >= 3 }).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let events: Vec<String> = rx.seen().iter().map(|r| r.headers["x-beian-event"].clone()).collect();
    assert_eq!(events, ["test", "test", "platform_rejected"]);

    // Switched off: nothing more is sent.
    let (_, html, _) = dev.get(&page).await;
    let (st, loc, _) =
        dev.post(&page, &html, &[("url", &hook), ("secret_mode", "keep"), ("all_events", "1")]).await;
    assert_eq!((st, loc.as_str()), (303, page.as_str()));
    let view = app.svc.mini_programs().webhook_view(appid).await.expect("view").expect("configured");
    assert!(!view.target.enabled && view.target.events.0.is_none());
    assert_eq!(view.secret_last4.as_deref(), Some(&secret[secret.len() - 4..]), "the secret was kept");

    let trail = app.svc.audit_trail(AuditEntity::Webhook, appid).await.expect("audit");
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"set") && actions.contains(&"create") && actions.contains(&"update"),
        "{actions:?}"
    );
    app.stop().await;
}

async fn provider_token(app: &TestApp, url: &str) -> (beian_service::ProviderCredentials, String) {
    let creds = app
        .svc
        .providers()
        .create_provider(&Actor::new("test", "op"), "推送服务商", url)
        .await
        .expect("provider");
    let ticket = app.svc.providers().issue_verify_ticket(&creds.component_appid).await.expect("ticket");
    let (token, _) = app
        .svc
        .providers()
        .component_token(&creds.component_appid, &creds.component_appsecret, &ticket)
        .await
        .expect("token");
    (creds, token)
}

async fn component_call(
    app: &TestApp,
    name: &str,
    token: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let url = app.url(&format!("/cgi-bin/component/{name}?component_access_token={token}"));
    let r = reqwest::Client::new().post(url).json(&body).send().await.expect("send");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

async fn provider_event_config(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    let rx = Receiver::start(0).await;
    let (p1, t1) = provider_token(&app, "http://127.0.0.1:9/events").await;
    let (p2, t2) = provider_token(&app, "http://127.0.0.1:9/other").await;
    rx.set_keys(&p1);
    let set = |token: String, component: String, url: &str, events: serde_json::Value| {
        let body = json!({ "component_appid": component, "event_url": url, "events": events });
        let app = &app;
        async move { component_call(app, "beian_set_event_config", &token, body).await }
    };

    // The address rules of developers' webhooks.
    for (url, why) in [("http://example.com/e", "https://"), ("https://192.168.0.2/e", "内网")] {
        let v = set(t1.clone(), p1.component_appid.clone(), url, json!(null)).await;
        assert_eq!(v["errcode"], 86917, "{v}");
        assert!(v["errmsg"].as_str().is_some_and(|m| m.contains(why)), "{v}");
    }
    let v = set(t1.clone(), p1.component_appid.clone(), &rx.url, json!(["no_such_event"])).await;
    assert_eq!(v["errcode"], 86917, "{v}");
    // A provider cannot set another's.
    let v = set(t1.clone(), p2.component_appid.clone(), &rx.url, json!(null)).await;
    assert_ne!(v["errcode"], 0, "{v}");

    let v = set(t1.clone(), p1.component_appid.clone(), &rx.url, json!(["unauthorized"])).await;
    assert_eq!(v["errcode"], 0, "{v}");
    assert_eq!(v["events"], json!(["unauthorized"]));
    let mine =
        component_call(&app, "beian_get_event_config", &t1, json!({"component_appid": p1.component_appid}))
            .await;
    assert_eq!(
        (mine["event_url"].as_str(), &mine["events"]),
        (Some(rx.url.as_str()), &json!(["unauthorized"]))
    );
    let theirs =
        component_call(&app, "beian_get_event_config", &t2, json!({"component_appid": p2.component_appid}))
            .await;
    assert_eq!(
        (theirs["event_url"].as_str(), &theirs["events"]),
        (Some("http://127.0.0.1:9/other"), &json!(null))
    );

    // Only the chosen events are pushed: not `authorized`, but `unauthorized`.
    register(&app, "wxwh0003", 83).await;
    let (pre, _) = app.svc.providers().create_pre_auth_code(&p1.component_appid).await.expect("pre");
    let id = admin_id(83);
    app.svc
        .providers()
        .authorize_provider(&p1.component_appid, &pre, "wxwh0003", &admin_mobile(83), &id[12..], &[17])
        .await
        .expect("authorize");
    app.svc
        .providers()
        .revoke_authorization(&Actor::new("admin", "wxwh0003"), &p1.component_appid, "wxwh0003")
        .await
        .expect("revoke");
    eventually("the unauthorized push", || async { rx.of_type("unauthorized").len() == 1 }).await;
    assert!(rx.of_type("authorized").is_empty(), "not chosen, not pushed");
    app.stop().await;
}
