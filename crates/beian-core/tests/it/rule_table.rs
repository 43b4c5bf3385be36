//! The rule table as data: the seed is valid and documented, validation refuses bad tables
//! with a Chinese reason naming the row, and province rows replace national ones only for
//! the kinds that say so. (Each seeded row's passing and failing application is in
//! `rules.rs`, `every_seeded_rule_row_passes_and_fails`.)

use beian_core::dict::Dictionaries;
use beian_core::rule_table::{RuleError, RuleTable, SCOPE_ALL};

fn dict() -> Dictionaries {
    Dictionaries::builtin()
}

/// A one-row table with `require` and the other fields valid, with `patch` applied.
fn one_row(patch: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut row = serde_json::json!({
        "id": "test-row",
        "scope": "all",
        "require": { "kind": "validity_months", "months": 3 },
        "hint": "证件有效期不足",
        "source": "test",
        "as_of": "2026-12-01"
    });
    patch(&mut row);
    serde_json::json!([row]).to_string()
}

#[test]
fn the_seed_is_valid_and_round_trips() {
    let t = RuleTable::builtin();
    assert_eq!(t.version(), 1);
    let again = RuleTable::from_json(&t.to_json(), &dict(), 1).expect("the export is importable");
    assert_eq!(again, t);
    for row in t.rows() {
        assert!(!row.source.trim().is_empty(), "{}", row.id);
        assert!(row.source.contains("REAL-WORLD.md §6"), "row {} cites REAL-WORLD.md §6", row.id);
    }
}

#[test]
fn docs_list_every_seeded_row() {
    let doc = include_str!("../../../../docs/rules.md");
    for row in RuleTable::builtin().rows() {
        assert!(doc.contains(&format!("`{}`", row.id)), "docs/rules.md lists row {}", row.id);
    }
}

#[test]
fn bad_tables_are_refused_with_the_row_and_the_reason() {
    let d = dict();
    let cases: Vec<(&str, String, &str)> = vec![
        ("not JSON", "{".into(), "不是合法的JSON"),
        ("not an array", "{}".into(), "不是合法的JSON"),
        ("empty", "[]".into(), "不能为空"),
        ("unknown field", one_row(|r| r["hnit"] = "x".into()), "不是合法的JSON"),
        ("unknown kind", one_row(|r| r["require"] = serde_json::json!({"kind": "nope"})), "不是合法的JSON"),
        ("bad date", one_row(|r| r["as_of"] = "2026-13-01".into()), "不是合法的JSON"),
        ("bad id", one_row(|r| r["id"] = "Bad Id".into()), "id 只能"),
        ("unknown province", one_row(|r| r["scope"] = "990000".into()), "scope"),
        ("a city is no province", one_row(|r| r["scope"] = "440300".into()), "scope"),
        ("hint without Chinese", one_row(|r| r["hint"] = "fix it".into()), "hint"),
        ("no source", one_row(|r| r["source"] = " ".into()), "source"),
        (
            "months out of range",
            one_row(|r| r["require"] = serde_json::json!({"kind": "validity_months", "months": 0})),
            "months",
        ),
        (
            "max zero",
            one_row(|r| r["require"] = serde_json::json!({"kind": "max_in_progress", "max": 0})),
            "max",
        ),
        (
            "unknown material",
            one_row(|r| r["require"] = serde_json::json!({"kind": "material", "material": "letter"})),
            "material",
        ),
        (
            "first-level service type",
            one_row(
                |r| r["require"] = serde_json::json!({"kind": "pre_approval", "service_content_types": [100], "nrlx_types": [1]}),
            ),
            "一级类型",
        ),
        (
            "unknown nrlx type",
            one_row(
                |r| r["require"] = serde_json::json!({"kind": "pre_approval", "service_content_types": [13], "nrlx_types": [99]}),
            ),
            "nrlx_types",
        ),
        (
            "以上都不涉及 as a pre-approval",
            one_row(
                |r| r["require"] = serde_json::json!({"kind": "pre_approval", "service_content_types": [13], "nrlx_types": [24]}),
            ),
            "以上都不涉及",
        ),
    ];
    for (name, json, needle) in cases {
        match RuleTable::from_json(&json, &d, 2) {
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains(needle), "{name}: {msg:?} should mention {needle:?}");
                if let RuleError::Row { index, .. } = &e {
                    assert_eq!(*index, 1, "{name}");
                    assert!(msg.starts_with("第1行"), "{name}: {msg}");
                }
            }
            Ok(_) => panic!("{name}: accepted"),
        }
    }
    // Two rows of a replacing kind in one scope contradict each other; ids must be unique.
    let row = serde_json::from_str::<serde_json::Value>(&one_row(|_| {})).expect("json")[0].clone();
    let mut other = row.clone();
    other["id"] = "other".into();
    let dup_kind = serde_json::json!([row, other]).to_string();
    let e = RuleTable::from_json(&dup_kind, &d, 2).expect_err("two validity rows for all");
    assert!(matches!(e, RuleError::Row { index: 2, .. }), "{e}");
    let dup_id = serde_json::json!([row, row]).to_string();
    assert!(RuleTable::from_json(&dup_id, &d, 2).expect_err("dup id").to_string().contains("id 重复"));
}

#[test]
fn province_rows_replace_national_rows_of_replacing_kinds_only() {
    let t = RuleTable::builtin();
    let kinds = |province: &str, personal: bool| {
        let mut v: Vec<(String, &str)> =
            t.applicable(province, personal).iter().map(|r| (r.scope.clone(), r.require.kind())).collect();
        v.sort();
        v
    };
    // 宁夏, an individual: 宁夏's validity and local-ID rows; the national residence row
    // stays (the engine skips it when a local ID is required); pre-approvals are national.
    let nx = kinds("640000", true);
    assert!(nx.contains(&("640000".into(), "validity_months")));
    assert!(!nx.contains(&(SCOPE_ALL.into(), "validity_months")));
    assert!(nx.contains(&("640000".into(), "local_id")));
    assert!(nx.contains(&(SCOPE_ALL.into(), "pre_approval")));
    // 上海's residence row replaces the national one.
    let sh = kinds("310000", true);
    assert!(sh.contains(&("310000".into(), "residence_proof")));
    assert!(!sh.contains(&(SCOPE_ALL.into(), "residence_proof")));
    // Organisations are not concerned by rows for individuals, and 广东's material row adds to
    // the national pre-approvals.
    let gd = kinds("440000", false);
    assert!(!gd.iter().any(|(_, k)| *k == "residence_proof"));
    assert!(gd.contains(&("440000".into(), "material")));
    assert!(gd.contains(&(SCOPE_ALL.into(), "pre_approval")));
}
