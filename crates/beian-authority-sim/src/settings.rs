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
