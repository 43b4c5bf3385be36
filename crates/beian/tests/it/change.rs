//! 变更备案 in the consoles over plain HTTP, on both databases: the change wizard pre-filled
//! from the filed record, what a change may not do said at its field, the review step's diff
//! against the record, the status page with the change beside the record, withdraw, the
//! staff queue's 变更 label and diff, WeChat's entrance info while a change is open, the
//! providers' `notify_change_icpfiling_result` events, and the developer's history.

use crate::console::{developer, Browser};
use crate::security_staff::staff;
use crate::support::*;
use beian_core::model::AuditItem;
use beian_core::platform::{MemberRole, Permission, Role};
use beian_service::Actor;

both!(a_change_in_the_console, what_a_change_may_not_do_is_said_at_the_field);

fn reviewer() -> Actor {
    Actor::new("reviewer", "r1")
}

/// A filed personal mini program of admin `n`, through the service.
async fn file(app: &TestApp, appid: &str, n: u32) {
    apply_personal(app, appid, n).await;
    app.svc.filings().platform_approve(&reviewer(), appid).await.expect("platform approve");
    app.svc.filings().sms_verified(&Actor::authority(), appid).await.expect("sms");
    beian_testkit::service::authority_approve(&app.svc, appid).await.expect("filed");
}

/// The `<label>` of a field on a wizard page: its class says whether a hint is shown there.
fn field_label<'a>(html: &'a str, path: &str) -> &'a str {
    let at = html.find(&format!("data-field=\"{path}\"")).unwrap_or_else(|| panic!("{path} in {html}"));
    let start = html[..at].rfind("<label").expect("label");
    let end = at + html[at..].find("</label>").expect("end");
    &html[start..end]
}

/// Save subject-step fields of the change draft.
async fn save_subject(b: &Browser, appid: &str, fields: &[(&str, &str)]) {
    let (_, page, _) = b.get(&format!("/console/apps/{appid}/change?step=subject")).await;
    let mut f = vec![("_step", "subject"), ("go", "stay")];
    f.extend_from_slice(fields);
    let (st, loc, _) = b.post(&format!("/console/apps/{appid}/change/save"), &page, &f).await;
    assert_eq!(st, 303, "save");
    assert!(loc.contains("/change?step=subject"), "{loc}");
}

/// The change wizard's face step: a new task, passed by the admin.
async fn verify_admin_again(app: &TestApp, b: &Browser, appid: &str) {
    let (_, page, _) = b.get(&format!("/console/apps/{appid}/change?step=face")).await;
    let (st, loc, _) = b.post(&format!("/console/apps/{appid}/change/face"), &page, &[]).await;
    assert_eq!((st, loc.as_str()), (303, format!("/console/apps/{appid}/change?step=face").as_str()));
    let draft = app.svc.filings().draft_or_start(appid).await.expect("draft");
    let task = draft.icp_applets.principal_info.verify_task_id;
    app.svc.materials().finish_face_task(&Actor::new("test", "face"), &task, true).await.expect("face");
}

async fn submit_change(b: &Browser, appid: &str) -> (u16, String, String) {
    let (_, page, _) = b.get(&format!("/console/apps/{appid}/change?step=review")).await;
    b.post(&format!("/console/apps/{appid}/change/submit"), &page, &[("agree", "1")]).await
}

async fn what_a_change_may_not_do_is_said_at_the_field(backend: Backend) {
    let app = TestApp::start(backend, 1000).await;
    let appid = "wxchgc0001";
    let b = developer(&app, appid, 61).await;
    // Not filed: the change wizard is not open.
    let (st, _, h) = b.get(&format!("/console/apps/{appid}/change")).await;
    assert_eq!((st, h["location"].to_str().expect("loc")), (303, format!("/console/apps/{appid}").as_str()));
    file(&app, appid, 61).await;
    let filed = app.svc.filings().online_order(appid).await.expect("online");
    let base = filed.icp_subject.base_info.clone();

    // Pre-filled from the filed record.
    let (st, page, _) = b.get(&format!("/console/apps/{appid}/change?step=subject")).await;
    assert_eq!(st, 200);
    assert!(page.contains("id=\"change-banner\"") && page.contains(&base.address), "{page}");

    // Untouched, the review step already says a change of nothing is refused.
    let (_, review, _) = b.get(&format!("/console/apps/{appid}/change?step=review")).await;
    assert!(review.contains("变更内容与已备案信息一致") && !review.contains("无需重复申请"), "{review}");
    // Nothing changed (86908): said on the review step, nothing written.
    let (st, _, html) = submit_change(&b, appid).await;
    assert_eq!(st, 200);
    assert!(html.contains("变更内容与已备案信息一致"), "{html}");

    // Another province (86907): at the province field.
    save_subject(
        &b,
        appid,
        &[
            ("icp_subject.base_info.province", "110000"),
            ("icp_subject.base_info.city", "110100"),
            ("icp_subject.base_info.district", "110105"),
        ],
    )
    .await;
    let (st, _, html) = submit_change(&b, appid).await;
    assert_eq!(st, 200);
    let label = field_label(&html, "icp_subject.base_info.province");
    assert!(label.contains("invalid") && label.contains("省份"), "{label}");
    save_subject(
        &b,
        appid,
        &[
            ("icp_subject.base_info.province", &base.province),
            ("icp_subject.base_info.city", &base.city),
            ("icp_subject.base_info.district", &base.district),
        ],
    )
    .await;

    // Another certificate is another subject (86907): at the certificate number.
    save_subject(&b, appid, &[("icp_subject.organize_info.certificate_number", &admin_id(62))]).await;
    let (_, _, html) = submit_change(&b, appid).await;
    let label = field_label(&html, "icp_subject.organize_info.certificate_number");
    assert!(label.contains("invalid") && label.contains("新的主体"), "{label}");
    let own = filed.icp_subject.organize_info.certificate_number.clone();
    save_subject(&b, appid, &[("icp_subject.organize_info.certificate_number", &own)]).await;

    // Personal → enterprise (86907): at the nature.
    save_subject(&b, appid, &[("icp_subject.base_info.type", "4")]).await;
    let (_, _, html) = submit_change(&b, appid).await;
    let label = field_label(&html, "icp_subject.base_info.type");
    assert!(label.contains("invalid") && label.contains("注销本备案"), "{label}");

    // A member who may only view sees the record and the history, but cannot change it.
    let setup = Actor::new("test", "c");
    let viewer = app
        .svc
        .accounts()
        .create_account(&setup, "viewer61", "成员", "secret-pass-9")
        .await
        .expect("account");
    app.svc
        .accounts()
        .grant(&setup, appid, &viewer.id, MemberRole::Member, &[Permission::View])
        .await
        .expect("grant");
    let mut v = Browser::new(&app);
    v.login("viewer61", "secret-pass-9").await;
    let (st, page, _) = v.get(&format!("/console/apps/{appid}")).await;
    assert!(st == 200 && !page.contains("id=\"start-change\""), "{page}");
    assert_eq!(v.get(&format!("/console/apps/{appid}/change")).await.0, 403);
    assert_eq!(v.get(&format!("/console/apps/{appid}/history")).await.0, 200);

    // Nothing was written: still plainly filed, no change open.
    let info = app.svc.filings().entrance_info(appid).await.expect("info");
    assert_eq!((info.status, info.change.is_none()), (6, true));
    assert_eq!(app.svc.filings().online_order(appid).await.expect("online"), filed);
    app.stop().await;
}

async fn a_change_in_the_console(backend: Backend) {
    let app = TestApp::start(backend, 1000).await;
    let rx = Receiver::start(0).await;
    let appid = "wxchgc0002";
    let n = 63;
    let b = developer(&app, appid, n).await;
    // A provider acting for the mini program hears of the change's results.
    let creds = app
        .svc
        .providers()
        .create_provider(&Actor::new("operator", "t"), "变更服务商", &rx.url)
        .await
        .expect("provider");
    rx.set_keys(&creds);
    let (pre, _) = app.svc.providers().create_pre_auth_code(&creds.component_appid).await.expect("pre");
    let id = admin_id(n);
    let (code, _) = app
        .svc
        .providers()
        .authorize_provider(&creds.component_appid, &pre, appid, &admin_mobile(n), &id[12..], &[18])
        .await
        .expect("authorize");
    let token =
        app.svc.providers().query_auth(&creds.component_appid, &code).await.expect("auth").access_token;
    file(&app, appid, n).await;
    let filed = app.svc.filings().online_order(appid).await.expect("online");
    let service_no = filed.icp_applets.base_info.record_number.clone();

    // The status page offers the change and the history.
    let (_, page, _) = b.get(&format!("/console/apps/{appid}")).await;
    assert!(page.contains("id=\"start-change\"") && page.contains("id=\"history-link\""), "{page}");

    // Change one field, verify the admin again, and the review step shows only that field.
    let new_address = "科技园南区变更后大道8号";
    save_subject(&b, appid, &[("icp_subject.base_info.address", new_address)]).await;
    verify_admin_again(&app, &b, appid).await;
    let (_, review, _) = b.get(&format!("/console/apps/{appid}/change?step=review")).await;
    let diff =
        review.split("id=\"change-diff\"").nth(1).expect("the diff").split("</table>").next().expect("end");
    assert_eq!(diff.matches("data-field=").count(), 1, "{diff}");
    assert!(diff.contains("data-field=\"icp_subject.base_info.address\"") && diff.contains(new_address));
    assert!(diff.contains(&filed.icp_subject.base_info.address), "the filed value beside it");
    assert_eq!(review.matches("class=\"changed\"").count(), 1, "one row highlighted");
    // Checked as a change (not refused as an already filed application).
    assert!(review.contains("所有信息已通过规则校验") && !review.contains("无需重复申请"), "{review}");
    assert!(review.contains("id=\"submit-change\""));
    let (st, loc, _) =
        b.post(&format!("/console/apps/{appid}/change/submit"), &review, &[("agree", "1")]).await;
    assert_eq!((st, loc.as_str()), (303, format!("/console/apps/{appid}?submitted=change").as_str()));

    // Beside the record: the record's number, the change in platform review, withdraw offered.
    let (_, page, _) = b.get(&format!("/console/apps/{appid}?submitted=change")).await;
    assert!(page.contains("变更备案已提交") && page.contains(&service_no), "{page}");
    assert!(page.contains("已备案 · 变更平台审核中") && page.contains("id=\"withdraw-change\""), "{page}");
    // WeChat's entrance info keeps the filed status; the change is in the extension.
    let http = reqwest::Client::new();
    let info: serde_json::Value = http
        .get(app.url(&format!("/wxa/icp/get_icp_entrance_info?access_token={token}")))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(info["info"]["status"], 6, "{info}");
    assert_eq!(info["info"]["change"]["status"], 2, "{info}");

    // Staff: labelled 变更 in the queue, compared with the filed record.
    let cookie = staff_cookie(&app, &staff(&app, "审核员甲", Role::Reviewer).await).await;
    let (_, _, queue) = staff_get(&app, "/admin", &cookie).await;
    let row = queue.split(&format!("data-href=\"/admin/review/{appid}\"")).nth(1).expect("queued");
    assert!(row.split("</tr>").next().expect("row").contains("变更"), "{queue}");
    let (_, _, review_page) = staff_get(&app, &format!("/admin/review/{appid}"), &cookie).await;
    assert!(review_page.contains("id=\"change-label\"") && review_page.contains("与已备案信息的差异"));
    let staff_diff =
        review_page.split("id=\"diff\"").nth(1).expect("diff").split("</table>").next().expect("end");
    assert_eq!(staff_diff.matches("data-field=").count(), 1, "only the address: {staff_diff}");
    assert!(review_page.contains("id=\"approve\""), "decidable");
    assert!(review_page.contains("name=\"reason_id\""), "with the reason catalogue");

    // Rejected by the platform: the reasons beside the record, a way to fix; the provider told.
    let reasons = vec![AuditItem {
        key_name: "通讯地址".into(),
        error: "地址不完整".into(),
        suggest: "补全门牌号".into(),
    }];
    app.svc.filings().platform_reject(&reviewer(), appid, reasons).await.expect("reject");
    let (_, page, _) = b.get(&format!("/console/apps/{appid}")).await;
    assert!(page.contains("id=\"change-rejections\"") && page.contains("地址不完整"), "{page}");
    assert!(page.contains("id=\"resubmit-change\"") && page.contains(&service_no), "{page}");
    pump(&app, &rx, "the change result", |e| {
        e.iter().any(|e| e.info_type == "notify_change_icpfiling_result")
    })
    .await;
    let ev = &rx.of_type("notify_change_icpfiling_result")[0];
    assert_eq!(
        (
            ev.fields["authorizer_appid"].as_str(),
            ev.fields["beian_status"].as_str(),
            ev.fields["change_status"].as_str()
        ),
        (appid, "6", "3")
    );
    assert!(rx.of_type("notify_apply_icpfiling_result").len() == 1, "only the first filing's result");
    // 修改后重新提交变更 opens the rejected field's step, pre-filled from the rejected change,
    // the field marked.
    let (st, fix, _) = b.get(&format!("/console/apps/{appid}/change?resubmit=1")).await;
    assert_eq!(st, 200);
    let label = field_label(&fix, "icp_subject.base_info.address");
    assert!(
        label.contains("rejected") && label.contains(new_address) && label.contains("地址不完整"),
        "{label}"
    );
    // Withdrawn: the record stays as it was.
    let (st, _, _) = b.post(&format!("/console/apps/{appid}/withdraw"), &page, &[]).await;
    assert_eq!(st, 303);
    assert_eq!(app.svc.filings().online_order(appid).await.expect("online"), filed);
    let (_, page, _) = b.get(&format!("/console/apps/{appid}")).await;
    assert!(page.contains("id=\"start-change\"") && !page.contains("id=\"change-status\""), "{page}");

    // A new change starts from the record again (not from the withdrawn change) and is approved.
    let (_, page, _) = b.get(&format!("/console/apps/{appid}/change?step=subject")).await;
    assert!(page.contains(&filed.icp_subject.base_info.address), "{page}");
    save_subject(&b, appid, &[("icp_subject.base_info.address", new_address)]).await;
    verify_admin_again(&app, &b, appid).await;
    let (st, loc, _) = submit_change(&b, appid).await;
    assert_eq!((st, loc.as_str()), (303, format!("/console/apps/{appid}?submitted=change").as_str()));
    app.svc.filings().platform_approve(&reviewer(), appid).await.expect("approve");
    let (_, page, _) = b.get(&format!("/console/apps/{appid}")).await;
    assert!(page.contains("id=\"change-sms\"") && !page.contains("id=\"withdraw-change\""), "{page}");
    app.svc.filings().sms_verified(&Actor::authority(), appid).await.expect("sms");
    beian_testkit::service::authority_approve(&app.svc, appid).await.expect("approved");
    let online = app.svc.filings().online_order(appid).await.expect("online");
    assert_eq!(online.icp_subject.base_info.address, new_address);
    assert_eq!(online.icp_applets.base_info.record_number, service_no, "the number is kept");
    pump(&app, &rx, "the change result", |e| {
        e.iter().filter(|e| e.info_type == "notify_change_icpfiling_result").count() == 2
    })
    .await;
    let approved = &rx.of_type("notify_change_icpfiling_result")[1];
    assert_eq!(approved.fields["change_status"], "6");

    // The history: every submission, decision, the withdrawal and the number, newest first.
    let (st, history, _) = b.get(&format!("/console/apps/{appid}/history")).await;
    assert_eq!(st, 200);
    for want in [
        "提交备案申请",
        "提交变更备案",
        "平台初审驳回",
        "撤回变更",
        "管局审核通过，备案完成",
        "管局审核通过，变更生效",
        "驳回的字段：通讯地址",
        &format!("服务备案号：{service_no}"),
    ] {
        assert!(history.contains(want), "{want} in {history}");
    }
    for v in 1..=3 {
        assert!(history.contains(&format!("/console/apps/{appid}/history/{v}\"")), "version {v}");
    }
    assert!(
        history.find("变更生效").expect("approved") < history.find("备案完成").expect("filed"),
        "newest first"
    );
    // Version 2 (the first change) against version 1 (the filing): only the address.
    let (_, v2, _) = b.get(&format!("/console/apps/{appid}/history/2")).await;
    let d = v2.split("id=\"version-diff\"").nth(1).expect("diff").split("</table>").next().expect("end");
    assert_eq!(d.matches("data-field=").count(), 1, "{d}");
    assert!(d.contains(new_address));
    let (_, v1, _) = b.get(&format!("/console/apps/{appid}/history/1")).await;
    assert!(v1.contains("id=\"first-version\""));
    assert_eq!(b.get(&format!("/console/apps/{appid}/history/9")).await.0, 404);
    assert_eq!(b.get(&format!("/console/apps/{appid}/history/x")).await.0, 404);
    // Only members see it.
    let stranger = developer(&app, "wxchgc0003", 64).await;
    assert_eq!(stranger.get(&format!("/console/apps/{appid}/history")).await.0, 403);
    assert_eq!(stranger.get(&format!("/console/apps/{appid}/history/1")).await.0, 403);
    app.stop().await;
}
