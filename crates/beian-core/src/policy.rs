//! Platform policy: dates, entrance switches, quotas and caps. Operator configuration with
//! WeChat's 2023–2024 values as defaults (PRODUCT.md rules 1–3).

use crate::model::MiniProgram;
use crate::state::{not_filed_code, ReadinessFlags};
use crate::{errcode, time};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// The filing system opens on this date (Beijing time). WeChat: 2023-09-04.
    pub system_open_date: NaiveDate,
    /// From this date an unfiled mini program cannot be listed. WeChat: 2023-09-01.
    pub listing_gate_date: NaiveDate,
    /// Listed mini programs must be filed by this date. WeChat: 2024-03-31.
    pub deadline_date: NaiveDate,
    /// From this date unfiled listed mini programs are cleared. WeChat: 2024-04-01.
    pub clearance_date: NaiveDate,
    /// A mini program whose name contains one of these has its entrance closed.
    pub name_keyword_blocklist: Vec<String>,
    /// The authority's system is down: entrance closed for everyone.
    pub authority_outage: bool,
    /// Accepted applications per quota day across the platform.
    pub daily_apply_quota: u32,
    /// The quota day starts at this hour, Beijing time (WeChat: 10:00).
    pub quota_reset_hour: u32,
    /// Filed mini programs per subject: 个人 / 个体工商户 / others.
    pub cap_personal: u32,
    pub cap_individual_business: u32,
    pub cap_organisation: u32,
    /// Platform review SLA in working days.
    pub platform_review_sla_days: u32,
}

impl Default for Policy {
    fn default() -> Self {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        Policy {
            system_open_date: d(2023, 9, 4),
            listing_gate_date: d(2023, 9, 1),
            deadline_date: d(2024, 3, 31),
            clearance_date: d(2024, 4, 1),
            name_keyword_blocklist: Vec::new(),
            authority_outage: false,
            daily_apply_quota: 100_000,
            quota_reset_hour: 10,
            cap_personal: 5,
            cap_individual_business: 5,
            cap_organisation: 50,
            platform_review_sla_days: 2,
        }
    }
}

/// Whether the filing entrance is open for a mini program (`available`), and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entrance {
    pub available: bool,
    /// errcode and a Chinese reason when closed.
    pub closed: Option<(i64, String)>,
}

impl Policy {
    /// The entrance rule (PRODUCT rule 1): open date, authority outage, name keywords,
    /// readiness flags.
    pub fn entrance(&self, mp: &MiniProgram, now: DateTime<Utc>) -> Entrance {
        self.entrance_of(&mp.name, mp.flags, now)
    }

    /// [`Policy::entrance`] from the two things it looks at: the name and the readiness flags.
    pub fn entrance_of(&self, name: &str, flags: ReadinessFlags, now: DateTime<Utc>) -> Entrance {
        let closed = |code: i64, msg: String| Entrance { available: false, closed: Some((code, msg)) };
        let today = time::beijing_date(now);
        if today < self.system_open_date {
            return closed(
                errcode::ENTRANCE_NOT_OPEN,
                format!(
                    "备案系统将于{}开放，请届时再提交备案申请",
                    self.system_open_date.format("%Y年%m月%d日")
                ),
            );
        }
        if self.authority_outage {
            return closed(
                errcode::ENTRANCE_AUTHORITY_DOWN,
                "管局备案系统维护中，暂不开放备案入口，请稍后再试".into(),
            );
        }
        if let Some(k) =
            self.name_keyword_blocklist.iter().find(|k| !k.is_empty() && name.contains(k.as_str()))
        {
            return closed(
                errcode::ENTRANCE_KEYWORD,
                format!("小程序名称包含限制关键词「{k}」，暂不开放备案入口，请修改名称后再试"),
            );
        }
        // A cleared (清退) mini program may file: filing is how it gets listed again.
        let code = not_filed_code(flags);
        if code != 1024 {
            let mut missing = Vec::new();
            if !flags.basic_info_filled {
                missing.push("基本信息（名称、头像、介绍）");
            }
            if !flags.category_filled {
                missing.push("服务类目");
            }
            if !flags.certified {
                missing.push("微信认证");
            }
            return closed(
                errcode::ENTRANCE_INFO_MISSING,
                format!("请先完成小程序的{}后再备案", missing.join("、")),
            );
        }
        Entrance { available: true, closed: None }
    }

    /// The quota day (Beijing date whose 10:00 started it) that `now` falls in.
    pub fn quota_day(&self, now: DateTime<Utc>) -> NaiveDate {
        let shifted = now - chrono::Duration::hours(i64::from(self.quota_reset_hour));
        time::beijing_date(shifted)
    }
}
