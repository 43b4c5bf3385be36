//! The public filing query (备案查询) and the operators' dashboard (数据看板).
//!
//! Public query: only filed mini programs are in the public index (`index_filed` in the
//! approval's transaction, `unindex` in the cancellation's; [`Service::reindex_public_filings`]
//! rebuilds it from the filed orders). A query finds, in this order of rank: an exact appid,
//! service number or subject number; a number or appid starting with the query; a service or
//! subject name equal to, then containing, the query. Name search needs at least two
//! characters (it runs on character bigrams); a one-character query matches only the start of
//! numbers and appids. The answer carries the MIIT field set with the principal's name masked
//! (`张*`) and never a phone or ID number.
//!
//! Work per query is bounded whatever the data size: matches are counted up to
//! [`COUNT_CAP`] (beyond that `total` is a lower bound and `truncated` is set), and a name
//! search walks at most [`MAX_SCAN`] postings of its rarest bigram.
//!
//! Dashboard: aggregates over the orders, the subjects and the audit trail, computed on
//! request (no stored counters to drift).

use crate::aggregates::{Operations, PublicIndex};
use crate::{audit, Actor, Result, Service, ServiceError};
use beian_core::errcode;
use beian_core::model::AuditAction;
use beian_core::model::FilingOrder;
use beian_core::state::Action;
use beian_core::state::FilingState;
use beian_core::time::{beijing_date, from_ts};
use beian_store::query::{bigrams, normalize, signature, NameWalk, PublicFiling};
use beian_store::Tx;
use chrono::{Days, NaiveDate};
use serde::Serialize;
use std::collections::HashMap;

/// Longest accepted query, in characters.
pub const MAX_QUERY_CHARS: usize = 50;
/// Results returned at most.
pub const MAX_RESULTS: usize = 50;
/// Matches are counted up to this many; beyond it `total` is a lower bound. Counting is
/// most of a common query's work (each counted match is a row read and a substring check),
/// so the cap is the price of every broad query: 200 tells a person to narrow their search
/// as well as 1,000 did, for a fifth of the work (docs/benchmarks.md, issue 19).
pub const COUNT_CAP: usize = 200;
/// Postings of the rarest bigram a name search walks at most.
pub const MAX_SCAN: usize = 100_000;
/// Postings counted per bigram when choosing the rarest one. Bigrams at the cap tie, and the
/// walk then takes the first of them, not the rarest: at 10 M, 5,000 made ties of
/// cross-word bigrams (`心外` in `安心外卖`, 3,223 postings) with common ones (`外卖`,
/// 132,782), and those queries walked the common one. Counting 20,000 index entries costs
/// about 1.4 ms, once a minute per bigram and node ([`GramStats`]).
const PROBE_CAP: i64 = 20_000;
/// How long a node remembers a bigram's posting count and walk bound ([`GramStats`]).
pub const GRAM_STATS_SECS: u64 = 60;

/// One filed mini program as the public sees it (MIIT's field set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicFilingView {
    pub appid: String,
    /// 主办单位名称.
    pub subject_name: String,
    /// 单位性质.
    pub subject_type: String,
    /// 主体备案号.
    pub subject_record_number: String,
    /// 服务备案号.
    pub service_record_number: String,
    /// 服务名称.
    pub service_name: String,
    /// 负责人, masked (`张*`).
    pub principal_name: String,
    /// 前置审批 (names, `、`-separated; `无` when none).
    pub nrlx: String,
    /// 审核通过日期 (Beijing, `YYYY-MM-DD`).
    pub approved_date: String,
}

/// The answer to one public query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicQueryResult {
    /// At most [`MAX_RESULTS`], best first.
    pub items: Vec<PublicFilingView>,
    /// Matches found (at most [`COUNT_CAP`]).
    pub total: usize,
    /// More matched than were counted: `total` is a lower bound; the query should be narrower.
    pub truncated: bool,
    /// Why a name search did not run (a one-character query).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `张三` → `张*`: the first character only.
pub fn mask_principal(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        None => String::new(),
        Some(first) => {
            let rest = chars.count();
            if rest == 0 {
                "*".into()
            } else {
                format!("{first}{}", "*".repeat(rest))
            }
        }
    }
}

/// Put a filed mini program into the public index (or refresh its row). Call in the
/// transaction that files it, after the order row is written; `now` is the approval time.
/// An order that is not filed is removed from the index instead.
pub(crate) async fn index_filed(tx: &mut Tx, appid: &str, now: i64) -> Result<()> {
    index(tx, appid, Some(now)).await
}

/// Take a mini program out of the public index. Call in the transaction that cancels it,
/// after the order rows are written: index rows of the same subject whose orders are no
/// longer filed (注销主体 cancels them all) go too.
pub(crate) async fn unindex(tx: &mut Tx, appid: &str) -> Result<()> {
    if let Some(subject_number) = tx.public_index().delete(appid).await? {
        for other in tx.public_index().no_longer_filed(&subject_number).await? {
            tx.public_index().delete(&other).await?;
        }
    }
    Ok(())
}

/// `approved_at`: `None` takes the order's last update.
async fn index(tx: &mut Tx, appid: &str, approved_at: Option<i64>) -> Result<()> {
    let order = tx.orders().get(appid).await?;
    let Some(order) = order.filter(|o| matches!(o.state, FilingState::Filed { .. })) else {
        return unindex(tx, appid).await;
    };
    let Some(row) = public_row(tx, &order, approved_at.unwrap_or(order.updated_at)).await? else {
        return unindex(tx, appid).await;
    };
    tx.public_index().put(&row).await?;
    Ok(())
}

/// The public row of a filed order, from the filed version, the subject and the mini program.
async fn public_row(tx: &mut Tx, order: &FilingOrder, approved_at: i64) -> Result<Option<PublicFiling>> {
    let (Some(subject_number), Some(service_number)) =
        (order.subject_record_number.clone(), order.service_record_number.clone())
    else {
        return Ok(None);
    };
    let Some(mp) = tx.mini_programs().get(&order.appid).await? else { return Ok(None) };
    let payload = tx.orders().version(&order.appid, crate::filing::record_version(order)).await?;
    let subject = match &order.subject_id {
        Some(id) => tx.subjects().get(id).await?.map(|(s, _)| s),
        None => None,
    };
    let (service_name, principal, nrlx, payload_subject_name, payload_subject_type) = match &payload {
        Some(p) => (
            p.icp_applets.base_info.name.clone(),
            p.icp_applets.principal_info.name.clone(),
            p.icp_applets.base_info.nrlx_details.iter().filter_map(|d| d.nrlx_type).collect(),
            p.icp_subject.base_info.name.clone(),
            p.icp_subject.base_info.subject_type,
        ),
        None => (String::new(), String::new(), Vec::new(), String::new(), None),
    };
    let service_name = if service_name.trim().is_empty() { mp.name } else { service_name };
    let subject_name = subject.as_ref().map(|s| s.name.clone()).unwrap_or(payload_subject_name);
    let subject_type = subject.as_ref().map(|s| s.subject_type).or(payload_subject_type).unwrap_or(0);
    Ok(Some(PublicFiling {
        appid: order.appid.clone(),
        service_name,
        subject_name,
        subject_type,
        subject_record_number: subject_number,
        service_record_number: service_number,
        principal_masked: mask_principal(&principal),
        nrlx,
        approved_at,
    }))
}

/// How much of a filing number (`粤ICP备2026012345号-1X`: one province abbreviation, then
/// `ICP备`, see `beian_core::numbering`) a query (ASCII upper-cased) can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberShape {
    /// Not the start of any number (`青岛通达`, `wx1234`).
    None,
    /// The start of numbers, shorter than `粤ICP备` (`粤`, `粤IC`).
    Start,
    /// At least the abbreviation and `ICP备`: it may be a whole number.
    Whole,
}

impl NumberShape {
    fn of(number: &str) -> NumberShape {
        const MARK: &str = "ICP备";
        let mut chars = number.chars();
        if chars.next().is_none_or(|c| c.is_ascii()) {
            return NumberShape::None;
        }
        let rest = chars.as_str();
        if rest.starts_with(MARK) {
            NumberShape::Whole
        } else if MARK.starts_with(rest) {
            NumberShape::Start
        } else {
            NumberShape::None
        }
    }
}

/// Best rank per appid (lower is better).
type Hits = HashMap<String, (u8, PublicFiling)>;

fn add_hit(hits: &mut Hits, rank: u8, f: PublicFiling) {
    match hits.get_mut(&f.appid) {
        Some(h) if h.0 <= rank => {}
        Some(h) => h.0 = rank,
        None => {
            hits.insert(f.appid.clone(), (rank, f));
        }
    }
}

const RANK_EXACT: u8 = 0;
const RANK_NAME_EQUAL: u8 = 1;
const RANK_PREFIX: u8 = 2;
const RANK_NAME_CONTAINS: u8 = 3;

/// Per node: each bigram's posting count (up to [`PROBE_CAP`]) and, for common ones, the
/// appid of its [`MAX_SCAN`]-th posting, for [`GRAM_STATS_SECS`]. They only choose which
/// bigram a name search walks and how far; the matching itself reads the index. A count of
/// zero is never remembered (a name filed a moment ago is found at once), and a remembered
/// bound at most leaves the newest postings of a common bigram unwalked for a minute — such
/// an answer says it is truncated anyway. Saves the probes (about a millisecond of the
/// query's 3–4 on 1M mini programs) for the bigrams people type again and again.
#[derive(Debug, Default)]
pub(crate) struct GramStats {
    grams: std::sync::Mutex<HashMap<String, GramStat>>,
}

#[derive(Debug, Clone)]
struct GramStat {
    postings: i64,
    /// For a common bigram, its walk bound once a search needed it.
    through: Option<Option<String>>,
    fresh_until: std::time::Instant,
}

impl GramStats {
    fn get(&self, gram: &str) -> Option<GramStat> {
        let map = self.grams.lock().unwrap_or_else(|p| p.into_inner());
        map.get(gram).filter(|s| std::time::Instant::now() < s.fresh_until).cloned()
    }

    fn put(&self, gram: &str, postings: i64, through: Option<Option<String>>) {
        if postings == 0 {
            return;
        }
        let lifetime = beian_store::spread_lifetime(std::time::Duration::from_secs(GRAM_STATS_SECS), gram);
        let stat = GramStat { postings, through, fresh_until: std::time::Instant::now() + lifetime };
        let mut map = self.grams.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= 100_000 {
            map.clear();
        }
        map.insert(gram.to_string(), stat);
    }
}

/// Each bigram's posting count (up to [`PROBE_CAP`]), from `stats` or the index.
async fn gram_postings(tx: &mut Tx, stats: &GramStats, grams: &[String]) -> Result<Vec<i64>> {
    let mut out: Vec<Option<i64>> = grams.iter().map(|g| stats.get(g).map(|s| s.postings)).collect();
    let missing: Vec<String> =
        grams.iter().zip(&out).filter(|(_, o)| o.is_none()).map(|(g, _)| g.clone()).collect();
    if !missing.is_empty() {
        let mut counts = tx.public_index().gram_postings_many(&missing, PROBE_CAP).await?.into_iter();
        for (g, slot) in grams.iter().zip(out.iter_mut()).filter(|(_, o)| o.is_none()) {
            let n = counts.next().unwrap_or(0);
            stats.put(g, n, None);
            *slot = Some(n);
        }
    }
    Ok(out.into_iter().map(Option::unwrap_or_default).collect())
}

/// Where a walk over `gram`'s postings stops: `None` (all of them) unless it has at least
/// [`PROBE_CAP`], then its [`MAX_SCAN`]-th posting, from `stats` or the index.
async fn walk_bound(tx: &mut Tx, stats: &GramStats, gram: &str, postings: i64) -> Result<Option<String>> {
    if postings < PROBE_CAP {
        return Ok(None);
    }
    if let Some(through) = stats.get(gram).and_then(|s| s.through) {
        return Ok(through);
    }
    let through =
        tx.public_index().gram_nth_posting(gram, i64::try_from(MAX_SCAN).unwrap_or(i64::MAX)).await?;
    stats.put(gram, postings, Some(through.clone()));
    Ok(through)
}

/// Names containing `form` (normalised, lower-cased, at least two characters), found from
/// the postings of the query's rarest bigram and checked in SQL; only the rows that can be
/// shown are fetched. Returns how many matched (counted up to `COUNT_CAP + 1`), how many of
/// them were added to `hits`, and whether the search stopped before the end (too many
/// matches or postings).
async fn name_matches(
    tx: &mut Tx,
    stats: &GramStats,
    form: &str,
    hits: &mut Hits,
) -> Result<(usize, usize, bool)> {
    let grams = bigrams(form);
    let counts = gram_postings(tx, stats, &grams).await?;
    let mut ranked: Vec<(i64, &String)> = counts.into_iter().zip(&grams).collect();
    ranked.sort_by_key(|(n, _)| *n);
    let Some(&(n, rarest)) = ranked.first() else {
        return Ok((0, 0, false));
    };
    if n == 0 {
        return Ok((0, 0, false));
    }
    let cap = i64::try_from(COUNT_CAP).unwrap_or(i64::MAX) + 1;
    let show = i64::try_from(MAX_RESULTS).unwrap_or(i64::MAX);
    // A two-character query is one bigram: its postings are exactly the matching names, so
    // they are counted without reading a row, and when there are more than can be counted
    // only the rows shown are read (the first ones in index order, not the newest). Both
    // statements stop by themselves, so no walk bound is needed (finding the MAX_SCAN-th
    // posting of a common bigram cost 9–40 ms at 10 M, per bigram and node each minute).
    let two = form.chars().count() == 2;
    // A longer query's common rarest bigram: walk at most MAX_SCAN of its postings.
    let through = if two { None } else { walk_bound(tx, stats, rarest, n).await? };
    let walk = NameWalk { gram: rarest, through: through.as_deref(), mask: signature(&grams) };
    // Names equal to the query first, wherever they are in the postings.
    for f in tx.public_index().name_equal(form, show).await? {
        add_hit(hits, RANK_NAME_EQUAL, f);
    }
    let counted =
        if two { Some(tx.public_index().gram_count(rarest, walk.through, cap).await?) } else { None };
    let (rows, total) = match counted {
        Some(n) if n >= cap => (tx.public_index().name_search_first(&walk, form, show).await?, n),
        _ => tx.public_index().name_search(&walk, form, cap, show).await?,
    };
    let shown = rows.len();
    for (equal, f) in rows {
        add_hit(hits, if equal { RANK_NAME_EQUAL } else { RANK_NAME_CONTAINS }, f);
    }
    let total = usize::try_from(total).unwrap_or(0);
    // Stopped at the count cap, or at the scan bound with postings left over.
    let truncated = total > COUNT_CAP || through.is_some();
    Ok((total, shown, truncated))
}

// ---- dashboard ---------------------------------------------------------------------------

/// Days covered by the per-day chart, the SLA figure and the rejection reasons.
pub const DASHBOARD_DAYS: u64 = 30;
/// Rejection events read at most for the reasons table (the newest).
const REASON_EVENTS: i64 = 20_000;

/// A labelled count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    /// Machine key (status code, action name).
    pub key: String,
    pub label: String,
    pub n: i64,
}

/// Orders of subjects in one province.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProvinceCount {
    pub code: String,
    pub name: String,
    pub total: i64,
    /// Status 2 or 4.
    pub in_review: i64,
    /// Status 3 or 5.
    pub rejected: i64,
    /// Status 6.
    pub filed: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCount {
    pub date: NaiveDate,
    pub n: i64,
}

/// Platform review within the SLA, over the dashboard window.
///
/// A decision (approve, reject, or resubmission after an SMS timeout) is on time when it
/// happened by the end of the SLA's last working day counted from the latest event that put
/// the order before the platform (an application, or an SMS timeout). The SLA is the
/// *current* policy's working days, so after a policy change older decisions are judged by
/// the new figure — an approximation, stated on the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlaCompliance {
    pub sla_days: u32,
    pub decisions: i64,
    pub on_time: i64,
}

impl SlaCompliance {
    /// Share on time in percent, `None` without decisions.
    pub fn percent(&self) -> Option<f64> {
        (self.decisions > 0).then(|| self.on_time as f64 * 100.0 / self.decisions as f64)
    }
}

/// A rejection reason's field and how often platform and authority used it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReasonCount {
    pub key_name: String,
    pub platform: i64,
    pub authority: i64,
}

impl ReasonCount {
    pub fn total(&self) -> i64 {
        self.platform + self.authority
    }
}

/// Listed mini programs against the filing deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readiness {
    pub deadline: NaiveDate,
    /// Negative once the deadline has passed.
    pub days_left: i64,
    pub listed: i64,
    pub listed_filed: i64,
    pub listed_unfiled: i64,
    pub cleared: i64,
}

/// Everything on the operators' dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dashboard {
    pub generated_at: i64,
    /// Beijing date the window ends on (today).
    pub today: NaiveDate,
    pub window_days: u64,
    /// Every stored status, zeros included.
    pub by_status: Vec<Count>,
    /// Provinces with orders, most orders first.
    pub by_province: Vec<ProvinceCount>,
    /// Applications per Beijing day, the window's days in order, zeros included.
    pub per_day: Vec<DayCount>,
    /// Orders that ever reached each step: applied, platform approved, SMS verified, filed.
    pub funnel: Vec<Count>,
    pub sla: SlaCompliance,
    /// Top 10 fields named in rejections within the window.
    pub rejection_reasons: Vec<ReasonCount>,
    pub readiness: Readiness,
}

/// Stored statuses and their labels (1024 is every "not filed", including withdrawn and
/// cancelled orders).
const STATUSES: [(i64, &str); 6] = [
    (1024, "未备案（含撤回、注销）"),
    (2, "平台审核中"),
    (3, "平台审核驳回"),
    (4, "管局审核中"),
    (5, "管局审核驳回"),
    (6, "已备案"),
];

const FUNNEL: [(Action, &str); 4] = [
    (Action::Apply, "提交备案"),
    (Action::PlatformApprove, "平台初审通过"),
    (Action::SmsVerified, "短信核验完成"),
    (Action::AuthorityApprove, "管局审核通过（已备案）"),
];

impl PublicIndex<'_> {
    /// The public query: `raw` is what the person typed. Refused when empty or longer than
    /// [`MAX_QUERY_CHARS`] characters.
    pub async fn public_query(&self, raw: &str) -> Result<PublicQueryResult> {
        let q = normalize(raw);
        let len = q.chars().count();
        if len == 0 {
            return Err(ServiceError::refused(
                errcode::INVALID_INPUT,
                "请输入查询内容：备案号、小程序名称、主办单位名称或 AppID",
            ));
        }
        if len > MAX_QUERY_CHARS {
            return Err(ServiceError::refused(
                errcode::INVALID_INPUT,
                format!("查询内容不能超过{MAX_QUERY_CHARS}个字符，请缩短后重试"),
            ));
        }
        let form = q.to_lowercase();
        // Numbers are stored with upper-case ASCII (`粤ICP备…号-1X`).
        let number = q.to_ascii_uppercase();
        let cap = i64::try_from(COUNT_CAP).unwrap_or(i64::MAX) + 1;
        // Each lookup on its own (no BEGIN/ROLLBACK round trips): a filing approved or
        // withdrawn between two of them shows up in one and not the other, as it would a
        // moment later.
        let mut tx = self.store.reads().await?;
        let mut hits = Hits::new();
        let mut truncated = false;

        // Lookups that cannot find anything are not sent: a name (`青岛通达`) is neither an
        // appid nor the start of a number.
        let shape = NumberShape::of(&number);
        if q.is_ascii() || shape == NumberShape::Whole {
            for appid in if form == q { vec![q.clone()] } else { vec![q.clone(), form.clone()] } {
                for f in tx.public_index().exact(&appid, &number).await? {
                    add_hit(&mut hits, RANK_EXACT, f);
                }
            }
        }
        if shape != NumberShape::None {
            let by_number = tx.public_index().number_prefix(&number, cap).await?;
            truncated |= by_number.len() > COUNT_CAP;
            for f in by_number {
                let rank = if f.subject_record_number == number { RANK_EXACT } else { RANK_PREFIX };
                add_hit(&mut hits, rank, f);
            }
        }
        if form.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            let by_appid = tx.public_index().appid_prefix(&form, cap).await?;
            truncated |= by_appid.len() > COUNT_CAP;
            for f in by_appid {
                add_hit(&mut hits, RANK_PREFIX, f);
            }
        }
        let mut note = None;
        // Matches beyond the shown rows are only counted: the total adds the name matches
        // to the number/appid hits (a mini program found both ways among the rows not shown
        // is counted twice — numbers and appids hardly ever occur inside names).
        let mut name_total = 0;
        if len >= 2 {
            let (n, shown, t) = name_matches(&mut tx, &self.gram_stats, &form, &mut hits).await?;
            truncated |= t;
            name_total = n.saturating_sub(shown);
        } else {
            note = Some(
                "单个字符只匹配备案号或 AppID 的开头；按小程序名称或主办单位名称查询，请至少输入两个字。"
                    .into(),
            );
        }
        drop(tx);

        let found = hits.len() + name_total;
        truncated |= found > COUNT_CAP;
        let total = found.min(COUNT_CAP);
        let mut ranked: Vec<(u8, PublicFiling)> = hits.into_values().collect();
        ranked.sort_by(|a, b| {
            a.0.cmp(&b.0).then(b.1.approved_at.cmp(&a.1.approved_at)).then_with(|| a.1.appid.cmp(&b.1.appid))
        });
        let items = ranked.into_iter().take(MAX_RESULTS).map(|(_, f)| self.public_view(f)).collect();
        Ok(PublicQueryResult { items, total, truncated, note })
    }

    /// Rebuild the public index from every filed order (operations repair; also what tests
    /// use). The approval date is the order's last `authority_approve` event. While it runs,
    /// queries see a partial index. Returns how many mini programs were indexed.
    pub async fn reindex_public_filings(&self) -> Result<u64> {
        let mut tx = self.store.begin().await?;
        tx.public_index().clear().await?;
        tx.commit().await?;
        let (mut after, mut n) = (String::new(), 0u64);
        loop {
            let mut tx = self.store.begin().await?;
            let batch = tx.orders().filed_after(&after, 200).await?;
            let Some(last) = batch.last().cloned() else { break };
            for appid in &batch {
                let at = tx.audit().last_at("filing", appid, Action::AuthorityApprove.name()).await?;
                index(&mut tx, appid, at).await?;
            }
            tx.commit().await?;
            n += batch.len() as u64;
            after = last;
        }
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        audit(
            &mut tx,
            now,
            &Actor::system(),
            beian_core::model::AuditEntity::PublicIndex,
            "all",
            AuditAction::Rebuild,
            serde_json::json!({ "indexed": n }),
        )
        .await?;
        tx.commit().await?;
        Ok(n)
    }
}

impl Service {
    fn public_view(&self, f: PublicFiling) -> PublicFilingView {
        let dict = self.dictionaries();
        let none = dict.nrlx_none_id();
        let nrlx: Vec<String> = f
            .nrlx
            .iter()
            .filter(|t| Some(**t) != none)
            .map(|t| dict.nrlx_type(*t).map(|n| n.name.clone()).unwrap_or_else(|| format!("类型{t}")))
            .collect();
        PublicFilingView {
            subject_type: dict.subject_type(f.subject_type).map(|t| t.name.clone()).unwrap_or_default(),
            nrlx: if nrlx.is_empty() { "无".into() } else { nrlx.join("、") },
            approved_date: beijing_date(from_ts(f.approved_at)).format("%Y-%m-%d").to_string(),
            appid: f.appid,
            subject_name: f.subject_name,
            subject_record_number: f.subject_record_number,
            service_record_number: f.service_record_number,
            service_name: f.service_name,
            principal_name: f.principal_masked,
        }
    }
}

impl Operations<'_> {
    /// The operators' dashboard, computed now.
    pub async fn dashboard(&self) -> Result<Dashboard> {
        let now = self.now();
        let today = beijing_date(now);
        let first_day = today.checked_sub_days(Days::new(DASHBOARD_DAYS - 1)).unwrap_or(today);
        let since = beijing_midnight(first_day);
        let policy = self.policy();
        let dict = self.dictionaries();
        let mut tx = self.store.read().await?;

        let stored: HashMap<i64, i64> =
            tx.orders().count_by_status().await?.into_iter().fold(HashMap::new(), |mut m, (status, n)| {
                // Every not-filed code (1024–1031) is one state.
                *m.entry(if (1024..=1031).contains(&status) { 1024 } else { status }).or_insert(0) += n;
                m
            });
        let by_status = STATUSES
            .iter()
            .map(|(code, label)| Count {
                key: code.to_string(),
                label: (*label).into(),
                n: stored.get(code).copied().unwrap_or(0),
            })
            .collect();

        let mut provinces: HashMap<String, ProvinceCount> = HashMap::new();
        for (code, status, n) in tx.orders().count_by_province_status().await? {
            let p = provinces.entry(code.clone()).or_insert_with(|| ProvinceCount {
                name: code
                    .parse()
                    .ok()
                    .and_then(|c| dict.region_at(1, c))
                    .map(|r| r.name.to_string())
                    .unwrap_or_else(|| format!("未知（{code}）")),
                code,
                total: 0,
                in_review: 0,
                rejected: 0,
                filed: 0,
            });
            p.total += n;
            match status {
                2 | 4 => p.in_review += n,
                3 | 5 => p.rejected += n,
                6 => p.filed += n,
                _ => {}
            }
        }
        let mut by_province: Vec<ProvinceCount> = provinces.into_values().collect();
        by_province.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.code.cmp(&b.code)));

        let days: HashMap<i64, i64> =
            tx.audit().per_day("filing", Action::Apply.name(), since).await?.into_iter().collect();
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        let per_day = (0..DASHBOARD_DAYS)
            .filter_map(|i| first_day.checked_add_days(Days::new(i)))
            .map(|date| DayCount { date, n: days.get(&(date - epoch).num_days()).copied().unwrap_or(0) })
            .collect();

        let actions: Vec<&str> = FUNNEL.iter().map(|(a, _)| a.name()).collect();
        let reached: HashMap<String, i64> =
            tx.audit().distinct_entities("filing", &actions).await?.into_iter().collect();
        let funnel = FUNNEL
            .iter()
            .map(|(action, label)| Count {
                key: action.name().into(),
                label: (*label).into(),
                n: reached.get(action.name()).copied().unwrap_or(0),
            })
            .collect();

        let calendar = self.calendar();
        let mut sla = SlaCompliance { sla_days: policy.platform_review_sla_days, decisions: 0, on_time: 0 };
        for (decided, started) in tx
            .audit()
            .decisions_since(
                "filing",
                &[Action::PlatformApprove.name(), Action::PlatformReject.name(), Action::Resubmit.name()],
                &[Action::Apply.name(), Action::SmsTimeout.name()],
                since,
            )
            .await?
        {
            let Some(started) = started else { continue };
            let due = calendar.add_working_days(beijing_date(from_ts(started)), sla.sla_days);
            sla.decisions += 1;
            if decided <= beian_core::time::end_of_beijing_day(due) {
                sla.on_time += 1;
            }
        }

        let mut reasons: HashMap<String, ReasonCount> = HashMap::new();
        for (action, detail) in tx
            .audit()
            .details_since(
                "filing",
                &[Action::PlatformReject.name(), Action::AuthorityReject.name()],
                since,
                REASON_EVENTS,
            )
            .await?
        {
            let detail: serde_json::Value = serde_json::from_str(&detail).unwrap_or_default();
            let items = detail.get("audit_data").and_then(|v| v.as_array()).cloned().unwrap_or_default();
            for item in items {
                let key = item.get("key_name").and_then(|k| k.as_str()).unwrap_or("").trim().to_string();
                let key = if key.is_empty() { "（未注明字段）".to_string() } else { key };
                let r = reasons.entry(key.clone()).or_insert(ReasonCount {
                    key_name: key,
                    platform: 0,
                    authority: 0,
                });
                if action == "platform_reject" {
                    r.platform += 1;
                } else {
                    r.authority += 1;
                }
            }
        }
        let mut rejection_reasons: Vec<ReasonCount> = reasons.into_values().collect();
        rejection_reasons.sort_by(|a, b| b.total().cmp(&a.total()).then_with(|| a.key_name.cmp(&b.key_name)));
        rejection_reasons.truncate(10);

        let listing = tx.mini_programs().listing_readiness().await?;
        let readiness = Readiness {
            deadline: policy.deadline_date,
            days_left: (policy.deadline_date - today).num_days(),
            listed: listing.listed,
            listed_filed: listing.listed - listing.listed_unfiled,
            listed_unfiled: listing.listed_unfiled,
            cleared: listing.cleared,
        };

        Ok(Dashboard {
            generated_at: now.timestamp(),
            today,
            window_days: DASHBOARD_DAYS,
            by_status,
            by_province,
            per_day,
            funnel,
            sla,
            rejection_reasons,
            readiness,
        })
    }
}

/// 00:00 Beijing time on `day`, as unix seconds.
fn beijing_midnight(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp() - 8 * 3600).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_keeps_only_the_first_character() {
        assert_eq!(mask_principal("张三"), "张*");
        assert_eq!(mask_principal("欧阳娜娜"), "欧***");
        assert_eq!(mask_principal("张"), "*");
        assert_eq!(mask_principal(" "), "");
    }

    #[test]
    fn only_number_shaped_queries_are_looked_up_as_numbers() {
        use NumberShape::*;
        for (q, shape) in [
            ("粤", Start),
            ("粤IC", Start),
            ("粤ICP备", Whole),
            ("粤ICP备2026012345号-1X", Whole),
            ("青岛通达", None),
            ("粤ICX", None),
            ("WX1234", None),
            ("ICP备", None),
        ] {
            assert_eq!(NumberShape::of(q), shape, "{q}");
        }
    }

    #[test]
    fn beijing_midnight_is_16_utc_the_day_before() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 2).expect("date");
        assert_eq!(from_ts(beijing_midnight(d)).to_rfc3339(), "2026-03-01T16:00:00+00:00");
    }
}
