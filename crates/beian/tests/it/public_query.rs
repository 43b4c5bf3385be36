//! The public filing query (page and JSON API) and the operators' dashboard, on SQLite and
//! PostgreSQL, over HTTP against the real server.

use crate::support::*;
use beian_core::model::AuditItem;
use beian_core::platform::Role;
use beian_service::query::COUNT_CAP;
use beian_service::Actor;
use serde_json::Value;

both!(
    public_query_finds_only_filed_records,
    dashboard_for_operators_only,
    name_search_counts_ranks_and_escapes
);

/// Register, apply, and take the order through platform review, SMS and the authority.
pub(crate) async fn file(app: &TestApp, appid: &str, n: u32) {
    register(app, appid, n).await;
    apply_personal(app, appid, n).await;
    let svc = &app.svc;
    svc.filings().platform_approve(&Actor::new("reviewer", "test"), appid).await.expect("platform approve");
    svc.filings().sms_verified(&Actor::authority(), appid).await.expect("sms verified");
    beian_testkit::service::authority_approve(svc, appid).await.expect("authority approve");
}

fn reasons(key: &str) -> Vec<AuditItem> {
    vec![AuditItem {
        key_name: key.into(), error: "不符合要求".into(), suggest: "请按要求修改".into()
    }]
}

async fn numbers(app: &TestApp, appid: &str) -> (String, String) {
    let o = app.svc.filings().order(appid).await.expect("order").expect("exists").order;
    (o.subject_record_number.expect("subject number"), o.service_record_number.expect("service number"))
}

fn appids(r: &beian_service::query::PublicQueryResult) -> Vec<String> {
    let mut a: Vec<String> = r.items.iter().map(|i| i.appid.clone()).collect();
    a.sort();
    a
}

async fn get(url: &str, query: &[(&str, &str)]) -> (u16, String) {
    let r = reqwest::Client::new().get(url).query(query).send().await.expect("send");
    (r.status().as_u16(), r.text().await.expect("body"))
}

async fn public_query_finds_only_filed_records(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    file(&app, "wxpq0001", 41).await;
    file(&app, "wxpq0002", 42).await;
    // In platform review, and registered only: never in the public index.
    register(&app, "wxpq0003", 43).await;
    apply_personal(&app, "wxpq0003", 43).await;
    register(&app, "wxpq0004", 44).await;
    assert_eq!(app.svc.public_index().reindex_public_filings().await.expect("reindex"), 2);
    let svc = &app.svc;
    let q = |s: &'static str| async move { svc.public_index().public_query(s).await.expect("query") };

    // A substring of the service name: only the filed ones.
    let r = q("小程序4").await;
    assert_eq!(appids(&r), ["wxpq0001", "wxpq0002"], "{r:?}");
    assert_eq!((r.total, r.truncated), (2, false));
    let one = r.items.iter().find(|i| i.appid == "wxpq0001").expect("wxpq0001");
    let (subject_no, service_no) = numbers(&app, "wxpq0001").await;
    assert_eq!(one.service_name, "测试小程序41");
    assert_eq!(one.subject_name, "管理员41");
    assert_eq!(one.subject_type, "个人");
    assert_eq!(one.principal_name, "管****", "masked: first character only");
    assert_eq!(one.nrlx, "无");
    assert_eq!(one.approved_date, "2026-03-02");
    assert_eq!(
        (one.subject_record_number.as_str(), one.service_record_number.as_str()),
        (subject_no.as_str(), service_no.as_str())
    );
    assert!(service_no.starts_with("粤ICP备2026") && service_no.ends_with("号-1X"), "{service_no}");
    assert!(q("测试小程序43").await.items.is_empty(), "in review: not public");
    assert!(q("测试小程序44").await.items.is_empty(), "never applied: not public");

    // The full service number, the subject number (also typed in lower case), the appid
    // (exact, upper case, full-width, prefix), the subject name.
    let (subject_no2, service_no2) = numbers(&app, "wxpq0002").await;
    for query in
        [service_no2.clone(), subject_no2.clone(), subject_no2.replace("ICP", "icp"), "wxpq0002".into()]
    {
        let r = svc.public_index().public_query(&query).await.expect("query");
        assert_eq!(appids(&r), ["wxpq0002"], "{query}");
    }
    assert_eq!(appids(&q("WXPQ0002").await), ["wxpq0002"]);
    assert_eq!(appids(&q("ｗｘｐｑ０００２").await), ["wxpq0002"], "full-width input");
    assert_eq!(appids(&q("wxpq").await), ["wxpq0001", "wxpq0002"], "appid prefix");
    assert_eq!(appids(&q("管理员42").await), ["wxpq0002"], "subject name");
    assert_eq!(appids(&q("员4").await), ["wxpq0001", "wxpq0002"], "two characters suffice");
    // One character: numbers and appids by their start only, and the page says so.
    let r = q("测").await;
    assert!(r.items.is_empty() && r.note.is_some(), "{r:?}");
    assert_eq!(appids(&q("粤").await), ["wxpq0001", "wxpq0002"], "number prefix");
    assert!(q("小程序9").await.items.is_empty());

    // Refusals.
    for bad in ["", "   ", &"长".repeat(51)] {
        match svc.public_index().public_query(bad).await {
            Err(beian_service::ServiceError::Refused { errcode, .. }) => assert_eq!(errcode, 86917),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert!(svc.public_index().public_query(&"长".repeat(50)).await.is_ok(), "50 characters are fine");

    // The JSON API: the MIIT fields, no phones or ID numbers anywhere.
    let (status, body) = get(&app.url("/api/public/query"), &[("q", "测试小程序41")]).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!((v["errcode"].as_i64(), v["total"].as_i64()), (Some(0), Some(1)), "{v}");
    let item = &v["items"][0];
    for (field, want) in [
        ("subject_name", "管理员41"),
        ("subject_type", "个人"),
        ("subject_record_number", subject_no.as_str()),
        ("service_record_number", service_no.as_str()),
        ("service_name", "测试小程序41"),
        ("principal_name", "管****"),
        ("nrlx", "无"),
        ("approved_date", "2026-03-02"),
    ] {
        assert_eq!(item[field].as_str(), Some(want), "{field}: {v}");
    }
    for n in [41, 42] {
        for secret in [admin_mobile(n), admin_id(n), format!("139{:08}", 10_000_000 + n)] {
            assert!(!body.contains(&secret), "no phone or ID number in {body}");
        }
    }
    for (query, msg) in [("", "请输入查询内容"), (&*"长".repeat(51), "不能超过50个字符")] {
        let (status, body) = get(&app.url("/api/public/query"), &[("q", query)]).await;
        assert_eq!(status, 400, "{body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["errcode"].as_i64(), Some(86917), "{v}");
        assert!(v["errmsg"].as_str().is_some_and(|m| m.contains(msg)), "{v}");
    }
    let (status, body) = get(&app.url("/api/public/query"), &[]).await;
    assert_eq!(status, 400, "no q at all: {body}");

    // The page.
    let (status, page) = get(&app.url("/query"), &[]).await;
    assert_eq!(status, 200);
    assert!(page.contains("<form") && page.contains("name=\"q\"") && page.contains("至少两个字"), "{page}");
    let (status, page) = get(&app.url("/query"), &[("q", "小程序4")]).await;
    assert_eq!(status, 200, "{page}");
    for want in
        ["测试小程序41", "测试小程序42", "管****", &service_no, "主办单位名称", "审核通过日期", "共找到 2 条"]
    {
        assert!(page.contains(want), "{want} in {page}");
    }
    assert!(!page.contains("测试小程序43") && !page.contains(&admin_mobile(41)), "{page}");
    let (status, page) = get(&app.url("/query"), &[("q", &"长".repeat(51))]).await;
    assert_eq!(status, 400);
    assert!(page.contains("不能超过50个字符"), "{page}");
    let (_, page) = get(&app.url("/query"), &[("q", "<script>")]).await;
    assert!(page.contains("&lt;script&gt;") && !page.contains("value=\"<script>"), "escaped");

    // A cancelled filing leaves the index (at the cancellation, or at the latest with a
    // rebuild).
    svc.filings().cancel(&Actor::new("test", "cancel"), "wxpq0001", Some(2), None).await.expect("cancel");
    svc.filings().cancel_confirmed(&Actor::authority(), "wxpq0001").await.expect("confirmed");
    app.svc.public_index().reindex_public_filings().await.expect("reindex");
    assert!(q("wxpq0001").await.items.is_empty());
    assert_eq!(appids(&q("小程序4").await), ["wxpq0002"]);
    app.stop().await;
}

async fn dashboard_for_operators_only(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    let svc = &app.svc;
    let reviewer = Actor::new("reviewer", "test");
    file(&app, "wxdb0001", 51).await;
    file(&app, "wxdb0002", 52).await;
    // Rejected by the platform.
    register(&app, "wxdb0003", 53).await;
    apply_personal(&app, "wxdb0003", 53).await;
    svc.filings().platform_reject(&reviewer, "wxdb0003", reasons("小程序备注")).await.expect("reject");
    // Rejected by the authority.
    register(&app, "wxdb0004", 54).await;
    apply_personal(&app, "wxdb0004", 54).await;
    svc.filings().platform_approve(&reviewer, "wxdb0004").await.expect("approve");
    svc.filings().sms_verified(&Actor::authority(), "wxdb0004").await.expect("sms");
    svc.filings()
        .authority_reject(&Actor::authority(), "wxdb0004", reasons("主体证件照片"))
        .await
        .expect("reject");
    // Waiting for the platform; and a listed one that never applied.
    register(&app, "wxdb0005", 55).await;
    apply_personal(&app, "wxdb0005", 55).await;
    register(&app, "wxdb0006", 56).await;

    let d = svc.operations().dashboard().await.expect("dashboard");
    let status = |code: &str| d.by_status.iter().find(|c| c.key == code).map(|c| c.n);
    assert_eq!(
        [status("2"), status("3"), status("5"), status("6")],
        [Some(1), Some(1), Some(1), Some(2)],
        "{d:?}"
    );
    let funnel: Vec<i64> = d.funnel.iter().map(|c| c.n).collect();
    assert_eq!(funnel, [5, 3, 3, 2], "applied, platform approved, SMS verified, filed");
    assert_eq!(d.per_day.len(), 30);
    assert_eq!(d.per_day.last().map(|x| (x.date.to_string(), x.n)), Some(("2026-03-02".into(), 5)));
    assert_eq!((d.sla.decisions, d.sla.on_time), (4, 4), "three approvals and a rejection, all the same day");
    let guangdong = d.by_province.iter().find(|p| p.code == "440000").expect("广东");
    assert_eq!(
        (guangdong.name.as_str(), guangdong.total, guangdong.filed, guangdong.rejected, guangdong.in_review),
        ("广东省", 5, 2, 2, 1)
    );
    let reason =
        |k: &str| d.rejection_reasons.iter().find(|r| r.key_name == k).map(|r| (r.platform, r.authority));
    assert_eq!((reason("小程序备注"), reason("主体证件照片")), (Some((1, 0)), Some((0, 1))));
    assert_eq!((d.readiness.listed, d.readiness.listed_filed, d.readiness.listed_unfiled), (6, 2, 4));

    let operator = svc
        .review()
        .create_staff(&Actor::new("test", "setup"), "运营甲", Role::Operator)
        .await
        .expect("staff")
        .1;
    let cookie = staff_cookie(&app, &operator).await;
    // What the authority said that operators must follow up is on the dashboard.
    let refused = beian_ports::authority::AuthorityEvent::Refused {
        code: "E1203".into(),
        reason: "接入商无权操作该备案".into(),
    };
    svc.filings().receive_authority_event("e-dash-1", "wxdb0001", 1, refused).await.expect("news");
    let (code, _, page) = staff_get(&app, "/admin/dashboard", &cookie).await;
    assert_eq!(code, 200, "{page}");
    for want in [
        "管局事项（需跟进）",
        "E1203：接入商无权操作该备案",
        "<svg",
        "数据看板",
        "按状态",
        "按省份",
        "广东省",
        "转化漏斗",
        "平台初审时效",
        "小程序备注",
        "截止日准备情况",
        "/admin/dashboard.csv",
    ] {
        assert!(page.contains(want), "{want} in the dashboard");
    }
    assert!(!page.contains("src=http") && !page.contains("src=\"http"), "nothing from another origin");

    let (code, ct, csv) = staff_get(&app, "/admin/dashboard.csv", &cookie).await;
    assert_eq!(code, 200);
    assert!(ct.starts_with("text/csv"), "{ct}");
    assert!(csv.starts_with('\u{FEFF}'), "BOM for Excel");
    for want in [
        "平台审核中,2,1\r\n",
        "平台审核驳回,3,1\r\n",
        "管局审核驳回,5,1\r\n",
        "已备案,6,2\r\n",
        "广东省,440000,5,1,2,2\r\n",
        "2026-03-02,5\r\n",
        "提交备案,apply,5\r\n",
        "小程序备注,1,0,1\r\n",
    ] {
        assert!(csv.contains(want), "{want:?} in {csv}");
    }

    // Reviewers are refused; without a session, sign in first.
    let reviewer_token = svc
        .review()
        .create_staff(&Actor::new("test", "setup"), "审核乙", Role::Reviewer)
        .await
        .expect("staff")
        .1;
    let cookie = staff_cookie(&app, &reviewer_token).await;
    for path in ["/admin/dashboard", "/admin/dashboard.csv"] {
        let (code, _, body) = staff_get(&app, path, &cookie).await;
        assert_eq!(code, 403, "{path}: {body}");
    }
    let (code, _, _) = staff_get(&app, "/admin/dashboard", "beian_staff=nonsense").await;
    assert_eq!(code, 303, "to the sign-in page");
    app.stop().await;
}

// ---- per-client limits -------------------------------------------------------------------

async fn get_from(url: &str, query: &[(&str, &str)], forwarded: &str) -> (u16, Option<String>, String) {
    let r = reqwest::Client::new()
        .get(url)
        .query(query)
        .header("x-forwarded-for", forwarded)
        .send()
        .await
        .expect("send");
    let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    (r.status().as_u16(), retry, r.text().await.expect("body"))
}

/// The public query answers each client address `public_query_per_minute` times a minute, then
/// HTTP 429 with 86920 and `Retry-After`; a forged X-Forwarded-For changes nothing unless the
/// header is configured, and then it is the client's address.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn public_query_is_limited_per_client_address() {
    let limits = beian_web::limits::WebLimitsConfig {
        public_query_per_minute: 5,
        ..beian_web::limits::WebLimitsConfig::default()
    };
    let app = TestApp::start_configured(Backend::Sqlite, 1000, |c| c, limits.clone()).await;
    let api = app.url("/api/public/query");
    // Five answers (a refused empty query counts too: every request costs), then 429.
    for (i, q) in ["读书", "", "wx", "粤", "小程序"].into_iter().enumerate() {
        let (status, _, body) = get_from(&api, &[("q", q)], &format!("10.9.9.{i}")).await;
        assert!(status == 200 || status == 400, "{status} {body}");
    }
    let (status, retry, body) = get_from(&api, &[("q", "读书")], "10.9.9.99").await;
    assert_eq!(status, 429, "a forged X-Forwarded-For is not trusted by default: {body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["errcode"].as_i64(), Some(86920), "{v}");
    assert!(beian_core::errcode::message(86920).is_some(), "documented");
    let msg = v["errmsg"].as_str().unwrap_or_default();
    assert!(msg.contains("查询过于频繁") && msg.contains("每分钟最多查询5次"), "{msg}");
    let retry: i64 = retry.expect("Retry-After").parse().expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    // The page says so too; the bare form is not counted.
    let (status, _, page) = get_from(&app.url("/query"), &[("q", "读书")], "").await;
    assert_eq!(status, 429);
    assert!(page.contains("查询过于频繁") && page.contains("<form"), "{page}");
    assert_eq!(get_from(&app.url("/query"), &[], "").await.0, 200, "the empty form is free");
    // The next minute: answered again.
    app.clock.advance(chrono::Duration::seconds(60));
    assert_eq!(get_from(&api, &[("q", "读书")], "").await.0, 200);
    app.stop().await;

    // Behind a proxy that sets X-Forwarded-For: its last entry is the client.
    let behind =
        beian_web::limits::WebLimitsConfig { client_ip_header: Some("x-forwarded-for".into()), ..limits };
    let app = TestApp::start_configured(Backend::Sqlite, 1000, |c| c, behind).await;
    let api = app.url("/api/public/query");
    for _ in 0..5 {
        assert_eq!(get_from(&api, &[("q", "读书")], "1.1.1.1, 203.0.113.5").await.0, 200);
    }
    assert_eq!(get_from(&api, &[("q", "读书")], "9.9.9.9, 203.0.113.5").await.0, 429, "same client");
    assert_eq!(get_from(&api, &[("q", "读书")], "203.0.113.6").await.0, 200, "another client");
    app.stop().await;
}

/// Failed sign-ins are limited per client address across usernames (password spraying), on
/// the console and the staff pages together; the per-account lockout applies besides.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_in_failures_are_limited_per_client_address() {
    let limits = beian_web::limits::WebLimitsConfig {
        login_failures_per_ip: 3,
        ..beian_web::limits::WebLimitsConfig::default()
    };
    let app = TestApp::start_configured(Backend::Sqlite, 1000, |c| c, limits).await;
    app.svc
        .accounts()
        .create_account(&Actor::new("test", "c"), "spray1", "开发者", "secret-pass-1")
        .await
        .expect("account");
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let console = |user: &'static str, pass: &'static str| {
        let http = http.clone();
        let url = app.url("/console/login");
        async move {
            let r =
                http.post(url).form(&[("username", user), ("password", pass)]).send().await.expect("send");
            let status = r.status().as_u16();
            (status, r.text().await.expect("body"))
        }
    };
    // Three wrong passwords for three different users: refused one by one.
    for user in ["spray1", "nobody", "admin"] {
        assert_eq!(console(user, "guess-123").await.0, 401, "{user}");
    }
    // The fourth attempt from this address is refused before the password is looked at.
    let (status, page) = console("spray1", "secret-pass-1").await;
    assert_eq!(status, 429, "{page}");
    assert!(page.contains("登录失败次数过多") && page.contains("最多失败3次"), "{page}");
    let r = http.post(app.url("/admin/login")).form(&[("token", "guess")]).send().await.expect("send");
    assert_eq!(r.status().as_u16(), 429, "the staff sign-in shares the count");
    assert!(r.headers().get("retry-after").is_some());
    // After the window, the right password works (the account itself was never locked:
    // one wrong password for it).
    app.clock.advance(chrono::Duration::minutes(15));
    assert_eq!(console("spray1", "secret-pass-1").await.0, 303);
    app.stop().await;
}

// ---- benchmark (ignored by default) ------------------------------------------------------

/// Timing of the public query over a large synthetic index, written straight into the store:
/// `BEIAN_BENCH_ROWS=200000 cargo test --release -p beian --test it bench_public_query -- --ignored --nocapture`
/// (`BEIAN_BENCH_PG=1` for PostgreSQL).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: minutes, prints timings"]
async fn bench_public_query() {
    use beian_store::query::PublicFiling;
    let rows: u64 = std::env::var("BEIAN_BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let backend =
        if std::env::var_os("BEIAN_BENCH_PG").is_some() { Backend::Postgres } else { Backend::Sqlite };
    let app = TestApp::start(backend, 1000).await;
    let svc = &app.svc;

    // A deterministic mix of company names and people, Chinese service names.
    let cities = "北京上海广州深圳杭州成都武汉南京西安重庆苏州天津长沙郑州青岛厦门合肥济南福州昆明";
    let cities: Vec<String> =
        cities.chars().collect::<Vec<_>>().chunks(2).map(|c| c.iter().collect()).collect();
    let brand: Vec<char> =
        "华星辰宇鑫博瑞恒泰达安康美优佳新乐智汇联通盛嘉合源晨阳光蓝天云海山川明德信诚和兴旺福祥"
            .chars()
            .collect();
    let trades = [
        "科技",
        "信息技术",
        "网络",
        "文化传媒",
        "教育咨询",
        "餐饮管理",
        "电子商务",
        "商贸",
        "物流",
        "健康管理",
        "智能",
        "软件",
        "旅游",
        "农业",
        "设计",
        "体育",
        "生物",
        "环保",
    ];
    let suffixes = ["有限公司", "有限公司", "有限公司", "股份有限公司", "工作室"];
    let surnames: Vec<char> = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗".chars().collect();
    let given: Vec<char> = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华".chars().collect();
    let apps = [
        "小程序",
        "助手",
        "商城",
        "点餐",
        "预约",
        "查询",
        "工具",
        "社区",
        "课堂",
        "打卡",
        "记账",
        "笔记",
        "读书",
        "健身",
        "租房",
    ];
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        usize::try_from(seed % n as u64).unwrap_or(0)
    };
    let started = std::time::Instant::now();
    let mut i = 0u64;
    let mut sample = Vec::new();
    while i < rows {
        let mut tx = app.store.begin().await.expect("begin");
        for _ in 0..2000.min(rows - i) {
            let b2: String = [brand[next(brand.len())], brand[next(brand.len())]].iter().collect();
            let (subject_name, subject_type) = if next(10) < 3 {
                let name: String = std::iter::once(surnames[next(surnames.len())])
                    .chain((0..1 + next(2)).map(|_| given[next(given.len())]))
                    .collect();
                (name, 5)
            } else {
                (
                    format!(
                        "{}{b2}{}{}",
                        cities[next(cities.len())],
                        trades[next(trades.len())],
                        suffixes[next(suffixes.len())]
                    ),
                    1,
                )
            };
            let service_name =
                format!("{b2}{}{}", apps[next(apps.len())], if next(3) == 0 { "Pro" } else { "" });
            let subject_record_number = format!("粤ICP备{}{:06}号", 2023 + next(4), i);
            let f = PublicFiling {
                appid: format!("wx{:016x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                service_record_number: format!("{subject_record_number}-1X"),
                subject_record_number,
                principal_masked: "张*".into(),
                service_name,
                subject_name,
                subject_type,
                nrlx: vec![24],
                approved_at: 1_770_000_000 + i64::try_from(i).unwrap_or(0),
            };
            if i % 50_000 == 7 {
                sample.push(f.clone());
            }
            tx.public_index().put(&f).await.expect("put");
            i += 1;
        }
        tx.commit().await.expect("commit");
    }
    println!("{backend:?}: indexed {rows} rows in {:.1} s", started.elapsed().as_secs_f64());
    // Fresh tables: give the planner statistics (and PostgreSQL its visibility map, for
    // index-only scans) as autovacuum / a periodic ANALYZE would in production.
    let maintenance = match backend {
        Backend::Sqlite => "ANALYZE",
        Backend::Postgres => "VACUUM ANALYZE public_filing_grams; VACUUM ANALYZE public_filings",
    };
    for stmt in maintenance.split("; ") {
        app.store.exec_raw(stmt).await.expect("analyze");
    }
    if backend == Backend::Sqlite {
        let size = |f: &str| std::fs::metadata(app._dir.path().join(f)).map(|m| m.len()).unwrap_or(0);
        println!("SQLite file: {} MB", (size("beian.db") + size("beian.db-wal")) / 1_000_000);
    }

    let s = &sample[0];
    let mut queries: Vec<String> = vec![
        "科技有限公司".into(),
        "有限公司".into(),
        "深圳星辰".into(),
        "张伟".into(),
        "记账".into(),
        "读书Pro".into(),
        "公司科技".into(),
        "小程序9".into(),
        "wx".into(),
        "粤".into(),
        "粤ICP备2024".into(),
    ];
    queries.extend([
        s.subject_name.clone(),
        s.service_name.clone(),
        s.service_record_number.clone(),
        s.appid.clone(),
    ]);
    for q in &queries {
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            let r = svc.public_index().public_query(q).await.expect("query");
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            last = Some(r);
        }
        times.sort_by(f64::total_cmp);
        let r = last.expect("ran");
        println!(
            "{q:<28} total {:>5}{} items {:>2}  median {:>7.1} ms  max {:>7.1} ms",
            r.total,
            if r.truncated { "+" } else { " " },
            r.items.len(),
            times[2],
            times[4]
        );
    }
    app.stop().await;
}

/// Name search at more rows than it counts: the count stops at the cap and says so, a name
/// equal to the query comes first, newer approvals before older, and `%` / `_` in a query are
/// plain characters (the match runs as SQL `LIKE` on the stored names).
async fn name_search_counts_ranks_and_escapes(b: Backend) {
    use beian_store::query::PublicFiling;
    let app = TestApp::start(b, 1000).await;
    let row = |i: usize, service: String, subject: &str| PublicFiling {
        appid: format!("wxns{i:05}"),
        service_name: service,
        subject_name: subject.into(),
        subject_type: 5,
        subject_record_number: format!("粤ICP备2026{i:07}号"),
        service_record_number: format!("粤ICP备2026{i:07}号-1X"),
        principal_masked: "王*".into(),
        nrlx: Vec::new(),
        approved_at: 1_780_000_000 + i as i64,
    };
    let mut tx = app.store.begin().await.expect("begin");
    for i in 0..1200 {
        tx.public_index().put(&row(i, format!("读书会{i}"), "某某文化有限公司")).await.expect("put");
    }
    tx.public_index().put(&row(1200, "读书会".into(), "某某文化有限公司")).await.expect("put");
    tx.public_index().put(&row(1201, "百分百%好".into(), "下划_线公司")).await.expect("put");
    tx.public_index().put(&row(1202, "百分百好".into(), "下划线公司")).await.expect("put");
    // Every bigram of `星光路灯` with over 2,000 postings (the walk then also requires a second
    // bigram), three names containing it.
    for i in 0..2000 {
        tx.public_index().put(&row(2000 + i, format!("星光路口{i}"), "甲公司")).await.expect("put");
        tx.public_index().put(&row(4000 + i, format!("夜路灯{i}"), "乙公司")).await.expect("put");
    }
    for (i, name) in [(6000, "星光路灯"), (6001, "新星光路灯"), (6002, "星光路灯厂")] {
        tx.public_index().put(&row(i, name.into(), "丙公司")).await.expect("put");
    }
    // Sixty names equal to one query, as service or as subject name.
    for i in 7000..7060 {
        let (service, subject) =
            if i % 2 == 0 { ("同名小站", "丁公司") } else { ("别名小站", "同名小站") };
        tx.public_index().put(&row(i, service.into(), subject)).await.expect("put");
    }
    tx.commit().await.expect("commit");
    let svc = &app.svc;

    let r = svc.public_index().public_query("读书会").await.expect("query");
    assert_eq!((r.total, r.truncated), (COUNT_CAP, true), "counted up to the cap");
    assert_eq!(r.items.len(), 50);
    assert_eq!(r.items[0].appid, "wxns01200", "the equal name first: {:?}", appids(&r));
    // Then the newest approvals among the counted matches.
    assert!(r.items[1].approved_date >= r.items[49].approved_date);

    // Two characters: counted from the bigram's postings, the first 50 read.
    let r = svc.public_index().public_query("读书").await.expect("query");
    assert_eq!((r.total, r.truncated, r.items.len()), (COUNT_CAP, true, 50));
    assert!(r.items.iter().all(|i| i.service_name.contains("读书")));

    let r = svc.public_index().public_query("读书会119").await.expect("query");
    assert_eq!((r.total, r.truncated), (11, false), "{:?}", appids(&r));
    assert_eq!(r.items[0].appid, "wxns00119", "equal name first");

    assert_eq!(
        appids(&svc.public_index().public_query("百%好").await.expect("q")),
        ["wxns01201"],
        "% is a character"
    );
    assert_eq!(
        appids(&svc.public_index().public_query("划_线").await.expect("q")),
        ["wxns01201"],
        "_ is a character"
    );
    assert_eq!(appids(&svc.public_index().public_query("百分百好").await.expect("q")), ["wxns01202"]);
    assert!(svc.public_index().public_query("读书会9999").await.expect("q").items.is_empty());

    let r = svc.public_index().public_query("星光路灯").await.expect("query");
    assert_eq!((r.total, r.truncated), (3, false), "{:?}", appids(&r));
    assert_eq!(appids(&r), ["wxns06000", "wxns06001", "wxns06002"]);
    assert_eq!(r.items[0].appid, "wxns06000", "equal name first");
    let r = svc.public_index().public_query("光路口19").await.expect("query");
    assert_eq!(r.total, 111, "星光路口19, 190–199 and 1900–1999");

    // Equal names: the newest 50 of both name columns, newest first.
    let r = svc.public_index().public_query("同名小站").await.expect("query");
    let shown: Vec<&str> = r.items.iter().map(|i| i.appid.as_str()).collect();
    let expected: Vec<String> = (7010..7060).rev().map(|i| format!("wxns{i:05}")).collect();
    assert_eq!(shown, expected);

    // Postings written before migration 0024 carry no signature (0): the filter lets them
    // through, and the answers stay the same.
    app.store
        .exec_raw("UPDATE public_filing_grams SET sig = 0 WHERE appid >= 'wxns06000'")
        .await
        .expect("sig 0");
    let r = svc.public_index().public_query("星光路灯").await.expect("query");
    assert_eq!(appids(&r), ["wxns06000", "wxns06001", "wxns06002"], "unsigned postings are still found");
    let r = svc.public_index().public_query("光路口19").await.expect("query");
    assert_eq!(r.total, 111);
}
