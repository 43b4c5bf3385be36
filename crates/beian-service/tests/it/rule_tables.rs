//! The rule table as stored data, on both databases: seeded as version 1, published in
//! audited versions that survive a restart, invalid tables refused in Chinese, dictionary
//! edits that would break it refused, and a new version applies to new submissions only.

use crate::both_backends;
use crate::support::*;
use beian_core::dict::DictKind;
use beian_core::errcode;
use beian_core::model::AuditEntity;
use beian_core::rule_table::RuleTable;
use beian_service::{Actor, Service, ServiceError};
use beian_store::MediaFiles;

both_backends!(seeded_published_audited_and_reloaded, a_new_version_applies_to_new_submissions_only);

fn operator() -> Actor {
    Actor::new("operator", "op1")
}

/// The built-in table plus one row.
fn builtin_plus(row: serde_json::Value) -> String {
    let mut rows: serde_json::Value = serde_json::from_str(&RuleTable::builtin().to_json()).expect("json");
    rows.as_array_mut().expect("an array").push(row);
    rows.to_string()
}

async fn seeded_published_audited_and_reloaded(b: Backend) {
    let env = env(b).await;
    let t = env.svc.rule_table();
    assert_eq!(t.version(), 1, "the seed is version 1");
    assert_eq!(t.rows(), RuleTable::builtin().rows());
    let history = env.svc.rule_table_history(10).await.expect("history");
    assert_eq!(history.iter().map(|v| (v.version, v.author.as_str())).collect::<Vec<_>>(), vec![(1, "seed")]);

    // Refused: told why in Chinese, nothing stored, nothing audited.
    let bad = r#"[{"id":"x","scope":"999999","require":{"kind":"local_id"},"hint":"须本地身份证","source":"s","as_of":"2026-12-01"}]"#;
    match env.svc.publish_rule_table(&operator(), bad).await {
        Err(ServiceError::Refused { errcode: code, errmsg }) => {
            assert_eq!(code, errcode::INVALID_INPUT);
            assert!(errmsg.starts_with("规则表不合法：第1行（id：x）：scope"), "{errmsg}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(env.svc.rule_table_history(10).await.expect("history").len(), 1);
    assert!(env.svc.audit_trail(AuditEntity::RuleTable, "platform").await.expect("audit").is_empty());

    let json = builtin_plus(serde_json::json!({
        "id": "test-beijing-local-id", "scope": "110000", "subjects": "personal",
        "require": {"kind": "local_id"}, "hint": "北京须本地身份证", "source": "test", "as_of": "2026-12-01"
    }));
    let v = env.svc.publish_rule_table(&operator(), &json).await.expect("publish");
    assert_eq!(v, 2);
    assert_eq!(env.svc.rule_table().version(), 2);
    assert_eq!(env.svc.rule_table().rows().len(), RuleTable::builtin().rows().len() + 1);
    let history = env.svc.rule_table_history(10).await.expect("history");
    assert_eq!(
        history.iter().map(|v| (v.version, v.author.as_str())).collect::<Vec<_>>(),
        vec![(2, "operator:op1"), (1, "seed")]
    );
    let trail = env.svc.audit_trail(AuditEntity::RuleTable, "platform").await.expect("audit");
    assert_eq!(trail.len(), 1);
    assert_eq!((trail[0].actor.as_str(), trail[0].action.as_str()), ("operator:op1", "publish"));
    assert_eq!(trail[0].detail["version"], 2);
    assert_eq!(
        env.svc.rule_table_version(1).await.expect("v1").map(|j| RuleTable::from_json(
            &j,
            &env.svc.dictionaries(),
            1
        )),
        Some(Ok(RuleTable::builtin()))
    );

    // Another service on the same database (a restart) loads version 2, not the seed.
    let media = MediaFiles::new(env.dir.path().join("media")).expect("media dir");
    let again = Service::start(env.store.clone(), media, env.clock.clone()).await.expect("restart");
    assert_eq!(*again.rule_table(), *env.svc.rule_table());

    // A dictionary edit that would leave the table naming a missing type is refused.
    let nrlx: Vec<serde_json::Value> =
        serde_json::from_str(&env.svc.dictionaries().kind_json(DictKind::NrlxTypes)).expect("json");
    let without_news: Vec<_> = nrlx.into_iter().filter(|t| t["type"] != 1).collect();
    let json = serde_json::to_string(&without_news).expect("json");
    match env.svc.update_dictionary(&operator(), DictKind::NrlxTypes, &json).await {
        Err(ServiceError::Refused { errmsg, .. }) => assert!(errmsg.contains("规则表"), "{errmsg}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn a_new_version_applies_to_new_submissions_only(b: Backend) {
    let env = env(b).await;
    // A second node on the same database, started before the new version is published.
    let media = MediaFiles::new(env.dir.path().join("media")).expect("media dir");
    let node2 = Service::start(env.store.clone(), media, env.clock.clone()).await.expect("second node");
    let (p1, p2) = (person(1), person(2));
    mini_program(&env, "wxrules00001", &p1).await;
    mini_program(&env, "wxrules00002", &p2).await;
    let first = personal_payload(&env, "wxrules00001", &p1).await;
    env.svc.filings().apply(&actor(), "wxrules00001", first).await.expect("apply under version 1");

    // Version 2: 广东 now asks every filing for a construction proposal.
    let hint = "广东测试规则：请上传网站建设方案书";
    let json = builtin_plus(serde_json::json!({
        "id": "test-guangdong-proposal", "scope": "440000",
        "require": {"kind": "material", "material": "website_construction_proposal"},
        "hint": hint, "source": "test", "as_of": "2026-12-01"
    }));
    assert_eq!(env.svc.publish_rule_table(&operator(), &json).await.expect("publish"), 2);

    // The order submitted under version 1 is not re-checked: review goes on.
    let v = env
        .svc
        .filings()
        .platform_approve(&Actor::new("reviewer", "r1"), "wxrules00001")
        .await
        .expect("approve");
    assert_eq!(v.status, 4);

    // A new submission is checked against version 2, on the other node too (it looks for a
    // newer version before an apply, at most every RULES_FRESH_SECS).
    assert_eq!(node2.rule_table().version(), 1, "node 2 loaded version 1");
    let mut second = personal_payload(&env, "wxrules00002", &p2).await;
    match node2.filings().apply(&actor(), "wxrules00002", second.clone()).await {
        Err(ServiceError::Hints(h)) => {
            assert_eq!(h.len(), 1, "{h:?}");
            assert_eq!(
                (h[0].errcode, h[0].err_field.as_str(), h[0].errmsg.as_str()),
                (errcode::RULE_TABLE, "icp_materials.website_construction_proposal", hint)
            );
        }
        other => panic!("expected the new row's hint, got {other:?}"),
    }
    let proposal = upload(&env, "wxrules00002", "icp_materials.website_construction_proposal", None).await;
    second.icp_materials.website_construction_proposal = vec![proposal];
    assert_eq!(node2.rule_table().version(), 2, "node 2 read version 2");
    env.svc.filings().apply(&actor(), "wxrules00002", second).await.expect("apply under version 2");

    // Each submission records the version it was checked against.
    let checked_with = |trail: Vec<beian_core::model::AuditEvent>| {
        trail
            .iter()
            .filter(|e| e.action == "apply")
            .map(|e| e.detail["rules_version"].clone())
            .collect::<Vec<_>>()
    };
    let trail = env.svc.audit_trail(AuditEntity::Filing, "wxrules00001").await.expect("audit");
    assert_eq!(checked_with(trail), vec![serde_json::json!(1)]);
    let trail = env.svc.audit_trail(AuditEntity::Filing, "wxrules00002").await.expect("audit");
    assert_eq!(checked_with(trail), vec![serde_json::json!(2)]);
}
