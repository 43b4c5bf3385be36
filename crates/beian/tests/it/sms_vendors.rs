//! Texts through the SMS vendors, end to end: a use case queues the text (event + ordered
//! parameters), the job worker passes beian's dedupe and per-number caps, and the Aliyun or
//! Tencent adapter signs a SendSms on the event's template to the vendor's local fake, run as
//! its own process (`beian-vendor-fakes`), which checks the signature. A vendor rate-limit
//! code is retried, an invalid number dead-lettered (masked), a capped text deferred to the
//! end of its window, and the same text twice within the dedupe window sent once.

use crate::identity_vendors::{fake_with, Fake};
use crate::support::*;
use beian_core::platform::JobState;
use beian_ports::authority::AuthorityOutbox;
use beian_ports::messaging::SmsSender;
use beian_service::Actor;
use beian_vendors::sms::{AliyunSms, SmsTemplate, SmsTemplates, SmsVendorConfig, TencentSms};
use serde_json::Value;
use std::sync::Arc;

both!(aliyun_texts_go_on_templates_within_limits, tencent_texts_go_on_templates_within_limits);

const KEY_ID: &str = "LTAItestkeyid";
const SECRET: &str = "test-sms-secret-shared-with-the-fake";

async fn fake(vendor: &str) -> Fake {
    fake_with(vendor, KEY_ID, SECRET).await
}

fn templates() -> SmsTemplates {
    let t = |event: &str, id: &str, params: &[&str]| SmsTemplate {
        event: event.into(),
        sign_name: "小程序备案".into(),
        template_id: id.into(),
        params: params.iter().map(|p| p.to_string()).collect(),
    };
    SmsTemplates::new(vec![
        t("face_verification", "T_FACE", &["name", "link"]),
        t("status_notice", "T_NOTICE", &["name", "title"]),
        t("authority_simulator", "T_SIM", &["text"]),
    ])
    .expect("templates")
}

async fn sent(fake: &Fake) -> Vec<Value> {
    let v: Value =
        reqwest::get(format!("{}/_fake/sms", fake.base)).await.expect("get").json().await.expect("json");
    v.as_array().cloned().unwrap_or_default()
}

async fn sms_jobs(app: &TestApp) -> Vec<beian_core::platform::Job> {
    let jobs = app.svc.job_queue().jobs(None, 100).await.expect("jobs");
    jobs.into_iter().filter(|j| j.kind == "sms").collect()
}

async fn aliyun_texts_go_on_templates_within_limits(b: Backend) {
    texts_go_on_templates_within_limits(b, "aliyun").await
}

async fn tencent_texts_go_on_templates_within_limits(b: Backend) {
    texts_go_on_templates_within_limits(b, "tencent").await
}

async fn texts_go_on_templates_within_limits(b: Backend, vendor: &str) {
    let fake = fake(vendor).await;
    let config = SmsVendorConfig {
        endpoint: fake.base.clone(),
        key_id: KEY_ID.into(),
        secret: SECRET.into(),
        sdk_app_id: Some("1400006666".into()),
        region: None,
    };
    let http = beian_vendors::http_client();
    let sender: Arc<dyn SmsSender> = match vendor {
        "aliyun" => Arc::new(AliyunSms::new(http, config, templates())),
        _ => Arc::new(TencentSms::new(http, config, templates())),
    };
    let app =
        TestApp::start_with(b, 1000, move |c| beian_jobs::Channels { sms: sender, sms_limited: true, ..c })
            .await;
    let phone = |n: u32| match vendor {
        "aliyun" => admin_mobile(n),
        _ => format!("+86{}", admin_mobile(n)),
    };
    let actor = Actor::new("test", "p");

    // The face-verification text goes on its template, parameters in the template's order.
    register(&app, "wxsv0001", 41).await;
    let task = app.svc.materials().create_face_task(&actor, "wxsv0001").await.expect("task");
    eventually("the text at the fake", || async { !sent(&fake).await.is_empty() }).await;
    let first = sent(&fake).await.remove(0);
    assert_eq!(
        (first["phone"].as_str(), first["template"].as_str()),
        (Some(phone(41).as_str()), Some("T_FACE"))
    );
    assert_eq!(first["sign_name"], "小程序备案");
    let link = match vendor {
        "aliyun" => first["params"]["link"].as_str().expect("named parameter").to_string(),
        _ => first["params"][1].as_str().expect("second parameter").to_string(),
    };
    assert!(link.ends_with(&format!("/face/{}", task.task_id)), "{first}");

    // A second text to the number within the minute: deferred to the minute's end, not sent.
    let second = app.svc.materials().create_face_task(&actor, "wxsv0001").await.expect("task 2");
    eventually("the second text deferred", || async {
        sms_jobs(&app).await.iter().any(|j| {
            j.state == JobState::Pending
                && j.last_error.as_deref().is_some_and(|e| e.contains("per-number SMS cap"))
        })
    })
    .await;
    assert_eq!(sent(&fake).await.len(), 1, "held back by beian's cap");
    let deferred = sms_jobs(&app).await.into_iter().find(|j| j.state == JobState::Pending).expect("deferred");
    let now = app.svc.now().timestamp();
    assert!(deferred.run_at > now && deferred.run_at <= now - now.rem_euclid(60) + 60, "{deferred:?}");
    app.clock.advance(chrono::Duration::seconds(61));
    eventually("the deferred text sent in the next minute", || async { sent(&fake).await.len() == 2 }).await;
    assert!(sent(&fake).await[1].to_string().contains(&second.task_id));

    // The same event and parameters again within the dedupe window: sent once.
    let before = sent(&fake).await.len();
    for key in ["dup-1", "dup-2"] {
        app.svc.send_sms(key.into(), admin_mobile(42), "您的验证码是 123456".into()).await.expect("queue");
    }
    eventually("both duplicate jobs done", || async {
        let jobs = sms_jobs(&app).await;
        jobs.len() >= 4 && jobs.iter().all(|j| j.state == JobState::Done)
    })
    .await;
    assert_eq!(sent(&fake).await.len(), before + 1, "one text for two identical jobs");

    // The vendor's own rate limit: retried later, with the vendor's code for operators.
    register(&app, "wxsv0002", 429).await;
    app.svc.materials().create_face_task(&actor, "wxsv0002").await.expect("task");
    let code =
        if vendor == "aliyun" { "isv.BUSINESS_LIMIT_CONTROL" } else { "LimitExceeded.PhoneNumberDailyLimit" };
    eventually("the vendor's limit retried", || async {
        sms_jobs(&app).await.iter().any(|j| {
            j.state == JobState::Pending && j.last_error.as_deref().is_some_and(|e| e.contains(code))
        })
    })
    .await;

    // An invalid number: dead-lettered at once, the number masked in the error.
    register(&app, "wxsv0003", 400).await;
    app.svc.materials().create_face_task(&actor, "wxsv0003").await.expect("task");
    eventually("the invalid number dead-lettered", || async {
        sms_jobs(&app).await.iter().any(|j| j.state == JobState::Dead)
    })
    .await;
    let dead = sms_jobs(&app).await.into_iter().find(|j| j.state == JobState::Dead).expect("dead");
    let err = dead.last_error.unwrap_or_default();
    assert!(
        err.contains("Refused") || err.contains("ILLEGAL") || err.contains("IncorrectPhoneNumber"),
        "{err}"
    );
    assert!(!err.contains(&admin_mobile(400)), "{err}");
    app.stop().await;
}
