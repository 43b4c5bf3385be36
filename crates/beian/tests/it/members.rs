//! 成员管理 over HTTP, as the console's users do it: the admin adds a member by account name,
//! changes and removes them; a member invited by e-mail accepts the link once; only the admin
//! manages members; a member of one mini program sees nothing of another; every change is
//! audited.

use crate::console::Browser;
use crate::platform_api::signed_in;
use crate::support::*;
use beian_core::model::AuditEntity;
use beian_core::platform::MemberRole;
use beian_service::Actor;

both!(the_admin_manages_members, an_invitation_by_e_mail_is_accepted_once);

/// A console account `user` with no membership, signed in.
async fn outsider(app: &TestApp, user: &str) -> (Browser, String) {
    let acc = app
        .svc
        .accounts()
        .create_account(&Actor::new("test", "c"), user, user, "secret-pass-1")
        .await
        .expect("account");
    let mut b = Browser::new(app);
    assert_eq!(b.login(user, "secret-pass-1").await.0, 303);
    (b, acc.id)
}

/// Save the wizard's first step as a filer would: 303 onwards, or the status it was refused with.
async fn files(b: &Browser, appid: &str, n: u32) -> u16 {
    let base = format!("/console/apps/{appid}/filing");
    let (st, page, _) = b.get(&format!("{base}?step=subject")).await;
    if st != 200 {
        return st;
    }
    let id = admin_id(n);
    let fields = [
        ("_step", "subject"),
        ("go", "next"),
        ("icp_subject.base_info.type", "5"),
        ("icp_subject.base_info.name", "管理员"),
        ("icp_subject.base_info.province", "440000"),
        ("icp_subject.base_info.city", "440300"),
        ("icp_subject.base_info.district", "440305"),
        ("icp_subject.base_info.address", "科技园路1号A座101室"),
        ("icp_subject.organize_info.certificate_type", "2"),
        ("icp_subject.organize_info.certificate_number", id.as_str()),
        ("icp_subject.organize_info.certificate_address", "广东省深圳市南山区科技园路1号"),
    ];
    let (st, loc, _) = b.post(&format!("{base}/save"), &page, &fields).await;
    assert!(st != 303 || loc.contains("step="), "{loc}");
    st
}

async fn members_page(b: &Browser, appid: &str) -> (u16, String) {
    let (st, page, _) = b.get(&format!("/console/apps/{appid}/members")).await;
    (st, page)
}

async fn audit_actions(app: &TestApp, entity_id: &str) -> Vec<String> {
    let trail = app.svc.audit_trail(AuditEntity::Membership, entity_id).await.expect("audit");
    trail.into_iter().map(|e| e.action).collect()
}

async fn the_admin_manages_members(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    let (mine, other) = ("wxmem0001", "wxmem0002");
    register(&app, mine, 91).await;
    register(&app, other, 92).await;
    let admin = signed_in(&app, mine, "admin91", MemberRole::Admin).await;
    let _other_admin = signed_in(&app, other, "admin92", MemberRole::Admin).await;
    let (bob, bob_id) = outsider(&app, "bob-dev").await;
    outsider(&app, "carol-dev").await;

    // Not a member: refused, and told where to ask.
    let (st, page, _) = bob.get(&format!("/console/apps/{mine}")).await;
    assert_eq!(st, 403);
    assert!(page.contains(&format!("/console/apps/{mine}/members")) && page.contains("成员管理"), "{page}");

    // The admin adds bob by account name with 填写备案: bob can file.
    let (st, page) = members_page(&admin, mine).await;
    assert_eq!(st, 200, "{page}");
    let add = format!("/console/apps/{mine}/members/add");
    let (st, loc, _) = admin.post(&add, &page, &[("username", "bob-dev"), ("perm", "file")]).await;
    assert_eq!((st, loc.as_str()), (303, format!("/console/apps/{mine}/members").as_str()));
    let (_, page) = members_page(&admin, mine).await;
    assert!(page.contains("bob-dev") && page.contains("填写备案"), "{page}");
    assert_eq!(bob.get(&format!("/console/apps/{mine}")).await.0, 200);
    assert_eq!(files(&bob, mine, 91).await, 303, "a member with 填写备案 files");

    // An unknown account name, a second add: refused on the page, in Chinese.
    let (st, _, body) = admin.post(&add, &page, &[("username", "nobody-here"), ("perm", "view")]).await;
    assert!(st == 400 && body.contains("不存在"), "{st} {body}");
    let (st, _, body) = admin.post(&add, &page, &[("username", "bob-dev"), ("perm", "view")]).await;
    assert!(st == 400 && body.contains("已是成员"), "{st} {body}");
    let (st, _, body) = admin.post(&add, &page, &[("username", "carol-dev"), ("perm", "owner")]).await;
    assert!(st == 400 && body.contains("请选择权限"), "{st} {body}");

    // A member who is not the admin manages nothing.
    let (st, page) = members_page(&bob, mine).await;
    assert_eq!(st, 403, "{page}");
    let (_, status_page, _) = bob.get(&format!("/console/apps/{mine}")).await;
    let (st, _, _) = bob.post(&add, &status_page, &[("username", "carol-dev"), ("perm", "file")]).await;
    assert_eq!(st, 403, "a non-admin cannot add");
    let invite = format!("/console/apps/{mine}/members/invite");
    let (st, _, _) = bob.post(&invite, &status_page, &[("email", "c@example.com"), ("perm", "file")]).await;
    assert_eq!(st, 403, "a non-admin cannot invite");
    let (st, _, _) = bob
        .post(&format!("/console/apps/{mine}/members/{bob_id}/perm"), &status_page, &[("perm", "file")])
        .await;
    assert_eq!(st, 403);

    // A member of one mini program sees nothing of another.
    assert_eq!(bob.get(&format!("/console/apps/{other}")).await.0, 403);
    assert_eq!(members_page(&bob, other).await.0, 403);
    assert_eq!(files(&bob, other, 92).await, 403);
    let (_, home, _) = bob.get("/console").await;
    assert!(home.contains(mine) && !home.contains(other), "{home}");

    // 查看 only: no filing.
    let (_, page) = members_page(&admin, mine).await;
    let perm = format!("/console/apps/{mine}/members/{bob_id}/perm");
    assert_eq!(admin.post(&perm, &page, &[("perm", "view")]).await.0, 303);
    assert_eq!(bob.get(&format!("/console/apps/{mine}")).await.0, 200);
    assert_eq!(files(&bob, mine, 91).await, 403, "查看 does not file");

    // Removed: nothing.
    let remove = format!("/console/apps/{mine}/members/{bob_id}/remove");
    assert_eq!(admin.post(&remove, &page, &[]).await.0, 303);
    assert_eq!(bob.get(&format!("/console/apps/{mine}")).await.0, 403);
    assert_eq!(files(&bob, mine, 91).await, 403, "a removed member cannot file");
    // The admin is not removed here (the host platform decides who the admin is).
    assert!(app.svc.accounts().memberships(&bob_id).await.expect("memberships").is_empty());
    let (st, _, body) =
        admin.post(&format!("/console/apps/{mine}/members/{}/remove", "acc-unknown"), &page, &[]).await;
    assert!(st == 400 && body.contains("不是此小程序的成员"), "{st} {body}");

    // Every change audited.
    let actions = audit_actions(&app, &format!("{mine}/{bob_id}")).await;
    assert_eq!(actions, ["grant", "grant", "revoke"], "{actions:?}");
    app.stop().await;
}

/// The token of the invitation link in a received e-mail (a base64 text body).
fn invitation_token(data: &str) -> String {
    use base64::Engine;
    let body = data.split_once("\n\n").map(|(_, b)| b).unwrap_or_default();
    let b64: String = body.chars().filter(|c| !c.is_whitespace() && *c != '.').collect();
    let text = base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()).expect("a base64 body");
    let text = String::from_utf8(text).expect("utf-8");
    let at =
        text.find("/console/invitations/").expect("a link in the e-mail") + "/console/invitations/".len();
    text[at..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect()
}

async fn an_invitation_by_e_mail_is_accepted_once(b: Backend) {
    let (port, mail) = smtp_server().await;
    let channels = smtp_channels(port);
    let app = TestApp::start_with(b, 1000, channels).await;
    let appid = "wxmem0003";
    register(&app, appid, 93).await;
    let admin = signed_in(&app, appid, "admin93", MemberRole::Admin).await;
    let (carol, carol_id) = outsider(&app, "carol-inv").await;
    let (dave, _) = outsider(&app, "dave-inv").await;

    let (_, page) = members_page(&admin, appid).await;
    let invite = format!("/console/apps/{appid}/members/invite");
    let (st, _, body) = admin.post(&invite, &page, &[("email", "not an address"), ("perm", "file")]).await;
    assert!(st == 400 && body.contains("邮箱"), "{st} {body}");
    let (st, _, _) = admin.post(&invite, &page, &[("email", "carol@example.com"), ("perm", "file")]).await;
    assert_eq!(st, 303);
    let (_, page) = members_page(&admin, appid).await;
    assert!(page.contains("待接受的邀请"), "{page}");
    eventually("the invitation e-mail", || async { !mail.lock().expect("lock").is_empty() }).await;
    let (to, data) = mail.lock().expect("lock")[0].clone();
    assert_eq!(to, "carol@example.com");
    let token = invitation_token(&data);
    assert!(token.len() >= 32, "{data}");
    let link = format!("/console/invitations/{token}");

    // Opening the link shows the offer; accepting it (as whoever is signed in) joins.
    let (st, offer, _) = carol.get(&link).await;
    assert!(st == 200 && offer.contains("填写备案") && offer.contains(appid), "{offer}");
    assert_eq!(carol.get(&format!("/console/apps/{appid}")).await.0, 403, "not before accepting");
    let (st, loc, _) = carol.post(&link, &offer, &[]).await;
    assert_eq!((st, loc.as_str()), (303, format!("/console/apps/{appid}").as_str()));
    assert_eq!(carol.get(&format!("/console/apps/{appid}")).await.0, 200);
    assert_eq!(files(&carol, appid, 93).await, 303, "the invited member files");
    assert!(audit_actions(&app, &format!("{appid}/{carol_id}")).await.contains(&"accept".to_string()));

    // Single use: the same link again, by anyone, is refused.
    let (st, body, _) = dave.get(&link).await;
    assert!(st == 400 && body.contains("已被使用"), "{st} {body}");
    let (_, dave_page, _) = dave.get("/console").await;
    let (st, _, body) = dave.post(&link, &dave_page, &[]).await;
    assert!(st == 400 && body.contains("已被使用"), "{st} {body}");
    assert_eq!(dave.get(&format!("/console/apps/{appid}")).await.0, 403);
    // A made-up token, and an expired one.
    let (st, body, _) = dave.get("/console/invitations/madeup0000000000000000000000000000").await;
    assert!(st == 400 && body.contains("无效"), "{st} {body}");
    let (_, page) = members_page(&admin, appid).await;
    assert_eq!(admin.post(&invite, &page, &[("email", "dave@example.com"), ("perm", "view")]).await.0, 303);
    eventually("the second e-mail", || async { mail.lock().expect("lock").len() >= 2 }).await;
    let token = invitation_token(&mail.lock().expect("lock")[1].1);
    app.clock.advance(chrono::Duration::days(7) + chrono::Duration::seconds(1));
    // (Sessions last 12 hours: sign in again.)
    let mut dave = Browser::new(&app);
    assert_eq!(dave.login("dave-inv", "secret-pass-1").await.0, 303);
    let (st, body, _) = dave.get(&format!("/console/invitations/{token}")).await;
    assert!(st == 400 && body.contains("已过期"), "{st} {body}");
    app.stop().await;
}
