//! `beian demo`: a small platform to look at and file against.
//!
//! Seeds (once; re-running reports what is there):
//! - `wxdemo0000000001` 读书笔记 — listed, ready, not filed: file it yourself.
//! - `wxdemo0000000002` 城市天气 — filed through the whole lifecycle (platform review, SMS
//!   verification, authority approval), so it has numbers.
//! - `wxdemo0000000003` 新建小程序 — basic info and category missing (status 1027).

use anyhow::{Context, Result};
use beian_core::ident::resident_id_check_char;
use beian_core::model::Person;
use beian_core::payload::ApplyPayload;
use beian_core::state::ReadinessFlags;
use beian_ports::host::{EventId, PlatformEvent, PlatformEventOutcome};
use beian_service::{Actor, MediaUpload, Service};
use std::fmt::Write;

/// A tiny valid JPEG, standing in for scanned documents.
pub const DEMO_JPEG: &[u8] =
    &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xFF, 0xD9];

struct DemoPerson {
    name: &'static str,
    id: String,
    mobile: &'static str,
    emergency: &'static str,
}

fn id(body17: &str) -> String {
    let check = resident_id_check_char(body17).unwrap_or('0');
    format!("{body17}{check}")
}

fn people() -> [DemoPerson; 2] {
    [
        DemoPerson {
            name: "张三",
            id: id("44030519900307123"),
            mobile: "13800138000",
            emergency: "13900139000",
        },
        DemoPerson {
            name: "李四",
            id: id("11010519850612456"),
            mobile: "13700137000",
            emergency: "13600136000",
        },
    ]
}

/// Seed the demo platform. `event_url` receives the demo provider's pushes (beian's own
/// `/demo/events` sink by default); `creds_file` keeps the provider's one-time secrets.
pub async fn seed(
    store: &beian_store::Store,
    svc: &Service,
    event_url: &str,
    creds_file: &std::path::Path,
) -> Result<String> {
    let actor = Actor::new("demo", "seed");
    let [zhang, li] = people();
    let mut out = String::new();
    let fresh = svc.mini_programs().mini_program("wxdemo0000000001").await.is_err();
    let mut creds_text = String::new();
    if fresh {
        // WeChat's 2023–2024 dates are long past: give the demo platform a deadline 30 days
        // ahead so the 去备案 banner, the countdown and the reminders have something to show.
        let today = beian_core::time::beijing_date(svc.now());
        let mut policy = (*svc.policy()).clone();
        policy.deadline_date = today + chrono::Duration::days(30);
        policy.clearance_date = today + chrono::Duration::days(31);
        svc.set_policy(&actor, policy).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let creds = svc
            .providers()
            .create_provider(&actor, "演示服务商", event_url)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let (_, reviewer) = svc
            .review()
            .create_staff(&actor, "演示审核员", beian_core::platform::Role::Reviewer)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let (_, operator) = svc
            .review()
            .create_staff(&actor, "演示运营", beian_core::platform::Role::Operator)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let dev = svc
            .accounts()
            .create_account(&actor, "demo", "张三（演示开发者）", "demo-password")
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let member = svc
            .accounts()
            .create_account(&actor, "member", "李四（只读成员）", "member-password")
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let text = format!(
            "component_appid = {}\ncomponent_appsecret = {}\ntoken = {}\nencoding_aes_key = {}\nevent_url = {event_url}\n\
             reviewer_token = {reviewer}\noperator_token = {operator}\n\
             console_user = demo / demo-password\nconsole_member = member / member-password\n",
            creds.component_appid, creds.component_appsecret, creds.token, creds.encoding_aes_key
        );
        crate::app::write_private(creds_file, &text)
            .with_context(|| format!("writing {}", creds_file.display()))?;
        creds_text = text;
        register(
            svc,
            "wxdemo0000000001",
            "读书笔记",
            &zhang,
            ReadinessFlags { basic_info_filled: true, category_filled: true, certified: true },
        )
        .await?;
        register(
            svc,
            "wxdemo0000000002",
            "城市天气",
            &li,
            ReadinessFlags { basic_info_filled: true, category_filled: true, certified: true },
        )
        .await?;
        register(
            svc,
            "wxdemo0000000003",
            "新建小程序",
            &zhang,
            ReadinessFlags { basic_info_filled: false, category_filled: false, certified: true },
        )
        .await?;
        file_through(store, svc, &actor, "wxdemo0000000002", &li)
            .await
            .context("filing the demo mini program")?;
        for appid in ["wxdemo0000000001", "wxdemo0000000002", "wxdemo0000000003"] {
            svc.accounts()
                .grant(&actor, appid, &dev.id, beian_core::platform::MemberRole::Admin, &[])
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        // A member who may not see filing details: the console names the admin instead.
        svc.accounts()
            .grant(&actor, "wxdemo0000000001", &member.id, beian_core::platform::MemberRole::Member, &[])
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    // In Chinese, like everything people read: what is there, where to open it, what to do.
    let _ = writeln!(
        out,
        "beian 演示平台{}",
        if fresh {
            "已初始化（演示数据已写入）"
        } else {
            "的演示数据已存在，直接启动"
        }
    );
    let _ = writeln!(out, "演示小程序：");
    for appid in ["wxdemo0000000001", "wxdemo0000000002", "wxdemo0000000003"] {
        let mp = svc.mini_programs().mini_program(appid).await?;
        let info = svc.filings().entrance_info(appid).await?;
        let order = svc.filings().order(appid).await?;
        let number = order.and_then(|o| o.order.service_record_number).unwrap_or_default();
        let state = info.state();
        let status = match state {
            // 1025–1031: the mini program's own information is not complete yet.
            beian_core::state::FilingState::NotFiled if info.status != 1024 => {
                "未备案 · 小程序信息未完善".to_string()
            }
            other => other.label().to_string(),
        };
        let _ = writeln!(
            out,
            "  {appid}  {}  {}\n      管理员 {}（身份证 {}，手机 {}）",
            mp.name,
            format!("{status} {number}").trim_end(),
            mp.admin.name,
            mp.admin.id_number,
            mp.admin.mobile
        );
    }
    // The secrets are shown once, when they are created; later starts only say where they are
    // kept (the report goes to the terminal and often into logs).
    if fresh {
        let _ = writeln!(
            out,
            "演示服务商密钥、审核与运营的 API 令牌、控制台帐号（只显示这一次；保存在 {}）：",
            creds_file.display()
        );
        for l in creds_text.lines() {
            let _ = writeln!(out, "  {l}");
        }
    } else {
        let _ = writeln!(
            out,
            "演示服务商密钥、审核与运营的 API 令牌、控制台帐号：见 {}（仅文件所有者可读；只在首次启动时显示）",
            creds_file.display()
        );
    }
    let base = svc.public_url();
    // Passwords only with the other secrets, at the first start.
    let accounts = if fresh {
        "帐号 demo / demo-password；只读成员 member / member-password"
    } else {
        "帐号见上述文件"
    };
    let lines = [
        "打开：".to_string(),
        format!("  开发者控制台    {base}/console（{accounts}）"),
        format!("  审核与运营      {base}/admin（用上面的 reviewer_token 或 operator_token 登录）"),
        format!("  公开备案查询    {base}/query"),
        format!("  工信部短信核验  {base}/miit/verify（模拟管局）"),
        format!("  短信发件箱      {base}/admin/ops/sms（运营；演示平台的短信都在这里，不会发到手机）"),
        "下一步：".to_string(),
        "  1. 用 demo 登录控制台，在「读书笔记」的横幅上点「去备案」，按向导填写并提交；".to_string(),
        format!("  2. 用 reviewer_token 登录 {base}/admin，在审核队列里认领并初审通过；"),
        format!("  3. 负责人打开 {base}/miit/verify，输入手机号、身份证号后6位和短信验证码（验证码见短信发件箱）；"),
        format!("  4. 模拟管局几个工作日后审核通过：运营可在 {base}/admin/ops 拨快模拟时钟，随后状态变为「已备案」。"),
        "以服务商身份通过 API 备案 wxdemo0000000001：见 README 的“Walkthrough: file through the API and watch it reach 已备案”一节。".to_string(),
        "以上管理员身份均为虚构（校验位有效，并非真人）。".to_string(),
    ];
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    Ok(out)
}

/// The demo's mini programs arrive as the host platform's events would (the same path a
/// real host adapter takes), each under a fixed event id.
async fn register(
    svc: &Service,
    appid: &str,
    name: &str,
    admin: &DemoPerson,
    flags: ReadinessFlags,
) -> Result<()> {
    let event = PlatformEvent::MiniProgramUpserted {
        appid: appid.into(),
        name: name.into(),
        flags,
        listed: true,
        owner: "demo-developer".into(),
        admin: Some(Person {
            name: admin.name.into(),
            id_number: admin.id.clone(),
            mobile: admin.mobile.into(),
        }),
    };
    let id = EventId::parse(&format!("demo-seed-{appid}")).map_err(|e| anyhow::anyhow!("{e}"))?;
    match svc
        .mini_programs()
        .receive_platform_event(&id, &event)
        .await
        .with_context(|| format!("registering {appid}"))?
    {
        PlatformEventOutcome::Refused { reason, .. } => anyhow::bail!("registering {appid}: {reason}"),
        _ => Ok(()),
    }
}

/// A personal filing by `p`, taken through to 已备案.
async fn file_through(
    store: &beian_store::Store,
    svc: &Service,
    actor: &Actor,
    appid: &str,
    p: &DemoPerson,
) -> Result<()> {
    let mut media = Vec::new();
    for field in [
        "icp_subject.principal_info.certificate_photo_front",
        "icp_subject.principal_info.certificate_photo_back",
    ] {
        let m = svc
            .materials()
            .upload_media(
                actor,
                appid,
                MediaUpload {
                    media_type: "image".into(),
                    certificate_type: Some(2),
                    icp_order_field: field.into(),
                    bytes: DEMO_JPEG.to_vec(),
                },
            )
            .await?;
        media.push(m.media_id);
    }
    let task = svc.materials().create_face_task(actor, appid).await?;
    svc.materials().finish_face_task(&Actor::new("admin", appid), &task.task_id, true).await?;
    let principal = serde_json::json!({
        "name": p.name, "mobile": p.mobile, "email": "demo@example.com", "emergency_contact": p.emergency,
        "certificate_type": 2, "certificate_number": p.id,
        "certificate_validity_date_start": "20150101", "certificate_validity_date_end": "长期",
        "certificate_photo_front": media[0], "certificate_photo_back": media[1]
    });
    let mut applet_principal = principal.clone();
    applet_principal["verify_task_id"] = task.task_id.into();
    let payload: ApplyPayload = serde_json::from_value(serde_json::json!({
        "icp_subject": {
            "base_info": {"type": 5, "name": p.name, "province": "110000", "city": "110100", "district": "110105", "address": "高碑店路181号1栋101室"},
            "organize_info": {"certificate_type": 2, "certificate_number": p.id, "certificate_address": "北京市朝阳区高碑店路181号1栋101室"},
            "principal_info": principal
        },
        "icp_applets": {
            "base_info": {"service_content_types": [1], "nrlx_details": [{"type": 24}],
                          "comment": "本小程序提供城市天气预报查询、空气质量提醒与出行建议，不涉及交易与用户发布内容。"},
            "principal_info": applet_principal
        },
        "icp_materials": {}
    }))?;
    svc.filings().apply(actor, appid, payload).await.map_err(|e| anyhow::anyhow!("apply: {e}"))?;
    let reviewer = Actor::new("reviewer", "demo");
    svc.filings().platform_approve(&reviewer, appid).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    svc.filings().sms_verified(&Actor::authority(), appid).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    // The numbers the simulated authority issues (the demo runs on the simulator).
    let ctx = svc.filings().number_context(appid).await?.context("the demo filing has no subject")?;
    let now = svc.now().timestamp();
    let numbers = beian_authority_sim::mint_numbers(store, now, &ctx.province, ctx.subject_number.as_deref())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    svc.filings()
        .authority_approve(&Actor::authority(), appid, numbers)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}
