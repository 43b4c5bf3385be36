//! The host platform's events through `Service::receive_platform_event`: each applied once
//! per event id (a repeat answers the first outcome, a concurrent repeat too), the listing
//! gate, deletion refused while an order is open or filed, an admin change after filing
//! recorded with a 站内信.

use crate::both_backends;
use crate::support::*;
use beian_core::model::{AuditEntity, Person as Admin};
use beian_core::state::ReadinessFlags;
use beian_ports::host::{EventId, PlatformEvent, PlatformEventOutcome};
use beian_service::Actor;

both_backends!(
    host_events_apply_once_per_id,
    host_refusals_change_nothing_and_are_answered_again,
    concurrent_deliveries_of_one_event_apply_it_once,
    admin_change_after_filing_is_recorded,
);

fn id(s: &str) -> EventId {
    EventId::parse(s).expect("event id")
}

fn admin(n: u32) -> Admin {
    let p = person(n);
    Admin { name: p.name, id_number: p.id, mobile: p.mobile }
}

fn upsert(appid: &str, name: &str, listed: bool, admin: Option<Admin>) -> PlatformEvent {
    PlatformEvent::MiniProgramUpserted {
        appid: appid.into(),
        name: name.into(),
        flags: ReadinessFlags { basic_info_filled: true, category_filled: true, certified: true },
        listed,
        owner: "dev-1".into(),
        admin,
    }
}

async fn actions(env: &Env, appid: &str) -> Vec<String> {
    let trail = env.svc.audit_trail(AuditEntity::MiniProgram, appid).await.expect("audit");
    trail.into_iter().map(|e| e.action).collect()
}

async fn host_events_apply_once_per_id(b: Backend) {
    let env = env(b).await;
    let svc = &env.svc;
    let created = upsert("wxhost0001", "宿主同步", true, Some(admin(1)));
    assert_eq!(
        svc.mini_programs().receive_platform_event(&id("e-1"), &created).await.expect("e-1"),
        PlatformEventOutcome::Registered
    );
    // The same id again, even with another body: the first outcome, nothing done.
    assert_eq!(
        svc.mini_programs().receive_platform_event(&id("e-1"), &created).await.expect("repeat"),
        PlatformEventOutcome::Registered
    );
    let renamed = upsert("wxhost0001", "宿主同步改名", true, None);
    assert_eq!(
        svc.mini_programs().receive_platform_event(&id("e-1"), &renamed).await.expect("repeat, other body"),
        PlatformEventOutcome::Registered
    );
    assert_eq!(svc.mini_programs().mini_program("wxhost0001").await.expect("mp").name, "宿主同步");
    assert_eq!(actions(&env, "wxhost0001").await, ["register"]);

    let outcome = svc.mini_programs().receive_platform_event(&id("e-2"), &renamed).await.expect("e-2");
    assert_eq!(outcome, PlatformEventOutcome::Updated { admin_changed: false, filed: false });
    let mp = svc.mini_programs().mini_program("wxhost0001").await.expect("mp");
    assert_eq!((mp.name.as_str(), mp.listed), ("宿主同步改名", true));

    let delisted = PlatformEvent::Delisted { appid: "wxhost0001".into() };
    assert_eq!(
        svc.mini_programs().receive_platform_event(&id("e-3"), &delisted).await.expect("e-3"),
        PlatformEventOutcome::Delisted
    );
    assert!(!svc.mini_programs().mini_program("wxhost0001").await.expect("mp").listed);

    // The same admin is no change; another one is stored (no filed order: nothing else).
    let same = PlatformEvent::AdminChanged { appid: "wxhost0001".into(), admin: admin(1) };
    assert_eq!(
        svc.mini_programs().receive_platform_event(&id("e-4"), &same).await.expect("e-4"),
        PlatformEventOutcome::Updated { admin_changed: false, filed: false }
    );
    let other = PlatformEvent::AdminChanged { appid: "wxhost0001".into(), admin: admin(2) };
    assert_eq!(
        svc.mini_programs().receive_platform_event(&id("e-5"), &other).await.expect("e-5"),
        PlatformEventOutcome::Updated { admin_changed: true, filed: false }
    );
    assert_eq!(svc.mini_programs().mini_program("wxhost0001").await.expect("mp").admin, admin(2));

    let deleted = PlatformEvent::Deleted { appid: "wxhost0001".into() };
    assert_eq!(
        svc.mini_programs().receive_platform_event(&id("e-6"), &deleted).await.expect("e-6"),
        PlatformEventOutcome::Deleted
    );
    assert_eq!(actions(&env, "wxhost0001").await.last().map(String::as_str), Some("host_deleted"));
    // Every effect was audited as the host's event.
    let trail = svc.audit_trail(AuditEntity::MiniProgram, "wxhost0001").await.expect("audit");
    assert!(trail.iter().all(|e| e.actor.starts_with("host:e-")), "{trail:?}");
}

async fn host_refusals_change_nothing_and_are_answered_again(b: Backend) {
    let env = env(b).await;
    let svc = &env.svc;
    // A mini program beian does not know needs its admin.
    let bare = upsert("wxhost0002", "无管理员", true, None);
    let first = svc.mini_programs().receive_platform_event(&id("r-1"), &bare).await.expect("r-1");
    assert!(
        matches!(&first, PlatformEventOutcome::Refused { reason, .. } if reason.contains("管理员")),
        "{first:?}"
    );
    assert!(svc.mini_programs().mini_program("wxhost0002").await.is_err(), "nothing registered");
    // Answered again as it was, though an identical event under a new id would now pass.
    let with_admin = upsert("wxhost0002", "无管理员", false, Some(admin(3)));
    assert_eq!(
        svc.mini_programs().receive_platform_event(&id("r-1"), &with_admin).await.expect("repeat"),
        first
    );
    assert_eq!(
        svc.mini_programs().receive_platform_event(&id("r-2"), &with_admin).await.expect("r-2"),
        PlatformEventOutcome::Registered
    );
    // Unknown appid, bad admin: refused with the reason.
    let unknown = PlatformEvent::Listed { appid: "wxnosuch".into() };
    let out = svc.mini_programs().receive_platform_event(&id("r-3"), &unknown).await.expect("r-3");
    assert!(matches!(out, PlatformEventOutcome::Refused { errcode: 86915, .. }), "{out:?}");
    let bad = PlatformEvent::AdminChanged {
        appid: "wxhost0002".into(),
        admin: Admin { name: "某人".into(), id_number: "123".into(), mobile: "13800000000".into() },
    };
    let out = svc.mini_programs().receive_platform_event(&id("r-4"), &bad).await.expect("r-4");
    assert!(
        matches!(&out, PlatformEventOutcome::Refused { reason, .. } if reason.contains("身份证")),
        "{out:?}"
    );
    assert_eq!(svc.mini_programs().mini_program("wxhost0002").await.expect("mp").admin, admin(3));

    // The listing gate (long past in the default policy) refuses listing an unfiled one, by
    // Listed and by an upsert that lists it.
    let listed = PlatformEvent::Listed { appid: "wxhost0002".into() };
    let out = svc.mini_programs().receive_platform_event(&id("r-5"), &listed).await.expect("r-5");
    assert!(matches!(out, PlatformEventOutcome::Refused { errcode: 86919, .. }), "{out:?}");
    let relist = upsert("wxhost0002", "改名并上架", true, None);
    let out = svc.mini_programs().receive_platform_event(&id("r-6"), &relist).await.expect("r-6");
    assert!(matches!(out, PlatformEventOutcome::Refused { errcode: 86919, .. }), "{out:?}");
    let mp = svc.mini_programs().mini_program("wxhost0002").await.expect("mp");
    assert_eq!((mp.name.as_str(), mp.listed), ("无管理员", false), "a refused upsert changes nothing");

    // An order under review: deletion refused, nothing changes.
    let p = person(3);
    let payload = personal_payload(&env, "wxhost0002", &p).await;
    svc.filings().apply(&actor(), "wxhost0002", payload).await.expect("apply");
    let deleted = PlatformEvent::Deleted { appid: "wxhost0002".into() };
    let out = svc.mini_programs().receive_platform_event(&id("r-7"), &deleted).await.expect("r-7");
    assert!(
        matches!(&out, PlatformEventOutcome::Refused { reason, .. } if reason.contains("审核中")),
        "{out:?}"
    );
    assert!(!actions(&env, "wxhost0002").await.iter().any(|a| a == "host_deleted"));
    assert_eq!(svc.mini_programs().receive_platform_event(&id("r-7"), &deleted).await.expect("repeat"), out);
}

async fn concurrent_deliveries_of_one_event_apply_it_once(b: Backend) {
    let env = env(b).await;
    let event = upsert("wxhost0003", "并发同步", true, Some(admin(4)));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let svc = env.svc.clone();
        let event = event.clone();
        tasks.push(tokio::spawn(async move {
            svc.mini_programs().receive_platform_event(&id("c-1"), &event).await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("join").expect("delivered"), PlatformEventOutcome::Registered);
    }
    assert_eq!(actions(&env, "wxhost0003").await, ["register"], "applied once");
}

async fn admin_change_after_filing_is_recorded(b: Backend) {
    let env = env(b).await;
    let svc = &env.svc;
    let p = person(5);
    let created = upsert("wxhost0004", "已备案同步", true, Some(admin(5)));
    assert_eq!(
        svc.mini_programs().receive_platform_event(&id("f-1"), &created).await.expect("f-1"),
        PlatformEventOutcome::Registered
    );
    let payload = personal_payload(&env, "wxhost0004", &p).await;
    svc.filings().apply(&actor(), "wxhost0004", payload).await.expect("apply");
    svc.filings().platform_approve(&Actor::new("reviewer", "r1"), "wxhost0004").await.expect("approve");
    svc.filings().sms_verified(&Actor::authority(), "wxhost0004").await.expect("sms");
    beian_testkit::service::authority_approve(svc, "wxhost0004").await.expect("filed");

    let changed = PlatformEvent::AdminChanged { appid: "wxhost0004".into(), admin: admin(6) };
    assert_eq!(
        svc.mini_programs().receive_platform_event(&id("f-2"), &changed).await.expect("f-2"),
        PlatformEventOutcome::Updated { admin_changed: true, filed: true }
    );
    let (messages, _) = svc.mini_programs().messages("wxhost0004", 20).await.expect("messages");
    assert_eq!(messages.iter().filter(|m| m.title == "负责人须变更").count(), 1);
    assert!(actions(&env, "wxhost0004").await.iter().any(|a| a == "admin_changed_after_filing"));
    // A repeat records nothing more.
    svc.mini_programs().receive_platform_event(&id("f-2"), &changed).await.expect("repeat");
    let (messages, _) = svc.mini_programs().messages("wxhost0004", 20).await.expect("messages");
    assert_eq!(messages.iter().filter(|m| m.title == "负责人须变更").count(), 1);

    // Filed: not deleted (cancel first).
    let deleted = PlatformEvent::Deleted { appid: "wxhost0004".into() };
    let out = svc.mini_programs().receive_platform_event(&id("f-3"), &deleted).await.expect("f-3");
    assert!(
        matches!(&out, PlatformEventOutcome::Refused { reason, .. } if reason.contains("注销")),
        "{out:?}"
    );
    assert!(svc.mini_programs().mini_program("wxhost0004").await.expect("mp").listed);
}
