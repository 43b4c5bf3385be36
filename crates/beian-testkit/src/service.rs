//! Shortcuts through a `beian_service::Service` that many tests take: deadlines pushed far
//! away, a JPEG uploaded for an application field, a finished face task.

use crate::fixtures::JPEG;
use beian_service::{Actor, MediaUpload, Service};

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
