//! Shortcuts through a `beian_service::Service` that many tests take: deadlines pushed far
//! away, a JPEG uploaded for an application field, a finished face task.

use crate::fixtures::JPEG;
use beian_service::{Actor, MediaUpload, OrderView, Service, ServiceError};

/// Deadlines far away (2099), so the automatic clearance sweep stays out of tests that do not
/// ask for it.
pub async fn far_deadlines(svc: &Service) {
    let mut policy = (*svc.policy()).clone();
    policy.deadline_date = chrono::NaiveDate::from_ymd_opt(2099, 3, 31).expect("date");
    policy.clearance_date = chrono::NaiveDate::from_ymd_opt(2099, 4, 1).expect("date");
    svc.set_policy(&Actor::new("test", "setup"), policy).await.expect("policy");
}

/// Uploads `bytes` as an image for `field` of `appid`'s application; returns the media id.
pub async fn upload_image(
    svc: &Service,
    actor: &Actor,
    appid: &str,
    field: &str,
    certificate_type: Option<u32>,
    bytes: &[u8],
) -> String {
    let up = MediaUpload {
        media_type: "image".into(),
        certificate_type,
        icp_order_field: field.into(),
        bytes: bytes.to_vec(),
    };
    svc.materials().upload_media(actor, appid, up).await.expect("upload").media_id
}

/// Uploads the test [`JPEG`] for `field`; returns the media id.
pub async fn upload_jpeg(
    svc: &Service,
    actor: &Actor,
    appid: &str,
    field: &str,
    cert: Option<u32>,
) -> String {
    upload_image(svc, actor, appid, field, cert, JPEG).await
}

/// The ID card's front and back (the test [`JPEG`]) for a personal application.
pub async fn id_card_photos(svc: &Service, actor: &Actor, appid: &str) -> (String, String) {
    let front =
        upload_jpeg(svc, actor, appid, "icp_subject.principal_info.certificate_photo_front", Some(2)).await;
    let back =
        upload_jpeg(svc, actor, appid, "icp_subject.principal_info.certificate_photo_back", Some(2)).await;
    (front, back)
}

/// A face task created by `actor` and passed by `finisher`; returns its id.
pub async fn finished_face_task(svc: &Service, actor: &Actor, finisher: &Actor, appid: &str) -> String {
    let t = svc.materials().create_face_task(actor, appid).await.expect("face task");
    svc.materials().finish_face_task(finisher, &t.task_id, true).await.expect("finish");
    t.task_id
}

/// The authority approves `appid` (its SMS verification done) with numbers of the real form,
/// issued the way the simulator issues them: a subject without a number gets the next of its
/// province (`粤ICP备2026000001号`, then …02), each service the next `-{n}X` of its subject.
/// The sequences live in this process (each test has its own process and database). For
/// tests that approve directly; the simulator mints its own (`beian_authority_sim::mint_numbers`).
pub async fn authority_approve(svc: &Service, appid: &str) -> Result<OrderView, ServiceError> {
    use beian_core::numbering::{self, IssuedNumbers};
    use std::collections::HashMap;
    use std::sync::Mutex;
    static SEQ: Mutex<Option<HashMap<String, u32>>> = Mutex::new(None);
    let next = |key: String| {
        let mut seq = SEQ.lock().unwrap_or_else(|e| e.into_inner());
        let n = seq.get_or_insert_with(HashMap::new).entry(key).or_insert(0);
        *n += 1;
        *n
    };
    let numbers = match svc.filings().number_context(appid).await? {
        Some(ctx) => {
            let subject_number = ctx.subject_number.unwrap_or_else(|| {
                numbering::subject_number(
                    &ctx.province_abbr,
                    2026,
                    next(format!("subject:{}", ctx.province_abbr)),
                )
            });
            let service_number = ctx.service_number.unwrap_or_else(|| {
                numbering::service_number(&subject_number, next(format!("service:{subject_number}")))
            });
            IssuedNumbers { subject_number, service_number }
        }
        // No subject: the approval is refused as the service refuses it.
        None => IssuedNumbers { subject_number: String::new(), service_number: String::new() },
    };
    svc.filings().authority_approve(&Actor::authority(), appid, numbers).await
}

/// A valid personal application by admin `n` for `appid`: its ID photos uploaded and its face
/// task finished through the service.
pub async fn personal_payload(svc: &Service, appid: &str, n: u32) -> beian_core::payload::ApplyPayload {
    use crate::fixtures::{self, Identity, Materials};
    let actor = Actor::new("test", "apply");
    let (front, back) = id_card_photos(svc, &actor, appid).await;
    let task = finished_face_task(svc, &actor, &actor, appid).await;
    let m = Materials { front, back, task };
    serde_json::from_value(fixtures::personal_application(&Identity::admin(n), &m)).expect("payload")
}
