//! The simulator's settings (operator-editable): review period, outcome, reasons, per-appid
//! overrides. Stored as JSON in the platform's `settings` table under `simulator`, audited.

use crate::{Result, SimError, Simulator};
use beian_core::model::{AuditEntity, AuditEvent, AuditItem};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

const SETTINGS_KEY: &str = "simulator";

/// Simulator settings (operator-editable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimulatorSettings {
    /// Working days from SMS verification to the authority's decision.
    pub review_working_days: u32,
    /// `approve` or `reject`.
    pub default_outcome: String,
    /// Reasons used when rejecting.
    pub reject_reasons: Vec<AuditItem>,
    /// Per-appid outcomes that override the default.
    pub forced: HashMap<String, String>,
    /// Records filed through other access providers (新增接入 connects one of them): a new
    /// access is confirmed only for a number listed here whose subject matches. The defaults
    /// are the demo's ([`demo_foreign_records`]); tests set their own.
    pub foreign_records: Vec<ForeignRecord>,
    /// Refuse to remove a record's last access (MIIT result code 1025): a 取消接入 of a record
    /// no other provider hosts is then aborted with the reason instead of leaving an empty
    /// shell (空壳). Off by default, so the demo can show an empty shell.
    pub refuse_last_access: bool,
}

/// A record filed through another access provider, as the simulated authority knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignRecord {
    /// `粤ICP备2019000777号-1X`.
    pub service_number: String,
    /// The subject's name and certificate number as filed: a new access of another subject
    /// is rejected.
    pub subject_name: String,
    pub certificate_number: String,
    /// The access providers hosting it besides this platform (a 取消接入 of a record with
    /// none left removes its last access).
    #[serde(default)]
    pub accesses: Vec<String>,
}

/// The demo's records filed elsewhere (**demo data**, used only while no settings were
/// saved): the demo person 张三 (`beian demo`, `crates/beian/src/demo.rs`) holds a mini
/// program filed in 北京 through another provider: `wxdemo0000000001` (张三's) can connect it
/// (接入已有备案) with `京ICP备2019000777号-1X` once the wizard's draft names 张三 (ID number
/// `440305199003071236`) as a personal subject in 北京.
pub fn demo_foreign_records() -> Vec<ForeignRecord> {
    vec![ForeignRecord {
        service_number: "京ICP备2019000777号-1X".into(),
        subject_name: "张三".into(),
        certificate_number: "440305199003071236".into(),
        accesses: vec!["演示云（另一接入服务商）".into()],
    }]
}

impl Default for SimulatorSettings {
    fn default() -> Self {
        SimulatorSettings {
            review_working_days: 3,
            default_outcome: "approve".into(),
            reject_reasons: vec![AuditItem {
                key_name: "主体证件照片".into(),
                error: "证件照片不清晰，无法核对证件信息".into(),
                suggest: "请上传证件原件的彩色照片或扫描件，四角完整、文字清晰".into(),
            }],
            forced: HashMap::new(),
            foreign_records: demo_foreign_records(),
            refuse_last_access: false,
        }
    }
}

impl Simulator {
    /// The stored settings, or the defaults if none were saved. Unreadable stored settings
    /// are an error (never replaced by defaults).
    pub async fn settings(&self) -> Result<SimulatorSettings> {
        let mut tx = self.store.read().await?;
        match tx.settings().get(SETTINGS_KEY).await? {
            Some(j) => serde_json::from_str(&j)
                .map_err(|e| SimError::Internal(format!("stored simulator settings are unreadable: {e}"))),
            None => Ok(SimulatorSettings::default()),
        }
    }

    /// Replace the settings, audited as `actor` (e.g. `operator:ID`).
    pub async fn set_settings(&self, actor: &str, s: &SimulatorSettings) -> Result<()> {
        if !["approve", "reject"].contains(&s.default_outcome.as_str())
            || s.forced.values().any(|o| !["approve", "reject"].contains(&o.as_str()))
        {
            return Err(SimError::refused("审核结果只能是 approve 或 reject"));
        }
        if !s.reject_reasons.is_empty() {
            beian_core::bounds::reasons(&s.reject_reasons)?;
        }
        let now = self.now();
        let json = serde_json::to_string(s).map_err(|e| SimError::Internal(e.to_string()))?;
        let mut tx = self.store.begin().await?;
        tx.settings().put(SETTINGS_KEY, &json, now).await?;
        tx.audit()
            .append(&AuditEvent {
                at: now,
                actor: actor.into(),
                entity: AuditEntity::Simulator.as_str().into(),
                entity_id: "settings".into(),
                action: beian_core::model::AuditAction::Update.as_str().into(),
                detail: serde_json::from_str(&json).unwrap_or_default(),
            })
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_approve_after_three_working_days() {
        let s = SimulatorSettings::default();
        assert_eq!((s.review_working_days, s.default_outcome.as_str()), (3, "approve"));
        assert!(!s.reject_reasons.is_empty());
    }
}
