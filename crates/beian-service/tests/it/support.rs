//! Test harness: a fresh service on SQLite (temp dir) or PostgreSQL (fresh schema), a moved
//! clock, and builders for valid applications.

use beian_core::payload::ApplyPayload;
use beian_service::{Actor, ManualClock, Service};
use beian_store::{Crypto, MediaFiles, Store};
pub use beian_testkit::fixtures::{start_time, uscc, JPEG};
use beian_testkit::fixtures::{Enterprise, Identity, Materials};
pub use beian_testkit::pg::base_url as pg_admin_url;
pub use beian_testkit::Backend;
use beian_testkit::{backend::TestDatabase, fixtures, service};
use std::sync::Arc;

pub struct Env {
    pub svc: Arc<Service>,
    /// The store under the service, for tests that write rows directly.
    pub store: Store,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
    /// The PostgreSQL schema of this test (None on SQLite).
    pub pg_schema: Option<String>,
}

pub async fn env(backend: Backend) -> Env {
    env_with(backend, |svc| svc).await
}

/// A fresh service as `build` finishes it (e.g. with another identity verifier).
pub async fn env_with(backend: Backend, build: impl FnOnce(Service) -> Service) -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let crypto = Crypto::new(&[7u8; 32]);
    let db = TestDatabase::fresh(backend, dir.path(), "t").await;
    let store = Store::connect(&db.url, crypto).await.expect("connect");
    store.migrate().await.expect("migrate");
    let clock = Arc::new(ManualClock::new(start_time()));
    let media = MediaFiles::new(dir.path().join("media")).expect("media dir");
    let svc = Service::start(store.clone(), media, clock.clone()).await.expect("service");
    Env { svc: Arc::new(build(svc)), store, clock, dir, pg_schema: db.schema_name() }
}

pub struct Person {
    pub name: String,
    pub id: String,
    pub mobile: String,
    pub emergency: String,
}

pub fn person(n: u32) -> Person {
    Person {
        name: format!("测试{}", ["甲", "乙", "丙", "丁", "戊", "己"][n as usize % 6]),
        id: fixtures::resident_id(n),
        mobile: fixtures::mobile(n),
        emergency: fixtures::emergency_mobile(n),
    }
}

pub fn actor() -> Actor {
    Actor::new("test", "story")
}

impl Person {
    /// As an application names them, with `email`.
    fn identity(&self, email: &str) -> Identity {
        Identity {
            name: self.name.clone(),
            id_number: self.id.clone(),
            mobile: self.mobile.clone(),
            emergency: self.emergency.clone(),
            email: email.into(),
        }
    }
}

/// Register a listed, ready mini program whose admin is `admin`.
pub async fn mini_program(env: &Env, appid: &str, admin: &Person) {
    let input =
        fixtures::mini_program_of(appid, &format!("读书笔记{appid}"), &admin.name, &admin.id, &admin.mobile);
    env.svc.mini_programs().register_mini_program(&actor(), input).await.expect("register mini program");
}

pub async fn upload(env: &Env, appid: &str, field: &str, cert_type: Option<u32>) -> String {
    service::upload_jpeg(&env.svc, &actor(), appid, field, cert_type).await
}

pub async fn finished_face_task(env: &Env, appid: &str) -> String {
    service::finished_face_task(&env.svc, &actor(), &Actor::new("admin", appid), appid).await
}

/// A complete, valid personal (个人) application where `p` is subject, principal and admin.
pub async fn personal_payload(env: &Env, appid: &str, p: &Person) -> ApplyPayload {
    let (front, back) = service::id_card_photos(&env.svc, &actor(), appid).await;
    let task = finished_face_task(env, appid).await;
    let mut v =
        fixtures::personal_application(&p.identity("reader@example.com"), &Materials { front, back, task });
    v["icp_applets"]["base_info"]["comment"] =
        "本小程序为个人读书笔记分享工具，提供书目记录、阅读进度管理与笔记展示功能，不涉及交易。".into();
    serde_json::from_value(v).expect("payload")
}

/// A valid enterprise application: `legal` is the subject principal (the legal person),
/// `admin` the mini program's admin and principal (with an authorization letter).
pub async fn enterprise_payload(
    env: &Env,
    appid: &str,
    uscc: &str,
    legal: &Person,
    admin: &Person,
) -> ApplyPayload {
    let licence = upload(env, appid, "icp_subject.organize_info.certificate_photo", Some(1)).await;
    let (front, back) = service::id_card_photos(&env.svc, &actor(), appid).await;
    let letter = upload(env, appid, "icp_applets.principal_info.authorization_letter", None).await;
    let task = finished_face_task(env, appid).await;
    let principal =
        |p: &Person| fixtures::principal(&p.identity("ops@example.com"), "20400101", &front, &back);
    let e =
        Enterprise {
            name: "深圳市测试科技有限公司", uscc, licence: &licence, letter: &letter, task: &task
        };
    serde_json::from_value(fixtures::enterprise_application(&e, principal(legal), principal(admin)))
        .expect("payload")
}
