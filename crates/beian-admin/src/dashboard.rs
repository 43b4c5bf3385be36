//! The operators' dashboard (数据看板): filings by status, by province and per day, the
//! funnel from application to filing, platform SLA compliance, top rejection reasons and
//! deadline readiness. Charts are SVG drawn here with maud like the rest of the page (no
//! script, nothing from another origin);
//! `GET /admin/dashboard.csv` exports every number (UTF-8 with a BOM, so Excel reads Chinese).

use crate::auth::require;
use crate::html::{date, layout};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use beian_core::platform::Role;
use beian_service::query::Dashboard;
use maud::{html, Markup};

const BLUE: &str = "#2f6fde";
const GREEN: &str = "#2da44e";
const ORANGE: &str = "#d4760a";
const GREY: &str = "#8c959f";

/// Chart labels longer than this are cut (the table beside the chart has them whole).
const LABEL_CHARS: usize = 12;

fn short(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        label.to_string()
    } else {
        format!("{}…", label.chars().take(LABEL_CHARS - 1).collect::<String>())
    }
}

/// A horizontal bar chart: one bar per `(label, value, value text)`, scaled to the largest.
fn hbars(aria: &str, color: &str, rows: &[(String, i64, String)]) -> Markup {
    let rows: Vec<_> = rows.iter().map(|(l, v, t)| (l.clone(), *v, t.clone(), color)).collect();
    hbars_coloured(aria, &rows)
}

/// [`hbars`] with a colour per bar (a good and a bad count must not share green).
fn hbars_coloured(aria: &str, rows: &[(String, i64, String, &str)]) -> Markup {
    // 14 px labels (12 characters fit in LABEL_W): readable at the chart's full width.
    const LABEL_W: i64 = 190;
    const BAR_W: i64 = 260;
    const ROW_H: i64 = 28;
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let height = ROW_H * i64::try_from(rows.len()).unwrap_or(0).max(1) + 8;
    let width = LABEL_W + BAR_W + 110;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(aria) viewBox={ "0 0 " (width) " " (height) }
            width="100%" style={ "max-width:" (width) "px" } font-size="14" {
            @if rows.is_empty() {
                text x="0" y="18" fill=(GREY) { "暂无数据" }
            }
            @for (i, (label, value, text, color)) in rows.iter().enumerate() {
                @let y = ROW_H * i64::try_from(i).unwrap_or(0) + 4;
                @let w = if *value > 0 { (value * BAR_W / max).max(2) } else { 0 };
                text x=(LABEL_W - 6) y=(y + 15) text-anchor="end" fill="#1f2328" { (short(label)) }
                rect x=(LABEL_W) y=(y) width=(w) height="20" fill=(*color) { title { (label) "：" (text) } }
                text x=(LABEL_W + w + 4) y=(y + 15) fill="#1f2328" { (text) }
            }
        }
    }
}

/// Vertical bars per day, a date under every fifth.
fn day_columns(aria: &str, days: &[(String, i64)]) -> Markup {
    const COL: i64 = 18;
    const TOP: i64 = 16;
    const PLOT_H: i64 = 120;
    let n = i64::try_from(days.len()).unwrap_or(0);
    let width = COL * n.max(1) + 20;
    let height = TOP + PLOT_H + 22;
    let max = days.iter().map(|d| d.1).max().unwrap_or(0).max(1);
    html! {
        svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(aria) viewBox={ "0 0 " (width) " " (height) }
            width="100%" style={ "max-width:" (width * 2) "px" } font-size="10" {
            // SVG elements are closed explicitly: in HTML, `<line>` without `/>` or `</line>`
            // would hold the bars that follow.
            line x1="10" y1=(TOP + PLOT_H) x2=(width - 10) y2=(TOP + PLOT_H) stroke=(GREY) {}
            @for (i, (day, v)) in days.iter().enumerate() {
                @let i = i64::try_from(i).unwrap_or(0);
                @let x = 10 + COL * i;
                @let h = if *v > 0 { (v * PLOT_H / max).max(2) } else { 0 };
                rect x=(x + 2) y=(TOP + PLOT_H - h) width=(COL - 4) height=(h) fill=(BLUE) { title { (day) "：" (v) } }
                @if *v > 0 {
                    text x=(x + COL / 2) y=(TOP + PLOT_H - h - 3) text-anchor="middle" { (v) }
                }
                @if i % 5 == 0 || i == n - 1 {
                    text x=(x + COL / 2) y=(TOP + PLOT_H + 14) text-anchor="middle" { (day.get(5..).unwrap_or(day)) }
                }
            }
        }
    }
}

fn percent(part: i64, whole: i64) -> String {
    if whole <= 0 {
        "—".into()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

fn table(head: &[&str], rows: &[Vec<String>]) -> Markup {
    html! {
        table {
            tr { @for h in head { th { (h) } } }
            // Each cell names its column (phones show a row as a card, without the header row).
            @for r in rows { tr { @for (i, c) in r.iter().enumerate() { td data-label=[head.get(i)] { (c) } } } }
        }
    }
}

fn section(id: &str, title: &str, note: &str, chart: Markup, table: Markup) -> Markup {
    html! {
        section.card id=(id) {
            h2 { (title) }
            @if !note.is_empty() { p.muted { (note) } }
            div style="display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start" {
                div style="flex:1 1 440px;min-width:0" { (chart) }
                div style="flex:1 1 300px;min-width:0;overflow-x:auto" { (table) }
            }
        }
    }
}

/// `GET /admin/dashboard` (operators).
/// A warning when the next days reach a year without working-day data (deadlines there
/// count Monday–Friday only); nothing otherwise.
fn calendar_warning(s: &AppState) -> Markup {
    match s.svc.operations().calendar_gap() {
        Some(gap) => html! {
            section.card #calendar-warning {
                (crate::html::error_box(&gap.message()))
                p { a href="/admin/ops/calendar" { "上传放假安排" } }
            }
        },
        None => html! {},
    }
}

/// 负责人须变更: filed mini programs whose admin changed on the host, so the filing's
/// principal must change (`beian-service/src/host.rs`); the page works without it.
async fn principal_changes(s: &AppState) -> Markup {
    const SHOWN: i64 = 50;
    let (count, rows) = s.svc.mini_programs().principal_changes(SHOWN).await.unwrap_or_else(|e| {
        tracing::error!("dashboard: principal changes: {e}");
        (0, Vec::new())
    });
    html! {
        section.card #principal-changes {
            h2 { "负责人须变更（" (count) "）" }
            @if rows.is_empty() {
                p.muted { "没有管理员已变更、尚待办理变更备案的已备案小程序。" }
            } @else {
                p.muted {
                    "这些已备案小程序的管理员已在平台变更，备案登记的负责人仍是原管理员；开发者办理变更备案、\
                     新管理员成为负责人后移出此列表。最早的在前"
                    @if count > SHOWN { "，仅显示前 " (SHOWN) " 个" }
                    "。"
                }
                (table(
                    &["标记时间", "小程序", "AppID"],
                    &rows.iter().map(|(appid, name, at)| vec![date(*at), name.clone(), appid.clone()]).collect::<Vec<_>>(),
                ))
            }
        }
    }
}

pub async fn page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let (staff, csrf) = match require(&s, &headers, Role::Operator).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let d = match s.svc.operations().dashboard().await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("dashboard: {e}");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                layout(
                    "数据看板",
                    Some((&staff, &csrf)),
                    crate::html::error_box("数据看板暂时无法生成，请稍后刷新。"),
                ),
            )
                .into_response();
        }
    };
    // What the authority said that someone must follow up; the page works without it.
    let news = s.svc.operations().authority_news(20).await.unwrap_or_else(|e| {
        tracing::error!("dashboard: authority news: {e}");
        Vec::new()
    });
    // Records this platform's 取消接入 left without any access (空壳).
    let shells = s.svc.operations().empty_shells(50).await.unwrap_or_else(|e| {
        tracing::error!("dashboard: empty shells: {e}");
        Vec::new()
    });
    let total_orders: i64 = d.by_status.iter().map(|c| c.n).sum();

    let status_rows: Vec<(String, i64, String)> =
        d.by_status.iter().map(|c| (c.label.clone(), c.n, c.n.to_string())).collect();
    let status = section(
        "status",
        "按状态",
        &format!("全部备案订单 {total_orders} 个（每个小程序一个订单，显示其当前状态）。"),
        hbars("备案订单按状态", BLUE, &status_rows),
        table(
            &["状态", "状态码", "订单数"],
            &d.by_status
                .iter()
                .map(|c| vec![c.label.clone(), c.key.clone(), c.n.to_string()])
                .collect::<Vec<_>>(),
        ),
    );

    let province_rows: Vec<(String, i64, String)> = d
        .by_province
        .iter()
        .map(|p| (p.name.clone(), p.total, format!("{}（已备案 {}）", p.total, p.filed)))
        .collect();
    let province = section(
        "province",
        "按省份",
        "按备案主体所在省份统计。",
        hbars("备案订单按省份", BLUE, &province_rows),
        table(
            &["省份", "订单", "审核中", "驳回", "已备案"],
            &d.by_province
                .iter()
                .map(|p| {
                    vec![
                        p.name.clone(),
                        p.total.to_string(),
                        p.in_review.to_string(),
                        p.rejected.to_string(),
                        p.filed.to_string(),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    );

    let days: Vec<(String, i64)> =
        d.per_day.iter().map(|x| (x.date.format("%Y-%m-%d").to_string(), x.n)).collect();
    let window_total: i64 = days.iter().map(|x| x.1).sum();
    let per_day = section(
        "per-day",
        &format!("每日提交（近 {} 天）", d.window_days),
        &format!("按北京时间统计每天提交（含重新提交）的备案申请，合计 {window_total} 次。"),
        day_columns("每日提交备案申请数", &days),
        table(
            &["日期", "提交数"],
            &days
                .iter()
                .rev()
                .filter(|x| x.1 > 0)
                .map(|x| vec![x.0.clone(), x.1.to_string()])
                .collect::<Vec<_>>(),
        ),
    );

    let applied = d.funnel.first().map(|c| c.n).unwrap_or(0);
    let funnel_rows: Vec<(String, i64, String)> = d
        .funnel
        .iter()
        .map(|c| (c.label.clone(), c.n, format!("{}（{}）", c.n, percent(c.n, applied))))
        .collect();
    let funnel = section(
        "funnel",
        "转化漏斗",
        "曾经到达每一步的小程序数（去重），百分比相对于提交备案的小程序数。",
        hbars("从提交到备案的转化漏斗", GREEN, &funnel_rows),
        table(
            &["环节", "小程序数", "占提交比例"],
            &d.funnel
                .iter()
                .map(|c| vec![c.label.clone(), c.n.to_string(), percent(c.n, applied)])
                .collect::<Vec<_>>(),
        ),
    );

    let late = d.sla.decisions - d.sla.on_time;
    let sla = section(
        "sla",
        &format!("平台初审时效（近 {} 天）", d.window_days),
        &format!(
            "时限为 {} 个工作日，从提交（或短信核验超时退回平台）起算至当日 24 时；按当前运营设置中的时限计算，修改时限后历史数据也按新时限统计。",
            d.sla.sla_days
        ),
        hbars(
            "平台初审按时完成情况",
            GREEN,
            &[
                ("按时".to_string(), d.sla.on_time, format!("{}（{}）", d.sla.on_time, percent(d.sla.on_time, d.sla.decisions))),
                ("超时".to_string(), late, format!("{late}（{}）", percent(late, d.sla.decisions))),
            ],
        ),
        table(
            &["初审决定数", "按时", "超时", "按时率"],
            &[vec![
                d.sla.decisions.to_string(),
                d.sla.on_time.to_string(),
                late.to_string(),
                d.sla.percent().map(|p| format!("{p:.1}%")).unwrap_or_else(|| "—".into()),
            ]],
        ),
    );

    let reason_rows: Vec<(String, i64, String)> =
        d.rejection_reasons.iter().map(|r| (r.key_name.clone(), r.total(), r.total().to_string())).collect();
    let reasons = section(
        "reasons",
        &format!("驳回原因前 10（近 {} 天）", d.window_days),
        "按驳回意见中的字段统计，平台初审驳回与管局驳回合计。",
        hbars("驳回原因前十", ORANGE, &reason_rows),
        table(
            &["字段", "平台驳回", "管局驳回", "合计"],
            &d.rejection_reasons
                .iter()
                .map(|r| {
                    vec![
                        r.key_name.clone(),
                        r.platform.to_string(),
                        r.authority.to_string(),
                        r.total().to_string(),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    );

    let r = &d.readiness;
    let deadline_note = if r.days_left >= 0 {
        format!("已上架的小程序须在 {} 前完成备案，还剩 {} 天。", r.deadline, r.days_left)
    } else {
        format!("备案截止日 {} 已过 {} 天，未备案的已上架小程序将被清退。", r.deadline, -r.days_left)
    };
    let readiness = section(
        "readiness",
        "截止日准备情况",
        &deadline_note,
        hbars_coloured(
            "已上架小程序备案完成情况",
            &[
                (
                    "已上架且已备案".to_string(),
                    r.listed_filed,
                    format!("{}（{}）", r.listed_filed, percent(r.listed_filed, r.listed)),
                    GREEN,
                ),
                (
                    "已上架未备案".to_string(),
                    r.listed_unfiled,
                    format!("{}（{}）", r.listed_unfiled, percent(r.listed_unfiled, r.listed)),
                    ORANGE,
                ),
                ("已清退".to_string(), r.cleared, r.cleared.to_string(), GREY),
            ],
        ),
        table(
            &["已上架", "已备案", "未备案", "备案完成率", "已清退"],
            &[vec![
                r.listed.to_string(),
                r.listed_filed.to_string(),
                r.listed_unfiled.to_string(),
                percent(r.listed_filed, r.listed),
                r.cleared.to_string(),
            ]],
        ),
    );

    let body = html! {
        div.card {
            h1 { "数据看板" }
            p.muted { "生成于 " (date(d.generated_at)) "（北京时间），每次打开页面重新计算。" }
            p { a class="btn secondary" #export href="/admin/dashboard.csv" download { "导出 CSV" } }
        }
        (calendar_warning(&s))
        (principal_changes(&s).await)
        section.card #authority-news {
            h2 { "管局事项（需跟进）" }
            @if news.is_empty() {
                p.muted { "暂无管局拒收、核查任务或取消接入。" }
            } @else {
                p.muted { "管局拒收的提交、管局发起的核查任务和管局取消的接入，最新在前。" }
                (table(
                    &["时间", "小程序", "事项", "管局说明"],
                    &news.iter().map(|n| vec![date(n.at), n.appid.clone(), n.what.to_string(), n.detail.clone()]).collect::<Vec<_>>(),
                ))
            }
        }
        (empty_shells(&shells))
        (status) (province) (per_day) (funnel) (sla) (reasons) (readiness)
    };
    layout("数据看板", Some((&staff, &csrf)), body).into_response()
}

/// The 空壳 section: records left without any access provider after this platform's 取消接入
/// (the MIIT record stands; the authority may cancel it).
fn empty_shells(shells: &[beian_service::authority::EmptyShell]) -> Markup {
    html! {
        section.card #empty-shells {
            h2 { "空壳备案" }
            @if shells.is_empty() {
                p.muted { "暂无空壳备案。" }
            } @else {
                p.muted {
                    "本平台取消接入后已没有任何接入服务商的备案（工信部备案仍在，管局可能注销空壳备案），最新在前。"
                }
                (table(
                    &["时间", "小程序", "服务备案号"],
                    &shells.iter().map(|e| vec![date(e.at), e.appid.clone(), e.service_number.clone()]).collect::<Vec<_>>(),
                ))
            }
        }
    }
}

/// One CSV field: quoted when needed; a leading `= + - @` is defused so a spreadsheet never
/// runs a reviewer's free text as a formula.
fn cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn line(out: &mut String, cells: &[String]) {
    out.push_str(&cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
    out.push_str("\r\n");
}

/// Every number of the dashboard as CSV sections (a title row, a header row, data rows).
pub fn to_csv(d: &Dashboard) -> String {
    let s = |x: &str| x.to_string();
    let mut out = String::from("\u{FEFF}");
    line(&mut out, &[s("数据看板"), s("生成时间（北京时间）"), date(d.generated_at)]);
    out.push_str("\r\n");
    line(&mut out, &[s("按状态")]);
    line(&mut out, &[s("状态"), s("状态码"), s("订单数")]);
    for c in &d.by_status {
        line(&mut out, &[c.label.clone(), c.key.clone(), c.n.to_string()]);
    }
    out.push_str("\r\n");
    line(&mut out, &[s("按省份")]);
    line(&mut out, &[s("省份"), s("省份代码"), s("订单"), s("审核中"), s("驳回"), s("已备案")]);
    for p in &d.by_province {
        line(
            &mut out,
            &[
                p.name.clone(),
                p.code.clone(),
                p.total.to_string(),
                p.in_review.to_string(),
                p.rejected.to_string(),
                p.filed.to_string(),
            ],
        );
    }
    out.push_str("\r\n");
    line(&mut out, &[format!("每日提交（近 {} 天）", d.window_days)]);
    line(&mut out, &[s("日期"), s("提交数")]);
    for x in &d.per_day {
        line(&mut out, &[x.date.format("%Y-%m-%d").to_string(), x.n.to_string()]);
    }
    out.push_str("\r\n");
    line(&mut out, &[s("转化漏斗")]);
    line(&mut out, &[s("环节"), s("动作"), s("小程序数")]);
    for c in &d.funnel {
        line(&mut out, &[c.label.clone(), c.key.clone(), c.n.to_string()]);
    }
    out.push_str("\r\n");
    line(&mut out, &[format!("平台初审时效（近 {} 天）", d.window_days)]);
    line(&mut out, &[s("时限（工作日）"), s("初审决定数"), s("按时"), s("超时")]);
    line(
        &mut out,
        &[
            d.sla.sla_days.to_string(),
            d.sla.decisions.to_string(),
            d.sla.on_time.to_string(),
            (d.sla.decisions - d.sla.on_time).to_string(),
        ],
    );
    out.push_str("\r\n");
    line(&mut out, &[format!("驳回原因前 10（近 {} 天）", d.window_days)]);
    line(&mut out, &[s("字段"), s("平台驳回"), s("管局驳回"), s("合计")]);
    for r in &d.rejection_reasons {
        line(
            &mut out,
            &[r.key_name.clone(), r.platform.to_string(), r.authority.to_string(), r.total().to_string()],
        );
    }
    out.push_str("\r\n");
    let r = &d.readiness;
    line(&mut out, &[s("截止日准备情况")]);
    line(
        &mut out,
        &[s("截止日"), s("剩余天数"), s("已上架"), s("已上架且已备案"), s("已上架未备案"), s("已清退")],
    );
    line(
        &mut out,
        &[
            r.deadline.to_string(),
            r.days_left.to_string(),
            r.listed.to_string(),
            r.listed_filed.to_string(),
            r.listed_unfiled.to_string(),
            r.cleared.to_string(),
        ],
    );
    out
}

/// `GET /admin/dashboard.csv` (operators).
pub async fn csv(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = require(&s, &headers, Role::Operator).await {
        return r;
    }
    match s.svc.operations().dashboard().await {
        Ok(d) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"beian-dashboard-{}.csv\"", d.today),
                ),
            ],
            to_csv(&d),
        )
            .into_response(),
        Err(e) => {
            tracing::error!("dashboard csv: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, "数据看板暂时无法生成，请稍后再试").into_response()
        }
    }
}
