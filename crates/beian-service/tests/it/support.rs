//! Test harness: a fresh service on SQLite (temp dir) or PostgreSQL (fresh schema), a moved
//! clock, and builders for valid applications.

use beian_core::payload::ApplyPayload;
use beian_core::state::ReadinessFlags;
use beian_service::{Actor, ManualClock, MediaUpload, MiniProgramInput, Service};
use beian_store::{Crypto, MediaFiles, Store};
use chrono::{DateTime, TimeZone, Utc};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct Env {
    pub svc: Arc<Service>,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
    /// The PostgreSQL schema of this test (None on SQLite).
    pub pg_schema: Option<String>,
}

/// Monday 2026-03-02 10:00 Beijing time.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().expect("valid time")
}

pub fn pg_admin_url() -> String {
    std::env::var("BEIAN_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub async fn env(backend: Backend) -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let crypto = Crypto::new(&[7u8; 32]);
    let mut pg_schema = None;
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("beian.db").display()),
        Backend::Postgres => {
            let schema = format!("t_{}", hex_rand());
            pg_schema = Some(schema.clone());
            let admin = Store::connect(&pg_admin_url(), crypto.clone())
                .await
                .expect("PostgreSQL must be running for the contract tests (scripts/test starts it)");
            admin.exec_raw(&format!("CREATE SCHEMA {schema}")).await.expect("create schema");
            admin.close().await;
            let sep = if pg_admin_url().contains('?') { '&' } else { '?' };
            format!("{}{sep}options=-c%20search_path%3D{schema}", pg_admin_url())
        }
    };
    let store = Store::connect(&url, crypto).await.expect("connect");
    store.migrate().await.expect("migrate");
    let clock = Arc::new(ManualClock::new(start_time()));
    let media = MediaFiles::new(dir.path().join("media")).expect("media dir");
    let svc = Service::start(store, media, clock.clone()).await.expect("service");
    Env { svc: Arc::new(svc), clock, dir, pg_schema }
}

fn hex_rand() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:x}{:04x}", n, std::process::id() & 0xffff)
}

/// A resident ID with a correct check character (GB 11643).
pub fn resident_id(region: &str, birth: &str, seq: &str) -> String {
    let body = format!("{region}{birth}{seq}");
    assert_eq!(body.len(), 17);
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body.chars().zip(W).map(|(c, w)| c.to_digit(10).expect("digit") * w).sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{body}{check}")
}

/// A Unified Social Credit Code with a correct check character (GB 32100).
pub fn uscc(body17: &str) -> String {
    const A: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    const W: [usize; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
    let sum: usize = body17.chars().zip(W).map(|(c, w)| A.find(c).expect("uscc char") * w).sum();
    let check = (31 - sum % 31) % 31;
    format!("{body17}{}", A.as_bytes()[check] as char)
}

pub const JPEG: &[u8] =
    &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xFF, 0xD9];

pub struct Person {
    pub name: String,
    pub id: String,
    pub mobile: String,
    pub emergency: String,
}

pub fn person(n: u32) -> Person {
    Person {
        name: format!("测试{}", ["甲", "乙", "丙", "丁", "戊", "己"][n as usize % 6]),
        id: resident_id("440305", "19900101", &format!("{:03}", 100 + n)),
        mobile: format!("138{:08}", 10_000_000 + n),
        emergency: format!("139{:08}", 10_000_000 + n),
    }
}

pub fn actor() -> Actor {
    Actor::new("test", "story")
}

/// Register a listed, ready mini program whose admin is `admin`.
pub async fn mini_program(env: &Env, appid: &str, admin: &Person) {
    env.svc
        .register_mini_program(
            &actor(),
            MiniProgramInput {
                appid: appid.into(),
                name: format!("读书笔记{appid}"),
                admin_name: admin.name.clone(),
                admin_id_number: admin.id.clone(),
                admin_mobile: admin.mobile.clone(),
                flags: ReadinessFlags { basic_info_filled: true, category_filled: true, certified: true },
                listed: true,
                owner: String::new(),
            },
        )
        .await
        .expect("register mini program");
}

pub async fn upload(env: &Env, appid: &str, field: &str, cert_type: Option<u32>) -> String {
    env.svc
        .upload_media(
            &actor(),
            appid,
            MediaUpload {
                media_type: "image".into(),
                certificate_type: cert_type,
                icp_order_field: field.into(),
                bytes: JPEG.to_vec(),
            },
        )
        .await
        .expect("upload")
        .media_id
}

pub async fn finished_face_task(env: &Env, appid: &str) -> String {
    let t = env.svc.create_face_task(&actor(), appid).await.expect("face task");
    env.svc.finish_face_task(&Actor::new("admin", appid), &t.task_id, true).await.expect("finish");
    t.task_id
}

/// A complete, valid personal (个人) application where `p` is subject, principal and admin.
pub async fn personal_payload(env: &Env, appid: &str, p: &Person) -> ApplyPayload {
    let front = upload(env, appid, "icp_subject.principal_info.certificate_photo_front", Some(2)).await;
    let back = upload(env, appid, "icp_subject.principal_info.certificate_photo_back", Some(2)).await;
    let task = finished_face_task(env, appid).await;
    let principal = serde_json::json!({
        "name": p.name, "mobile": p.mobile, "email": "reader@example.com",
        "emergency_contact": p.emergency, "certificate_type": 2, "certificate_number": p.id,
        "certificate_validity_date_start": "20200101", "certificate_validity_date_end": "长期",
        "certificate_photo_front": front, "certificate_photo_back": back
    });
    let mut applet_principal = principal.clone();
    applet_principal["verify_task_id"] = task.into();
    serde_json::from_value(serde_json::json!({
        "icp_subject": {
            "base_info": {"type": 5, "name": p.name, "province": "440000", "city": "440300",
                          "district": "440305", "address": "科技园路1号A座101室"},
            "organize_info": {"certificate_type": 2, "certificate_number": p.id,
                              "certificate_address": "广东省深圳市南山区科技园路1号A座101室"},
            "principal_info": principal
        },
        "icp_applets": {
            "base_info": {"service_content_types": [1], "nrlx_details": [{"type": 24}],
                          "comment": "本小程序为个人读书笔记分享工具，提供书目记录、阅读进度管理与笔记展示功能，不涉及交易。"},
            "principal_info": applet_principal
        },
        "icp_materials": {}
    }))
    .expect("payload")
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
    let front = upload(env, appid, "icp_subject.principal_info.certificate_photo_front", Some(2)).await;
    let back = upload(env, appid, "icp_subject.principal_info.certificate_photo_back", Some(2)).await;
    let letter = upload(env, appid, "icp_applets.principal_info.authorization_letter", None).await;
    let task = finished_face_task(env, appid).await;
    let principal = |p: &Person| {
        serde_json::json!({
            "name": p.name, "mobile": p.mobile, "email": "ops@example.com",
            "emergency_contact": p.emergency, "certificate_type": 2, "certificate_number": p.id,
            "certificate_validity_date_start": "20200101", "certificate_validity_date_end": "20400101",
            "certificate_photo_front": front, "certificate_photo_back": back
        })
    };
    let mut ap = principal(admin);
    ap["verify_task_id"] = task.into();
    ap["authorization_letter"] = letter.into();
    serde_json::from_value(serde_json::json!({
        "icp_subject": {
            "base_info": {"type": 4, "name": "深圳市测试科技有限公司", "province": "440000", "city": "440300",
                          "district": "440305", "address": "科技园路2号B座"},
            "organize_info": {"certificate_type": 1, "certificate_number": uscc,
                              "certificate_address": "深圳市南山区科技园路2号B座", "certificate_photo": licence},
            "principal_info": principal(legal)
        },
        "icp_applets": {
            "base_info": {"service_content_types": [1, 2], "nrlx_details": [{"type": 24}],
                          "comment": "本小程序为企业招聘与生活缴费服务工具，提供职位浏览、简历投递与水电缴费提醒等服务。"},
            "principal_info": ap
        },
        "icp_materials": {}
    }))
    .expect("payload")
}
