//! Identity verification through a vendor, end to end over HTTP: beian's WeChat API and face
//! page against the local fakes of Tencent Cloud FaceID and Alibaba Cloud Cloudauth, each run
//! as its own process (`beian-vendor-fakes`), speaking the vendor's documented JSON and
//! checking beian's signatures. Per vendor: passed, failed liveness (the raw code kept and
//! shown), an expired session (a clear Chinese message), a vendor error (nothing recorded).

use crate::support::{authorized_token, register, Backend, TestApp};
use beian::config::IdentityConfig;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;

const SECRET_ID: &str = "AKIDtestsecretid";
const SECRET_KEY: &str = "test-secret-key-shared-with-the-fake";

/// A vendor fake in its own process, killed when dropped.
pub(crate) struct Fake {
    pub(crate) base: String,
    _child: tokio::process::Child,
}

async fn fake(vendor: &str) -> Fake {
    fake_with(vendor, SECRET_ID, SECRET_KEY).await
}

/// The fake of `vendor` (`tencent`, `aliyun`) accepting requests signed with these keys.
pub(crate) async fn fake_with(vendor: &str, key_id: &str, secret: &str) -> Fake {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_beian-vendor-fakes"))
        .args([vendor, key_id, secret])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the vendor fake");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::io::BufReader::new(stdout).lines().next_line().await.expect("read").expect("a line");
    let base = line.strip_prefix("listening on ").expect("the fake prints its address").trim().to_string();
    Fake { base, _child: child }
}

fn config(vendor: &str, endpoint: &str) -> IdentityConfig {
    match vendor {
        "tencent" => IdentityConfig::Tencent(beian_vendors::tencent::TencentConfig {
            endpoint: endpoint.into(),
            secret_id: SECRET_ID.into(),
            secret_key: SECRET_KEY.into(),
            region: Some("ap-guangzhou".into()),
            rule_id: "1".into(),
            session_secs: beian_vendors::tencent::DEFAULT_SESSION_SECS,
        }),
        _ => IdentityConfig::Aliyun(beian_vendors::aliyun::AliyunConfig {
            endpoint: endpoint.into(),
            access_key_id: SECRET_ID.into(),
            access_key_secret: SECRET_KEY.into(),
            scene_id: "1000000006".into(),
            product_code: "ID_PRO".into(),
            meta_info: beian_vendors::aliyun::DEFAULT_META_INFO.into(),
            session_secs: beian_vendors::aliyun::DEFAULT_SESSION_SECS,
        }),
    }
}

struct Api<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    token: String,
}

impl Api<'_> {
    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(self.app.url(&format!("{path}?access_token={}", self.token)))
            .json(&body)
            .send()
            .await
            .expect("send");
        r.json().await.expect("json")
    }

    async fn create_task(&self) -> String {
        let v = self.post("/wxa/icp/create_icp_verifytask", json!({})).await;
        assert_eq!(v["errcode"], 0, "{v}");
        v["task_id"].as_str().expect("task_id").to_string()
    }

    /// query_icp_verifytask → (is_finish, face_status).
    async fn query(&self, task: &str) -> (bool, i64) {
        let v = self.post("/wxa/icp/query_icp_verifytask", json!({ "task_id": task })).await;
        assert_eq!(v["errcode"], 0, "{v}");
        (v["is_finish"].as_bool().expect("is_finish"), v["face_status"].as_i64().expect("face_status"))
    }

    async fn page(&self, path: &str) -> (u16, String) {
        let r = self.http.get(self.app.url(path)).send().await.expect("get");
        (r.status().as_u16(), r.text().await.expect("text"))
    }

    /// POST /face/{task}/start → (status, Location).
    async fn start(&self, task: &str) -> (u16, String, String) {
        let r = self.http.post(self.app.url(&format!("/face/{task}/start"))).send().await.expect("start");
        let status = r.status().as_u16();
        let location =
            r.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_string();
        (status, location, r.text().await.unwrap_or_default())
    }

    /// The person at the vendor's page: completes the check with `outcome`.
    async fn person(&self, session_url: &str, outcome: &str) {
        let r = self.http.post(format!("{session_url}?{outcome}")).send().await.expect("vendor page");
        assert_eq!(r.status().as_u16(), 303, "the vendor sends the person back");
    }

    async fn session(&self, task: &str) -> Option<beian_store::media_rows::FaceSession> {
        let mut tx = self.app.store.read().await.expect("read");
        tx.face_tasks().session(task).await.expect("session")
    }
}

async fn a_vendor_decides_face_tasks(b: Backend, vendor: &str, failed_code: &str) {
    let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter("warn,sqlx=warn").try_init();
    let fake = fake(vendor).await;
    let app = TestApp::start_with_identity(b, config(vendor, &fake.base)).await;
    register(&app, "wxidt0001", 1).await;
    let (_, token) = authorized_token(&app, "wxidt0001", 1, &[18, 156]).await;
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let api = Api { app: &app, http, token };

    // Passed: the page offers the vendor's check (no name + ID form), start sends the person
    // to the vendor's page, the result is pulled when the task is queried.
    let task = api.create_task().await;
    let (status, page) = api.page(&format!("/face/{task}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("开始人脸核身") && !page.contains("无生物识别"), "{page}");
    let (status, url, _) = api.start(&task).await;
    assert_eq!(status, 303);
    assert!(url.starts_with(&format!("{}/h5/", fake.base)), "sent to the vendor: {url}");
    assert_eq!(api.query(&task).await, (false, 1), "pending while the person has not finished");
    api.person(&url, "outcome=passed").await;
    assert_eq!(api.query(&task).await, (true, 3), "passed at the vendor → succeeded");
    let (_, page) = api.page(&format!("/face/{task}")).await;
    assert!(page.contains("核身已完成"), "{page}");
    let s = api.session(&task).await.expect("session");
    assert_eq!((s.provider.as_str(), s.outcome.as_deref()), (config_name(vendor), Some("passed")));
    assert!(s.score.is_some_and(|x| x > 90.0), "the vendor's score is kept: {s:?}");

    // Failed liveness: the task fails with the vendor's raw code, which the page shows.
    let task = api.create_task().await;
    let (_, url, _) = api.start(&task).await;
    api.person(&url, &format!("outcome=failed&code={failed_code}")).await;
    let (status, page) = api.page(&format!("/face/{task}")).await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("结果码：{failed_code}")), "{page}");
    assert_eq!(api.query(&task).await, (true, 2), "failed liveness → failed");
    let s = api.session(&task).await.expect("session");
    assert_eq!((s.outcome.as_deref(), s.raw_code.as_deref()), (Some("failed"), Some(failed_code)));
    // The person may try again: a new session replaces the failed one.
    let (status, url2, _) = api.start(&task).await;
    assert_eq!(status, 303);
    assert_ne!(url, url2);

    // Expired: Tencent says so; an Alibaba session simply never completes and its CertifyId's
    // validity passes. The task fails with a clear message.
    let task = api.create_task().await;
    let (_, url, _) = api.start(&task).await;
    if vendor == "tencent" {
        api.person(&url, "outcome=expired").await;
    } else {
        assert_eq!(api.query(&task).await, (false, 1));
        app.clock.advance(chrono::Duration::seconds(beian_vendors::aliyun::DEFAULT_SESSION_SECS + 1));
    }
    let (_, page) = api.page(&format!("/face/{task}")).await;
    assert!(page.contains(beian_service::identity::SESSION_EXPIRED), "{page}");
    assert_eq!(api.query(&task).await, (true, 2), "expired → failed");
    assert_eq!(api.session(&task).await.expect("session").outcome.as_deref(), Some("expired"));

    // The vendor fails: the person is told to try later and nothing is recorded.
    let task = api.create_task().await;
    let fail_next = || async {
        reqwest::Client::new().post(format!("{}/_fake/fail-next", fake.base)).send().await.expect("script");
    };
    fail_next().await;
    let (status, _, page) = api.start(&task).await;
    assert_eq!(status, 503);
    assert!(page.contains("核身服务暂时不可用"), "{page}");
    assert!(api.session(&task).await.is_none(), "no session recorded");
    let (_, url, _) = api.start(&task).await;
    api.person(&url, "outcome=passed").await;
    fail_next().await;
    let (status, page) = api.page(&format!("/face/{task}")).await;
    assert_eq!(status, 503, "{page}");
    assert_eq!(api.session(&task).await.expect("session").outcome, None, "nothing recorded");
    // Its callback, once the vendor answers again, decides the task.
    let r = reqwest::Client::new().post(app.url(&format!("/face/{task}/callback"))).send().await.expect("cb");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(api.query(&task).await, (true, 3));
    app.stop().await;
}

fn config_name(vendor: &str) -> &'static str {
    if vendor == "tencent" {
        "tencent_faceid"
    } else {
        "aliyun_cloudauth"
    }
}

async fn tencent_faceid(b: Backend) {
    a_vendor_decides_face_tasks(b, "tencent", "1001").await
}

async fn aliyun_cloudauth(b: Backend) {
    a_vendor_decides_face_tasks(b, "aliyun", "205").await
}

both!(tencent_faceid, aliyun_cloudauth);
