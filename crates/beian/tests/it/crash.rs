//! Crash safety: under concurrent apply load, `kill -9` the server at a random moment, restart
//! it, and check that every apply it answered `errcode 0` is there, intact, and nothing is
//! half-written. Rounds: `BEIAN_CRASH_ROUNDS` (CI runs 3; `scripts/crash-test` runs more).

use crate::support::*;
use beian::app::open_service;
use beian::config::{Config, ConfigArgs};
use beian_core::state::ReadinessFlags;
use beian_service::{Actor, MiniProgramInput, Service, SystemClock};
use std::process::{Child, Command};
use std::sync::Arc;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn start_server(data: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_beian"))
        .args(["--data-dir", &data.display().to_string(), "--listen", &format!("127.0.0.1:{port}"), "serve"])
        .env("BEIAN_LOG", "error")
        .env_remove("BEIAN_DATABASE_URL")
        .spawn()
        .expect("start beian serve")
}

async fn wait_healthy(port: u16) {
    for _ in 0..200 {
        if reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .map(|r| r.status() == 200)
            .unwrap_or(false)
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the server did not come up on port {port}");
}

/// Mini programs ready to apply: (appid, authorizer token, application JSON).
async fn prepare(svc: &Service, count: u32, offset: u32) -> Vec<(String, String, String)> {
    let a = Actor::new("test", "crash");
    let creds = svc.create_provider(&a, "压测服务商", "http://127.0.0.1:9/events").await.expect("provider");
    let mut out = Vec::new();
    for i in 0..count {
        let n = offset + i;
        let appid = format!("wxcrash{n:05}");
        svc.register_mini_program(
            &a,
            MiniProgramInput {
                appid: appid.clone(),
                name: format!("崩溃测试{n}"),
                admin_name: format!("管理员{n}"),
                admin_id_number: admin_id(n),
                admin_mobile: admin_mobile(n),
                flags: ReadinessFlags { basic_info_filled: true, category_filled: true, certified: true },
                listed: true,
                owner: String::new(),
            },
        )
        .await
        .expect("register");
        let (pre, _) = svc.create_pre_auth_code(&creds.component_appid).await.expect("pre");
        let id = admin_id(n);
        let (code, _) = svc
            .authorize_provider(&creds.component_appid, &pre, &appid, &admin_mobile(n), &id[12..], &[156])
            .await
            .expect("auth");
        let token = svc.query_auth(&creds.component_appid, &code).await.expect("tokens").access_token;
        let payload = serde_json::to_string(&personal_payload(svc, &appid, n).await).expect("json");
        out.push((appid, token, payload));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_apply_load_loses_no_acknowledged_apply() {
    let rounds: u32 = std::env::var("BEIAN_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let per_round = 24u32;
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let config = Config::resolve(&ConfigArgs {
        data_dir: Some(data.clone()),
        listen: Some("127.0.0.1:0".into()),
        ..ConfigArgs::default()
    })
    .expect("config");
    let svc = open_service(&config, Arc::new(SystemClock)).await.expect("service");
    let mut policy = (*svc.policy()).clone();
    policy.deadline_date = chrono::NaiveDate::from_ymd_opt(2099, 3, 31).expect("date");
    policy.clearance_date = chrono::NaiveDate::from_ymd_opt(2099, 4, 1).expect("date");
    svc.set_policy(&Actor::new("test", "crash"), policy).await.expect("policy");
    let batches: Vec<Vec<(String, String, String)>> = {
        let mut v = Vec::new();
        for r in 0..rounds {
            v.push(prepare(&svc, per_round, 100 + r * per_round).await);
        }
        v
    };
    svc.store().close().await;
    drop(svc);

    let http = reqwest::Client::new();
    let mut acknowledged: Vec<String> = Vec::new();
    let mut killed_in_flight = 0;
    for (round, batch) in batches.into_iter().enumerate() {
        let port = free_port();
        let mut child = start_server(&data, port);
        wait_healthy(port).await;
        let mut tasks = Vec::new();
        for (appid, token, body) in batch {
            let (http, url) = (
                http.clone(),
                format!("http://127.0.0.1:{port}/wxa/icp/apply_icp_filing?access_token={token}"),
            );
            tasks.push(tokio::spawn(async move {
                let r = http.post(url).body(body).send().await;
                let ok = match r {
                    Ok(r) => r.json::<serde_json::Value>().await.map(|v| v["errcode"] == 0).unwrap_or(false),
                    Err(_) => false,
                };
                (appid, ok)
            }));
        }
        // Kill at a "random" moment while the applies are landing.
        let delay = 5 + (round as u64 * 37 + std::process::id() as u64) % 60;
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        child.kill().expect("kill -9");
        let _ = child.wait();
        for t in tasks {
            let (appid, ok) = t.await.expect("join");
            if ok {
                acknowledged.push(appid);
            } else {
                killed_in_flight += 1;
            }
        }
    }
    eprintln!(
        "crash test: {rounds} rounds, {} applies acknowledged before kill -9, {killed_in_flight} cut off",
        acknowledged.len()
    );

    // Restart once more and look: every acknowledged apply is there and intact.
    let port = free_port();
    let mut child = start_server(&data, port);
    wait_healthy(port).await;
    child.kill().expect("stop");
    let _ = child.wait();
    let svc = open_service(&config, Arc::new(SystemClock)).await.expect("service after crashes");
    for appid in &acknowledged {
        let v = svc
            .order(appid)
            .await
            .expect("read")
            .unwrap_or_else(|| panic!("acknowledged apply of {appid} lost"));
        assert_eq!(v.status, 2, "{appid}");
        let p = svc.submitted_version(appid, v.order.versions).await.expect("decrypt").expect("version row");
        assert_eq!(p.icp_applets.base_info.appid, *appid);
        let trail = svc.audit_trail("filing", appid).await.expect("audit");
        assert_eq!(
            trail.iter().filter(|e| e.action == "apply").count(),
            v.order.versions as usize,
            "audit matches history"
        );
    }
    svc.store().close().await;
}
