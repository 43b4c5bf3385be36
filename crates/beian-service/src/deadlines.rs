//! Deadlines and enforcement (PRODUCT rules 1–4): the listing gate, deadline reminders, and
//! the clearance sweep (清退) that delists unfiled mini programs from the clearance date on.

use crate::aggregates::{JobQueue, MiniPrograms};
use crate::jobs::{enqueue, JobSpec};
use crate::notify::{notify, Notice};
use crate::{audit, Actor, Result, ServiceError};
use beian_core::errcode;
use beian_core::model::AuditAction;
use beian_core::platform::Sweep;
use beian_core::time::beijing_date;

/// Mini programs per batch of the clearance sweep, wherever it runs (the job worker, the
/// operators' API, `beian sweep`'s default). Each batch is one transaction: the larger the
/// batch, the fewer commits, each a write of the batch's pages to the WAL and an fsync, which
/// were half of the sweep's time at 1,000 (docs/benchmarks.md: 1 M mini programs swept in
/// 3.9–4.0 s at 1,000 and 3.1 s at 10,000). A batch holds the database's one writer for about
/// 30 ms on 2 cores; applies wait behind it meanwhile.
pub const SWEEP_BATCH: i64 = 10_000;

/// Days before the deadline on which listed, unfiled mini programs are reminded.
pub const REMINDER_DAYS: [i64; 3] = [30, 7, 1];

/// 上架 of a mini program (`filed`: its order is 已备案) on `today`: refused for an unfiled one
/// from the listing-gate date on.
pub(crate) fn listing_gate(
    today: chrono::NaiveDate,
    policy: &beian_core::policy::Policy,
    filed: bool,
) -> Result<()> {
    if today >= policy.listing_gate_date && !filed {
        return Err(ServiceError::refused(
            errcode::LISTING_GATE,
            format!(
                "自{}起，小程序须完成备案后才能上架：请先提交备案，备案通过后再上架",
                policy.listing_gate_date.format("%Y年%m月%d日")
            ),
        ));
    }
    Ok(())
}

impl MiniPrograms<'_> {
    /// 上架: refused for an unfiled mini program from the listing-gate date on.
    pub async fn list_mini_program(&self, actor: &Actor, appid: &str) -> Result<()> {
        let filed = self.filings().order(appid).await?.is_some_and(|v| v.status == 6);
        listing_gate(beijing_date(self.now()), &self.policy(), filed)?;
        self.update_mini_program(actor, appid, |m| {
            m.listed = true;
            m.cleared = false;
        })
        .await?;
        Ok(())
    }
}

impl JobQueue<'_> {
    /// Queue today's reminder run, today's erasure of personal data past retention and, from
    /// the clearance date on, the sweep. Idempotent
    /// (dedupe keys per day / per clearance date): the worker calls it periodically.
    pub async fn ensure_daily_jobs(&self) -> Result<()> {
        let now = self.now();
        let ts = now.timestamp();
        let today = beijing_date(now);
        let policy = self.policy();
        let mut tx = self.store.begin().await?;
        let day = today.to_string();
        enqueue(
            &mut tx,
            &JobSpec::DeadlineReminders { day: day.clone() },
            Some(&format!("reminders:{day}")),
            ts,
            ts,
        )
        .await?;
        enqueue(
            &mut tx,
            &JobSpec::PersonalDataErasure { day: day.clone() },
            Some(&format!("pii_erasure:{day}")),
            ts,
            ts,
        )
        .await?;
        if today >= policy.clearance_date {
            let sweep_id = format!("clearance-{}", policy.clearance_date);
            enqueue(
                &mut tx,
                &JobSpec::ClearanceSweep { sweep_id: sweep_id.clone() },
                Some(&format!("sweep:{sweep_id}")),
                ts,
                ts,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Remind every listed, unfiled mini program if `day` is 30, 7 or 1 days before the
    /// deadline. Returns how many were reminded.
    pub async fn deadline_reminders(&self, day: chrono::NaiveDate) -> Result<u64> {
        let policy = self.policy();
        let days_left = (policy.deadline_date - day).num_days();
        if !REMINDER_DAYS.contains(&days_left) {
            return Ok(0);
        }
        let ts = self.now().timestamp();
        let mut cursor = String::new();
        let mut n = 0;
        loop {
            let mut tx = self.store.begin().await?;
            let batch = tx.mini_programs().listed_unfiled_after(&cursor, 500).await?;
            let Some(last) = batch.last().cloned() else { break };
            for appid in &batch {
                // Once per mini program, deadline and reminder day, however often this runs.
                let key = format!("reminded:{appid}:{}:{days_left}", policy.deadline_date);
                if tx.counters().add(&key, 1).await? != 1 {
                    continue;
                }
                let Some(mp) = tx.mini_programs().get(appid).await? else { continue };
                let notice = Notice {
                    kind: "deadline_reminder",
                    title: format!("小程序需补充备案信息（还剩{days_left}天）"),
                    body: format!(
                        "请于{}前完成小程序备案，逾期未完成的小程序将自{}起被清退。点击“去备案”开始。",
                        policy.deadline_date.format("%Y年%m月%d日"),
                        policy.clearance_date.format("%Y年%m月%d日")
                    ),
                    key: format!("reminder:{appid}:{days_left}:{}", policy.deadline_date),
                };
                notify(&mut tx, &mp, self.email_channel(), None, &notice, ts).await?;
                n += 1;
            }
            tx.commit().await?;
            cursor = last;
        }
        Ok(n)
    }

    /// The clearance sweep over every mini program, in batches, resumable: progress is
    /// committed with each batch, so a sweep interrupted at any point continues where it
    /// stopped. Refused before the clearance date.
    pub async fn clearance_sweep(
        &self,
        actor: &Actor,
        sweep_id: &str,
        batch: i64,
        mut progress: impl FnMut(&Sweep),
    ) -> Result<Sweep> {
        let policy = self.policy();
        let today = beijing_date(self.now());
        if today < policy.clearance_date {
            return Err(ServiceError::refused(
                errcode::INVALID_INPUT,
                format!("清退日期（{}）未到，不能执行清退", policy.clearance_date.format("%Y年%m月%d日")),
            ));
        }
        let start = self.now().timestamp();
        let mut sweep = {
            let mut tx = self.store.read().await?;
            tx.mini_programs().sweep(sweep_id).await?
        }
        .unwrap_or(Sweep {
            id: sweep_id.into(),
            started_at: start,
            finished_at: None,
            cursor_appid: String::new(),
            checked: 0,
            delisted: 0,
        });
        if sweep.finished_at.is_some() {
            return Ok(sweep);
        }
        loop {
            let ts = self.now().timestamp();
            let mut tx = self.store.begin().await?;
            let (checked, last) = tx.mini_programs().appid_batch(&sweep.cursor_appid, batch.max(1)).await?;
            let Some(last) = last else {
                sweep.finished_at = Some(ts);
                tx.mini_programs().put_sweep(&sweep).await?;
                audit(
                    &mut tx,
                    ts,
                    actor,
                    beian_core::model::AuditEntity::Sweep,
                    sweep_id,
                    AuditAction::Finish,
                    serde_json::json!({ "checked": sweep.checked, "delisted": sweep.delisted }),
                )
                .await?;
                tx.commit().await?;
                progress(&sweep);
                return Ok(sweep);
            };
            // Set-based: one INSERT … SELECT of the 站内信 and one UPDATE per batch.
            let body = format!(
                "小程序未在{}前完成备案，已按备案相关规定下架。完成备案后可重新上架。",
                policy.deadline_date.format("%Y年%m月%d日")
            );
            let delisted = tx
                .mini_programs()
                .clear_unfiled_between(&sweep.cursor_appid, &last, ts, "小程序已被清退", &body)
                .await?;
            sweep.checked += checked;
            sweep.delisted += delisted;
            sweep.cursor_appid = last;
            tx.mini_programs().put_sweep(&sweep).await?;
            tx.commit().await?;
            progress(&sweep);
        }
    }
}
