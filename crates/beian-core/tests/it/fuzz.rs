//! Hostile input at scale: arbitrary JSON (any shape, any nesting, any strings) parsed as an
//! application and run through the whole rules engine never panics, and every refusal it
//! produces names a documented errcode. Cases: `PROPTEST_CASES` (default 256 per property).

use beian_core::dict::Dictionaries;
use beian_core::errcode;
use beian_core::model::{MiniProgram, Person};
use beian_core::payload::ApplyPayload;
use beian_core::policy::Policy;
use beian_core::rules::{check_apply, ApplyContext, Refusal};
use beian_core::state::ReadinessFlags;
use proptest::prelude::*;
use serde_json::Value;
use std::collections::HashMap;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,24}".prop_map(Value::String),
        "[0-9X]{0,20}".prop_map(Value::String),
        Just(Value::String("null".into())),
        Just(Value::String("长期".into())),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((field_name(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Real field names most of the time, so the fuzzer reaches deep into the rules.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "icp_subject",
            "icp_applets",
            "icp_materials",
            "base_info",
            "organize_info",
            "principal_info",
            "personal_info",
            "legal_person_info",
            "type",
            "name",
            "province",
            "city",
            "district",
            "address",
            "comment",
            "certificate_type",
            "certificate_number",
            "certificate_photo",
            "mobile",
            "email",
            "emergency_contact",
            "certificate_validity_date_start",
            "certificate_validity_date_end",
            "certificate_photo_front",
            "certificate_photo_back",
            "authorization_letter",
            "verify_task_id",
            "service_content_types",
            "nrlx_details",
            "code",
            "media",
            "commitment_letter",
            "promise_video",
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,12}",
    ]
}

/// An application-shaped skeleton with arbitrary leaves.
fn application() -> impl Strategy<Value = Value> {
    (json_value(), json_value(), json_value(), json_value(), json_value()).prop_map(|(a, b, c, d, e)| {
        serde_json::json!({
            "icp_subject": {"base_info": a, "organize_info": b, "principal_info": c},
            "icp_applets": {"base_info": d, "principal_info": e},
            "icp_materials": {}
        })
    })
}

fn run(p: &ApplyPayload) -> Result<(), Refusal> {
    let dict = Dictionaries::builtin();
    let policy = Policy::default();
    let mp = MiniProgram {
        appid: "wxfuzz".into(),
        name: "模糊测试".into(),
        admin: Person {
            name: "张三".into(),
            id_number: "440305199003071236".into(),
            mobile: "13800138000".into(),
        },
        flags: ReadinessFlags { basic_info_filled: true, category_filled: true, certified: true },
        listed: true,
        cleared: false,
        created_at: 0,
    };
    let media = HashMap::new();
    let rules = beian_core::rule_table::RuleTable::builtin();
    let now = chrono::DateTime::from_timestamp(1_772_416_800, 0).unwrap_or_default();
    let ctx = ApplyContext {
        now,
        dict: &dict,
        policy: &policy,
        mini_program: &mp,
        media: &media,
        face_task: None,
        subject: None,
        applies_today: 0,
        rules: &rules,
    };
    check_apply(p, &ctx)
}

fn documented(code: i64) -> bool {
    errcode::message(code).is_some()
}

proptest! {
    #[test]
    fn any_json_parses_or_fails_cleanly_and_never_panics(v in json_value()) {
        // Any top-level value: the parser either accepts it or returns an error, never panics.
        let _ = serde_json::from_value::<ApplyPayload>(v);
    }

    #[test]
    fn any_application_gets_documented_answers(v in application()) {
        if let Ok(p) = serde_json::from_value::<ApplyPayload>(v) {
            match run(&p) {
                Ok(()) => {}
                Err(Refusal::Request { errcode, .. }) => prop_assert!(documented(errcode)),
                Err(Refusal::Hints(h)) => {
                    prop_assert!(!h.is_empty());
                    for hint in h {
                        prop_assert!(documented(hint.errcode), "undocumented {}", hint.errcode);
                        prop_assert!(!hint.errmsg.is_empty());
                    }
                }
            }
        }
    }
}

#[test]
fn deep_nesting_is_refused_by_the_parser_not_a_stack_overflow() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(serde_json::from_str::<Value>(&deep).is_err(), "serde_json's recursion limit refuses it");
    let nested_obj = format!("{{\"icp_subject\":{}1{}}}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    assert!(serde_json::from_str::<ApplyPayload>(&nested_obj).is_err());
}

/// `"null"` with spaces around it is absent like `"null"` (found by `scripts/fuzz 600`:
/// `" null"` was kept as the text `null`, which reads back as absent — the stored application
/// differed from the one checked; seed `fuzz/corpus/apply_payload/regression-spaced-null`).
#[test]
fn spaced_null_is_absent_and_round_trips() {
    let body = serde_json::json!({
        "icp_subject": {"base_info": {"type": 5, "province": " null", "city": "NULL "}},
        "icp_applets": {"base_info": {"service_content_types": " null"}},
        "icp_materials": {"commitment_letter": [" null ", "m1"]}
    });
    let p: ApplyPayload = serde_json::from_value(body).expect("parses");
    assert_eq!((p.icp_subject.base_info.province.as_str(), p.icp_subject.base_info.city.as_str()), ("", ""));
    assert!(p.icp_applets.base_info.service_content_types.is_empty());
    assert_eq!(p.icp_materials.commitment_letter, vec!["m1".to_string()]);
    let again: ApplyPayload =
        serde_json::from_str(&serde_json::to_string(&p).expect("json")).expect("reads back");
    assert_eq!(again, p);
}
