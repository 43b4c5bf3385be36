//! The storage contract, run on SQLite and PostgreSQL alike.

use beian_core::model::{FilingOrder, MiniProgram, Person, Subject};
use beian_core::state::{FilingState, ReadinessFlags};
use beian_store::{Crypto, Store, StoreError};

async fn stores() -> Vec<(&'static str, Store, tempfile::TempDir)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let crypto = Crypto::new(&[9u8; 32]);
    let sqlite = Store::connect(&format!("sqlite://{}", dir.path().join("s.db").display()), crypto.clone())
        .await
        .expect("sqlite");
    let schema = beian_testkit::pg::PgSchema::create("t_store").await;
    let pg = Store::connect(&schema.url, crypto).await.expect("pg");
    vec![("sqlite", sqlite, dir), ("postgres", pg, tempfile::tempdir().expect("tempdir"))]
}

fn mp(appid: &str) -> MiniProgram {
    MiniProgram {
        appid: appid.into(),
        name: "测试".into(),
        admin: Person {
            name: "张三".into(),
            id_number: "440305199003071236".into(),
            mobile: "13800138000".into(),
        },
        flags: ReadinessFlags { basic_info_filled: true, category_filled: true, certified: true },
        listed: true,
        cleared: false,
        created_at: 1,
    }
}

/// A personal subject (ID card), in progress.
fn subject(id: &str, certificate_number: &str) -> Subject {
    Subject {
        id: id.into(),
        subject_type: 5,
        certificate_type: 2,
        certificate_number: certificate_number.into(),
        name: "张三".into(),
        province: "440000".into(),
        filed_count: 0,
        ever_filed: false,
        in_progress: 1,
        record_number: None,
        service_seq: 0,
    }
}

fn order(appid: &str) -> FilingOrder {
    FilingOrder {
        appid: appid.into(),
        subject_id: None,
        state: FilingState::PlatformReview,
        audit_data: vec![],
        subject_record_number: None,
        service_record_number: None,
        versions: 1,
        filed_version: 0,
        cancel_type: None,
        submitted_at: Some(1),
        updated_at: 1,
        claimed_by: None,
        claimed_at: None,
        review_due_at: None,
        authority_round: 0,
        row_version: 0,
        access_number: None,
    }
}

#[tokio::test]
async fn contract() {
    for (name, store, _dir) in stores().await {
        let applied = store.migrate().await.expect("migrate");
        let numbered: Vec<i64> = (1..=applied.len() as i64).collect();
        assert_eq!(applied, numbered, "{name}: every migration, in order, none missing");
        assert!(applied.len() >= 10, "{name}: {applied:?}");
        assert!(
            store.migrate().await.expect("migrate again").is_empty(),
            "{name}: migrations are idempotent"
        );

        // Round trip with decryption.
        let mut tx = store.begin().await.expect("begin");
        tx.mini_programs().insert(&mp("wx1"), "dev").await.expect("insert");
        tx.orders().insert(&order("wx1")).await.expect("order");
        tx.commit().await.expect("commit");
        let mut tx = store.read().await.expect("read");
        assert_eq!(tx.mini_programs().get("wx1").await.expect("get"), Some(mp("wx1")), "{name}");
        let stored = tx.orders().get("wx1").await.expect("get").expect("exists");
        drop(tx);

        // A stale row version is a conflict, and the loser's transaction changes nothing.
        let mut a = stored.clone();
        a.state = FilingState::PlatformRejected;
        let mut tx = store.begin().await.expect("begin");
        tx.orders().update(&a).await.expect("first update wins");
        tx.commit().await.expect("commit");
        let mut tx = store.begin().await.expect("begin");
        let mut b = stored.clone();
        b.state = FilingState::NotFiled;
        assert!(
            matches!(tx.orders().update(&b).await, Err(StoreError::Conflict(_))),
            "{name}: stale update must conflict"
        );
        drop(tx);
        let mut tx = store.read().await.expect("read");
        assert_eq!(
            tx.orders().get("wx1").await.expect("get").map(|o| o.state),
            Some(FilingState::PlatformRejected)
        );
        drop(tx);

        // One subject per certificate: the unique blind index turns a duplicate into a conflict.
        let s = subject("s1", "440305199003071236");
        let mut tx = store.begin().await.expect("begin");
        tx.subjects().insert(&s, 1).await.expect("subject");
        tx.commit().await.expect("commit");
        let mut tx = store.begin().await.expect("begin");
        let dup = Subject { id: "s2".into(), ..s.clone() };
        assert!(
            matches!(tx.subjects().insert(&dup, 1).await, Err(StoreError::Conflict(_))),
            "{name}: duplicate subject"
        );
        drop(tx);
        let mut tx = store.begin().await.expect("begin");
        let (found, version) =
            tx.subjects().find(2, "440305199003071236").await.expect("find").expect("found");
        assert_eq!(found, s);
        tx.subjects().update(&found, version, 2).await.expect("update");
        assert!(matches!(tx.subjects().update(&found, version, 2).await, Err(StoreError::Conflict(_))));
        drop(tx);

        // Counters are atomic increments.
        let mut tx = store.begin().await.expect("begin");
        assert_eq!(tx.counters().add("c", 1).await.expect("add"), 1);
        assert_eq!(tx.counters().add("c", 2).await.expect("add"), 3);
        assert_eq!(tx.counters().get("c").await.expect("get"), 3);
        assert_eq!(tx.counters().get("missing").await.expect("get"), 0);
        tx.commit().await.expect("commit");

        auth_counters_and_token_ends(name, &store).await;
        store.close().await;
    }
}

/// The authorization page's failure counters, a code used up by failures, and tokens ended
/// whether or not a refresh already superseded them.
async fn auth_counters_and_token_ends(name: &str, store: &Store) {
    use beian_core::platform::{TokenKind, TokenRecord};
    use beian_store::auth_attempts::AuthScope;
    let token = |kind, superseded_at| TokenRecord {
        kind,
        component_appid: "wxc".into(),
        appid: "wx1".into(),
        scopes: vec![156],
        created_at: 1,
        expires_at: 10_000,
        superseded_at,
    };
    let mut tx = store.begin().await.expect("begin");
    let mut c = tx.auth_attempts().lock(AuthScope::Appid, "wx1", 100).await.expect("new counter");
    assert_eq!((c.failures, c.window_start, c.lockouts, c.locked_until), (0, 100, 0, 0), "{name}");
    c.failures = 4;
    c.lockouts = 2;
    c.locked_until = 900;
    tx.auth_attempts().save(&c, 101).await.expect("save");
    let again = tx.auth_attempts().lock(AuthScope::Appid, "wx1", 102).await.expect("existing counter");
    assert_eq!(again, c, "{name}");
    let other = tx.auth_attempts().lock(AuthScope::Provider, "wx1", 102).await.expect("other scope");
    assert_eq!(other.failures, 0, "{name}: scopes are apart");

    tx.tokens().insert("code", &token(TokenKind::PreAuthCode, None)).await.expect("code");
    assert_eq!(tx.auth_attempts().count_token_failure("code", 3, 200).await.expect("1"), Some(1), "{name}");
    assert_eq!(tx.auth_attempts().count_token_failure("code", 3, 201).await.expect("2"), Some(2), "{name}");
    assert_eq!(tx.tokens().get("code").await.expect("get").and_then(|t| t.superseded_at), None, "{name}");
    assert_eq!(tx.auth_attempts().count_token_failure("code", 3, 202).await.expect("3"), Some(3), "{name}");
    assert_eq!(
        tx.tokens().get("code").await.expect("get").and_then(|t| t.superseded_at),
        Some(202),
        "{name}"
    );
    assert_eq!(
        tx.auth_attempts().count_token_failure("code", 3, 203).await.expect("used"),
        None,
        "{name}: used up"
    );
    assert!(!tx.tokens().consume("code", 204).await.expect("consume"), "{name}");

    tx.tokens().insert("live", &token(TokenKind::AuthorizerAccess, None)).await.expect("live");
    tx.tokens().insert("grace", &token(TokenKind::AuthorizerAccess, Some(950))).await.expect("grace");
    tx.tokens().insert("old", &token(TokenKind::AuthorizerAccess, Some(10))).await.expect("old");
    assert_eq!(
        tx.tokens().end(TokenKind::AuthorizerAccess, "wxc", "wx1", 700).await.expect("end"),
        2,
        "{name}"
    );
    for (h, at) in [("live", 700), ("grace", 700), ("old", 10)] {
        let t = tx.tokens().get(h).await.expect("get").expect("exists");
        assert_eq!(t.superseded_at, Some(at), "{name}: {h}");
    }
    tx.commit().await.expect("commit");
}

/// The bulk loader's bigram postings are what the public index derives from each row: every
/// bigram of both names, with the row's signature, quotes, backslashes and control
/// characters included.
#[tokio::test]
async fn bulk_grams_are_the_rows_bigrams_with_their_signatures() {
    use beian_store::bulk::GramSink;
    use beian_store::query::{grams_of_search, search_text, signature, PublicFiling};
    let rows = [
        ("wxg1", "长沙易购\"快递\"", "某\\某科技有限公司"),
        ("wxg2", "易购优选", "长沙易购网络科技有限公司"),
        ("wxg3", "Tab\tName 😀", "控制\u{1}字符"),
    ];
    for (name, store, _dir) in stores().await {
        store.migrate().await.expect("migrate");
        let mut sink = GramSink::default();
        let mut expected: std::collections::BTreeMap<String, Vec<(String, i64)>> = Default::default();
        for (appid, service, subject) in rows {
            let f = PublicFiling {
                appid: appid.into(),
                service_name: service.into(),
                subject_name: subject.into(),
                subject_type: 1,
                subject_record_number: format!("粤ICP备{appid}号"),
                service_record_number: format!("粤ICP备{appid}号-1X"),
                principal_masked: "张*".into(),
                nrlx: vec![],
                approved_at: 1,
            };
            sink.add(&f);
            let grams = grams_of_search(&search_text(service, subject));
            let sig = signature(&grams);
            for g in grams {
                expected.entry(g).or_default().push((appid.to_string(), sig));
            }
        }
        let n = sink.len() as u64;
        assert_eq!(store.bulk_insert_grams(sink, 1).await.expect("load"), n, "{name}");
        assert!(expected.contains_key("\"快") && expected.contains_key("\\某"), "{name}: special characters");
        let mut tx = store.read().await.expect("read");
        for (gram, want) in &expected {
            assert_eq!(
                &tx.public_index().postings(gram, 10).await.expect("postings"),
                want,
                "{name}: {gram:?}"
            );
        }
    }
}

/// The public index's lookups answer the same through [`Store::reads`] — on a SQLite file
/// the store's own connections (`direct.rs`) — as in a transaction through sqlx: rows,
/// order, counts, the equal-name flag, and a write committed between two lookups seen.
#[tokio::test]
async fn public_lookups_answer_the_same_on_the_stores_own_connections() {
    use beian_store::query::{grams_of_search, search_form, search_text, signature, NameWalk, PublicFiling};
    let filing = |appid: &str, service: &str, subject: &str, at: i64| PublicFiling {
        appid: appid.into(),
        service_name: service.into(),
        subject_name: subject.into(),
        subject_type: 2,
        subject_record_number: format!("粤ICP备2026{at:06}号"),
        service_record_number: format!("粤ICP备2026{at:06}号-1X"),
        principal_masked: "张*".into(),
        nrlx: vec![1, 3],
        approved_at: at,
    };
    let rows = [
        filing("wxd1", "易购优选", "长沙易购网络科技有限公司", 1),
        filing("wxd2", "易购", "某\\某%科技_有限公司", 2),
        filing("wxd3", "快递易购助手", "易购", 3),
        filing("wxd4", "Tab\tName 😀", "控制字符", 4),
    ];
    for (name, store, _dir) in stores().await {
        store.migrate().await.expect("migrate");
        let mut tx = store.begin().await.expect("begin");
        for f in &rows[..3] {
            tx.public_index().put(f).await.expect("put");
        }
        tx.commit().await.expect("commit");
        let mut direct = store.reads().await.expect("reads");
        assert_eq!(direct.public_index().direct(), name == "sqlite", "{name}: which path the lookups take");
        let form = search_form("易购");
        let grams = grams_of_search(&search_text("易购", ""));
        let walk = NameWalk { gram: &grams[0], through: None, mask: signature(&grams) };
        let walk_to_2 = NameWalk { through: Some("wxd2"), ..walk };
        for round in 0..2 {
            let mut in_tx = store.read().await.expect("read");
            assert!(!in_tx.public_index().direct(), "{name}: a transaction reads through sqlx");
            let (a, b) = (&mut direct.public_index(), &mut in_tx.public_index());
            let numbers = ["粤ICP备2026000001号-1X", "粤ICP备2026"];
            assert_eq!(
                a.exact("wxd2", numbers[0]).await.expect("lookup"),
                b.exact("wxd2", numbers[0]).await.expect("lookup")
            );
            assert_eq!(a.exact("wxd2", numbers[0]).await.expect("lookup").len(), 2, "{name}");
            assert_eq!(
                a.number_prefix(numbers[1], 10).await.expect("lookup"),
                b.number_prefix(numbers[1], 10).await.expect("lookup")
            );
            assert_eq!(
                a.appid_prefix("wxd", 2).await.expect("lookup"),
                b.appid_prefix("wxd", 2).await.expect("lookup")
            );
            assert_eq!(
                a.name_equal(&form, 10).await.expect("lookup"),
                b.name_equal(&form, 10).await.expect("lookup")
            );
            let searched = a.name_search(&walk, &form, 100, 2).await.expect("lookup");
            assert_eq!(searched, b.name_search(&walk, &form, 100, 2).await.expect("lookup"), "{name}");
            assert_eq!((searched.0.len(), searched.1), (2, 3 + round), "{name}: two shown of all matches");
            assert!(searched.0[0].0, "{name}: a name equal to the query first");
            assert_eq!(
                a.name_search_first(&walk_to_2, &form, 5).await.expect("lookup"),
                b.name_search_first(&walk_to_2, &form, 5).await.expect("lookup")
            );
            assert_eq!(
                a.gram_count(&grams[0], None, 100).await.expect("lookup"),
                b.gram_count(&grams[0], None, 100).await.expect("lookup")
            );
            assert_eq!(a.gram_count(&grams[0], Some("wxd2"), 100).await.expect("lookup"), 2, "{name}");
            let many = a.gram_postings_many(&grams, 100).await.expect("lookup");
            assert_eq!(many, b.gram_postings_many(&grams, 100).await.expect("lookup"), "{name}");
            assert_eq!(
                a.gram_nth_posting(&grams[0], 2).await.expect("lookup"),
                Some("wxd2".to_string()),
                "{name}"
            );
            assert_eq!(a.gram_nth_posting(&grams[0], 9).await.expect("lookup"), None, "{name}");
            // A filing committed between two lookups is seen by the next one.
            let mut tx = store.begin().await.expect("begin");
            tx.public_index().put(&filing("wxd5", "易购五号", "易购", 5)).await.expect("put");
            tx.public_index().put(&rows[3]).await.expect("put");
            tx.commit().await.expect("commit");
        }
        assert_eq!(direct.public_index().exact("wxd5", "-").await.expect("lookup").len(), 1, "{name}");
    }
}

/// Hostile query strings (quotes, `LIKE` wildcards, backslashes, NUL, emoji, full-width
/// forms, CJK) bound by the store's own SQLite connections find exactly what sqlx finds, for
/// every public lookup: 2,000 random queries over names drawn from the same characters.
#[tokio::test]
async fn random_public_queries_answer_the_same_on_both_sqlite_paths() {
    use beian_store::query::{bigrams, search_form, signature, NameWalk, PublicFiling};
    const CHARS: [char; 16] =
        ['易', '购', '长', '沙', '%', '_', '\\', '\'', '"', '\0', 'a', 'Ａ', '😀', ' ', '号', '-'];
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        usize::try_from(seed % n as u64).expect("small")
    };
    let mut text = |max: usize| -> String { (0..1 + next(max)).map(|_| CHARS[next(CHARS.len())]).collect() };
    let (_, store, _dir) = stores().await.into_iter().next().expect("sqlite first");
    store.migrate().await.expect("migrate");
    let mut tx = store.begin().await.expect("begin");
    for i in 0..60 {
        let f = PublicFiling {
            appid: format!("wx{i}{}", text(3)),
            service_name: text(8),
            subject_name: text(8),
            subject_type: 1,
            subject_record_number: format!("粤ICP备{}号", text(3)),
            service_record_number: format!("粤ICP备{}号-{i}", text(3)),
            principal_masked: "张*".into(),
            nrlx: vec![],
            approved_at: i64::from(i % 7),
        };
        tx.public_index().put(&f).await.expect("put");
    }
    tx.commit().await.expect("commit");
    let mut direct = store.reads().await.expect("reads");
    let mut in_tx = store.read().await.expect("read");
    let (a, b) = (&mut direct.public_index(), &mut in_tx.public_index());
    assert!(a.direct() && !b.direct());
    let mut found = 0;
    for _ in 0..2_000 {
        let q = text(5);
        let form = search_form(&q);
        let exact = a.exact(&q, &q).await.expect("exact");
        assert_eq!(exact, b.exact(&q, &q).await.expect("exact"), "{q:?}");
        let prefix = a.number_prefix(&q, 20).await.expect("number");
        assert_eq!(prefix, b.number_prefix(&q, 20).await.expect("number"), "{q:?}");
        assert_eq!(
            a.appid_prefix(&q, 20).await.expect("appid"),
            b.appid_prefix(&q, 20).await.expect("appid")
        );
        assert_eq!(
            a.name_equal(&form, 20).await.expect("equal"),
            b.name_equal(&form, 20).await.expect("equal")
        );
        let grams = bigrams(&form);
        let Some(gram) = grams.first() else { continue };
        let walk = NameWalk { gram, through: None, mask: signature(&grams) };
        let named = a.name_search(&walk, &form, 100, 10).await.expect("name");
        assert_eq!(named, b.name_search(&walk, &form, 100, 10).await.expect("name"), "{q:?}");
        let first = a.name_search_first(&walk, &form, 10).await.expect("first");
        assert_eq!(first, b.name_search_first(&walk, &form, 10).await.expect("first"), "{q:?}");
        let counts = a.gram_postings_many(&grams, 100).await.expect("counts");
        assert_eq!(counts, b.gram_postings_many(&grams, 100).await.expect("counts"), "{q:?}");
        found += named.1;
    }
    assert!(found > 100, "the random queries found names ({found})");
}

/// `bulk_seed` writes the rows the one-row queries read back (decrypted, found by blind
/// index), whether the batch was sealed ahead on another thread or not; a batch changed
/// after sealing is refused before anything is written.
#[tokio::test]
async fn bulk_seed_sealed_or_not_reads_back() {
    use beian_core::payload::ApplyPayload;
    use beian_store::bulk::{SeedBatch, SeedOrder};
    for (name, store, _dir) in stores().await {
        store.migrate().await.expect("migrate");
        let batch = |appid: &str, cert: &str, subject_id: &str| {
            let mut payload = ApplyPayload::default();
            payload.icp_subject.base_info.name = format!("主体{appid}");
            let order = FilingOrder { subject_id: Some(subject_id.into()), ..order(appid) };
            SeedBatch {
                now: 1,
                mini_programs: vec![(
                    MiniProgram { admin: Person { id_number: cert.into(), ..mp(appid).admin }, ..mp(appid) },
                    "dev".into(),
                )],
                subjects: vec![subject(subject_id, cert)],
                orders: vec![SeedOrder { order, payload, actor: "bench".into() }],
                ..SeedBatch::default()
            }
        };
        let mut sealed = batch("wxs", "440305199003071236", "ss");
        sealed.seal(store.crypto()).expect("seal");
        let plain = batch("wxp", "11010519491231002X", "sp");
        let mut changed = batch("wxc", "110105194912310021", "sc");
        changed.seal(store.crypto()).expect("seal");
        changed.subjects.clear();
        assert!(store.bulk_seed(&changed).await.is_err(), "{name}: a batch changed after sealing");
        for (b, appid, cert, subject_id) in
            [(&sealed, "wxs", "440305199003071236", "ss"), (&plain, "wxp", "11010519491231002X", "sp")]
        {
            assert!(store.bulk_seed(b).await.expect("seed") >= 4, "{name}");
            let mut tx = store.read().await.expect("read");
            let m = tx.mini_programs().get(appid).await.expect("get").expect("seeded");
            assert_eq!(
                (m.admin.id_number.as_str(), m.admin.mobile.as_str()),
                (cert, "13800138000"),
                "{name}"
            );
            let (found, _) = tx.subjects().find(2, cert).await.expect("find").expect("by blind index");
            assert_eq!(found.id, subject_id, "{name}");
            let v = tx.orders().version(appid, 1).await.expect("version").expect("stored");
            assert_eq!(v.icp_subject.base_info.name, format!("主体{appid}"), "{name}");
        }
        let mut tx = store.read().await.expect("read");
        assert_eq!(
            tx.mini_programs().get("wxc").await.expect("get"),
            None,
            "{name}: nothing of the refused batch"
        );
    }
}

/// Shared rate-limit windows: the upsert adds and returns the total (what every node sees),
/// per window; a batch adds each window once; pruning drops only ended windows.
#[tokio::test]
async fn rate_windows_add_up_and_prune() {
    use beian_store::rate_windows::RateHit;
    let hit = |scope: &'static str, key: &str, start: i64, n: i64| RateHit {
        scope,
        key: key.into(),
        window_start: start,
        window_secs: 60,
        n,
    };
    for (name, store, _dir) in stores().await {
        store.migrate().await.expect("migrate");
        let shared = store.clone();
        let add = move |hits: Vec<RateHit>| {
            let store = shared.clone();
            async move {
                let mut tx = store.begin().await.expect("begin");
                let counts = tx.rate_windows().add(&hits).await.expect("add");
                tx.commit().await.expect("commit");
                counts
            }
        };
        assert_eq!(add(vec![hit("public_query", "10.0.0.1", 120, 1)]).await, vec![1], "{name}");
        assert_eq!(add(vec![hit("public_query", "10.0.0.1", 120, 1)]).await, vec![2], "{name}");
        // A batch: the same window twice is added once and both get the total; other scopes,
        // keys and windows are counted apart; 0 reads.
        assert_eq!(
            add(vec![
                hit("api", "wx1/apply_icp_filing", 120, 5),
                hit("public_query", "10.0.0.1", 120, 3),
                hit("api", "wx1/apply_icp_filing", 120, 2),
                hit("public_query", "10.0.0.1", 180, 1),
                hit("login_failures", "10.0.0.1", 120, 0),
            ])
            .await,
            vec![7, 5, 7, 1, 0],
            "{name}"
        );
        // Several windows read in one statement, in the order asked; 0 where none.
        let counts = store
            .reads()
            .await
            .expect("reads")
            .rate_windows()
            .counts(&[
                ("public_query", "10.0.0.1", 180),
                ("api", "wx1/apply_icp_filing", 120),
                ("api", "wx-none", 120),
                ("public_query", "10.0.0.1", 120),
            ])
            .await
            .expect("counts");
        assert_eq!(counts, vec![1, 7, 0, 5], "{name}");
        // Many rows: more than one statement.
        let many: Vec<RateHit> = (0..450).map(|i| hit("api", &format!("wx{i}/x"), 120, i)).collect();
        let counts = add(many.clone()).await;
        assert_eq!(counts, (0..450).collect::<Vec<i64>>(), "{name}");
        assert_eq!(add(many).await, (0..450).map(|i| 2 * i).collect::<Vec<i64>>(), "{name}");

        // Concurrent additions are never lost (on PostgreSQL each commits on its own connection).
        let adders: Vec<_> = (0..8)
            .map(|_| {
                let add = add.clone();
                tokio::spawn(async move { add(vec![hit("public_query", "10.9.9.9", 120, 1)]).await })
            })
            .collect();
        for a in adders {
            a.await.expect("join");
        }
        let mut tx = store.read().await.expect("read");
        assert_eq!(
            tx.rate_windows().count("public_query", "10.9.9.9", 120).await.expect("count"),
            8,
            "{name}"
        );
        assert_eq!(
            tx.rate_windows().count("public_query", "10.0.0.1", 120).await.expect("count"),
            5,
            "{name}"
        );
        assert_eq!(
            tx.rate_windows().count("public_query", "10.0.0.2", 120).await.expect("count"),
            0,
            "{name}"
        );
        drop(tx);

        // Windows ending before 200 go (120 + 60 = 180); the one ending at 240 stays.
        let mut tx = store.begin().await.expect("begin");
        let pruned = tx.rate_windows().prune(200).await.expect("prune");
        tx.commit().await.expect("commit");
        assert_eq!(pruned, 1 + 1 + 1 + 1 + 450, "{name}");
        let mut tx = store.read().await.expect("read");
        assert_eq!(
            tx.rate_windows().count("public_query", "10.0.0.1", 120).await.expect("count"),
            0,
            "{name}"
        );
        assert_eq!(
            tx.rate_windows().count("public_query", "10.0.0.1", 180).await.expect("count"),
            1,
            "{name}"
        );
    }
}

/// One claim on a capped counter in its own transaction, held open a moment after the claim
/// so that claims overlap; re-run after a conflict as the service does. True when counted.
async fn claim_once(store: Store, name: &'static str, limit: i64, hold_ms: u64) -> bool {
    for _ in 0..8 {
        let mut tx = store.begin().await.expect("begin");
        match tx.counters().claim(name, limit).await {
            Ok(true) => {
                tokio::time::sleep(std::time::Duration::from_millis(hold_ms)).await;
                tx.commit().await.expect("commit");
                return true;
            }
            Ok(false) => return false,
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => panic!("claim: {e}"),
        }
    }
    panic!("a claim lost eight races in a row");
}

/// The day's apply quota is a capped counter: concurrent claims never pass its limit (on
/// PostgreSQL it is sharded: fast claims far from the limit, exact ones near it), a refused
/// claim leaves the count alone, and a rolled-back claim is not counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn capped_counters_never_pass_their_limit() {
    for (name, store, _dir) in stores().await {
        store.migrate().await.expect("migrate");
        let total = |key: &'static str| {
            let store = store.clone();
            async move { store.read().await.expect("read").counters().capped_total(key).await.expect("total") }
        };
        assert_eq!(total("q:none").await, 0, "{name}");

        // 200 concurrent claims against a limit of 50: exactly 50 are counted.
        let racers: Vec<_> =
            (0..200u64).map(|i| tokio::spawn(claim_once(store.clone(), "q:50", 50, i % 3))).collect();
        let mut counted = 0;
        for r in racers {
            counted += usize::from(r.await.expect("join"));
        }
        assert_eq!(counted, 50, "{name}: exactly the limit is counted");
        assert_eq!(total("q:50").await, 50, "{name}");
        assert!(!claim_once(store.clone(), "q:50", 50, 0).await, "{name}: refused at the limit");
        assert_eq!(total("q:50").await, 50, "{name}: a refusal counts nothing");

        // Far below the limit every claim is counted (the fast way on PostgreSQL) …
        let racers: Vec<_> =
            (0..100u64).map(|i| tokio::spawn(claim_once(store.clone(), "q:1000", 1000, i % 2))).collect();
        for r in racers {
            assert!(r.await.expect("join"), "{name}: far below the limit");
        }
        assert_eq!(total("q:1000").await, 100, "{name}");
        // … and a claim rolled back is not counted.
        let mut tx = store.begin().await.expect("begin");
        assert!(tx.counters().claim("q:1000", 1000).await.expect("claim"), "{name}");
        assert_eq!(tx.counters().capped_total("q:1000").await.expect("own claim seen"), 101, "{name}");
        drop(tx);
        assert_eq!(total("q:1000").await, 100, "{name}");

        // A limit crossed from far below: 300 racers against 120 (fast, then exact).
        let racers: Vec<_> =
            (0..300u64).map(|i| tokio::spawn(claim_once(store.clone(), "q:120", 120, i % 2))).collect();
        let mut counted = 0;
        for r in racers {
            counted += usize::from(r.await.expect("join"));
        }
        assert_eq!(counted, 120, "{name}");
        assert_eq!(total("q:120").await, 120, "{name}");
        // A limit of zero counts nothing.
        assert!(!claim_once(store.clone(), "q:0", 0, 0).await, "{name}");
        assert_eq!(total("q:0").await, 0, "{name}");

        // Several at once (a group commit's applies): all within the limit, or none.
        let mut tx = store.begin().await.expect("begin");
        assert!(tx.counters().claim("q:group", 10).await.expect("claim"), "{name}");
        assert!(tx.counters().claim_several("q:group", 6, 10).await.expect("claim 6"), "{name}: 1 + 6 ≤ 10");
        assert!(!tx.counters().claim_several("q:group", 4, 10).await.expect("claim 4"), "{name}: 7 + 4 > 10");
        assert_eq!(
            tx.counters().capped_total("q:group").await.expect("total"),
            7,
            "{name}: a refusal counts nothing"
        );
        assert!(tx.counters().claim_several("q:group", 3, 10).await.expect("claim 3"), "{name}: 7 + 3 = 10");
        tx.commit().await.expect("commit");
        assert_eq!(total("q:group").await, 10, "{name}");
        store.close().await;
    }
}

/// Entrance rows are refreshed ahead: late in its lifetime a polled row is still answered
/// from memory while one background read replaces it, so a change made on another node shows
/// within the cache's bound without any poll waiting for the database.
#[tokio::test]
async fn entrance_rows_are_refreshed_ahead_within_the_bound() {
    use beian_store::mini_programs::ENTRANCE_CACHE_MILLIS;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("n.db").display());
    let crypto = Crypto::new(&[9u8; 32]);
    let (a, b) = (
        Store::connect(&url, crypto.clone()).await.expect("node a"),
        Store::connect(&url, crypto).await.expect("node b"),
    );
    a.migrate().await.expect("migrate");
    let mut tx = a.begin().await.expect("begin");
    tx.mini_programs().insert(&mp("wxcache"), "dev").await.expect("insert");
    tx.commit().await.expect("commit");
    let name = |r: Option<beian_store::mini_programs::EntranceRow>| r.expect("row").name;
    let filled = std::time::Instant::now();
    assert_eq!(name(a.entrance_row("wxcache").await.expect("read")), mp("wxcache").name);
    // This row's lifetime in the cache (between half and all of the bound).
    let lifetime =
        beian_store::spread_lifetime(std::time::Duration::from_millis(ENTRANCE_CACHE_MILLIS), "wxcache");
    // Node b renames it; node a learns of it only through its cache.
    let mut tx = b.begin().await.expect("begin");
    tx.mini_programs()
        .update(&MiniProgram { name: "改名后".into(), ..mp("wxcache") }, 5)
        .await
        .expect("update");
    tx.commit().await.expect("commit");
    let mut answers = Vec::new();
    while answers.last().map(String::as_str) != Some("改名后") {
        answers.push(name(a.entrance_row("wxcache").await.expect("read")));
        assert!(filled.elapsed() < lifetime * 2, "never refreshed: {answers:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The old name until the refresh (in the lifetime's last tenth), the new one before the row
    // expired: it was read ahead, not on a miss at expiry.
    let seen = filled.elapsed();
    assert_eq!(answers[0], mp("wxcache").name);
    assert!(seen >= lifetime.mul_f64(0.85), "refreshed early: {seen:?} of {lifetime:?}");
    assert!(seen < lifetime, "refreshed only at expiry: {seen:?} of {lifetime:?}");
}
