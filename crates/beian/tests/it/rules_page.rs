//! The rule table through the entries people use: the operators' staff page (view every row
//! with its source and as-of date, publish a new version, refused tables explained in
//! Chinese, the JSON download) and `beian rules export` / `import`.

use crate::security_staff::{csrf_of, get, post, sign_in, staff};
use crate::support::{Backend, TestApp};
use beian_core::platform::Role;
use beian_core::rule_table::RuleTable;
use std::process::Command;

async fn staff_page(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    let operator = staff(&app, "运营规则", Role::Operator).await;
    let reviewer = staff(&app, "审核规则", Role::Reviewer).await;
    let (cookie, _) = sign_in(&app, &operator).await;

    let page = get(&app, "/admin/ops/rules", &cookie).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("规则表（第1版）"), "{}", page.body);
    for row in RuleTable::builtin().rows() {
        assert!(page.body.contains(&row.id), "row {} shown", row.id);
        let as_of = row.as_of.format("%Y-%m-%d").to_string();
        assert!(page.body.contains(&as_of), "row {}'s as_of shown", row.id);
    }
    assert!(page.body.contains("华为云知识库《备案管局咨询》"), "sources are shown");
    assert!(page.body.contains("宁夏回族自治区"), "scopes by name");

    // Reviewers do not reach it.
    let (rcookie, _) = sign_in(&app, &reviewer).await;
    assert_eq!(get(&app, "/admin/ops/rules", &rcookie).await.status, 403);

    // A bad table is refused in Chinese, naming the row; nothing is published.
    let csrf = csrf_of(&page.body);
    let bad = r#"[{"id":"bad","scope":"all","require":{"kind":"validity_months","months":99},"hint":"有效期","source":"s","as_of":"2026-12-01"}]"#;
    let a = post(&app, "/admin/ops/rules", &cookie, &[("_csrf", csrf.as_str()), ("json", bad)]).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("规则表不合法：第1行（id：bad）：months 应在1到60之间"), "{}", a.body);
    assert_eq!(app.svc.rule_table().version(), 1);

    // An edited table (one hint changed) is published as version 2 and shown.
    let download = reqwest::Client::new()
        .get(app.url("/admin/ops/rules.json"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("download");
    assert_eq!(download.status(), 200);
    let json = download.text().await.expect("body");
    assert_eq!(json, RuleTable::builtin().to_json());
    let edited = json.replace("宁夏管局要求证件有效期", "宁夏回族自治区通信管理局要求证件有效期");
    let a =
        post(&app, "/admin/ops/rules", &cookie, &[("_csrf", csrf.as_str()), ("json", edited.as_str())]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("规则表已发布为第2版"), "{}", a.body);
    let page = get(&app, "/admin/ops/rules", &cookie).await;
    assert!(page.body.contains("规则表（第2版）") && page.body.contains("宁夏回族自治区通信管理局要求"));
    assert!(page.body.contains("operator:"), "the version list names who published");
    let trail = app
        .svc
        .audit_trail(beian_core::model::AuditEntity::RuleTable, "platform")
        .await
        .expect("audit trail");
    assert_eq!(trail.len(), 1);
    app.stop().await;
}

both!(staff_page);

fn beian(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_beian"));
    c.current_dir(dir).env_remove("BEIAN_DATABASE_URL").env_remove("BEIAN_DATA_DIR").env("BEIAN_LOG", "warn");
    c
}

#[test]
fn cli_exports_and_imports_the_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = beian(dir.path()).args(["rules", "export"]).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let exported = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(exported.trim_end(), RuleTable::builtin().to_json());

    let file = dir.path().join("rules.json");
    std::fs::write(&file, exported.replace("\"months\": 6", "\"months\": 7")).expect("write");
    let out = beian(dir.path()).args(["rules", "import"]).arg(&file).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("published rule table version 2"));
    let out = beian(dir.path()).args(["rules", "export"]).output().expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"months\": 7"));
    let out = beian(dir.path()).args(["rules", "export", "--version", "1"]).output().expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"months\": 6"));

    // A bad file is refused with the reason; the version stays.
    std::fs::write(&file, "[]").expect("write");
    let out = beian(dir.path()).args(["rules", "import"]).arg(&file).output().expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("规则表不能为空"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
