//! Face verification (人脸核身) as a use case: the page's answer is judged by the plugged-in
//! [`IdentityVerifier`] (`beian_ports::identity`; the built-in `IdentityMatch` compares name
//! and ID number only — no biometrics), chosen when the service is built
//! ([`Service::with_identity_verifier`]).

use crate::aggregates::Materials;
use crate::filing::FACE_NOTICE_TTL_SECS;
use crate::{Actor, Result, Service, ServiceError};
use beian_core::errcode;
use beian_core::model::FaceTask;
use beian_ports::identity::{IdentityVerifier, Presented, Verdict};
use beian_ports::PortError;
use std::sync::Arc;

impl Service {
    /// Judge face tasks with `verifier` instead of the built-in name-and-ID check.
    pub fn with_identity_verifier(mut self, verifier: Arc<dyn IdentityVerifier>) -> Service {
        self.identity = verifier;
        self
    }
}

impl Materials<'_> {
    /// The admin completes a face task on the verification page. A failed attempt is
    /// recorded (face_status 2) and may be retried until the task expires; a verifier that
    /// cannot answer now records nothing.
    pub async fn complete_face_verification(
        &self,
        task_id: &str,
        name: &str,
        id_number: &str,
    ) -> Result<FaceTask> {
        let task = {
            let mut tx = self.store.read().await?;
            tx.face_tasks()
                .get(task_id)
                .await?
                .ok_or_else(|| ServiceError::code(errcode::FACE_TASK_NOT_FOUND))?
        };
        if self.now().timestamp() >= task.created_at + FACE_NOTICE_TTL_SECS && !task.is_finish {
            return Err(ServiceError::refused(
                errcode::FACE_TASK_NOT_FOUND,
                "核身通知已过期（24小时内有效），请联系开发者或服务商重新发起人脸核身",
            ));
        }
        let mp = self.mini_programs().mini_program(&task.appid).await?;
        let presented = Presented { name: name.into(), id_number: id_number.into(), evidence: None };
        let success = match self.identity.verify(&mp.admin, &presented).await {
            Ok(Verdict::Match) => true,
            Ok(Verdict::NoMatch) | Err(PortError::Refused(_)) => false,
            Ok(Verdict::RetryLater(why)) | Err(PortError::Retry(why)) => {
                tracing::warn!(verifier = self.identity.name(), "identity verification unavailable: {why}");
                return Err(ServiceError::refused(errcode::SYSTEM_ERROR, "核身服务暂时不可用，请稍后再试"));
            }
        };
        self.finish_face_task(&Actor::new("admin", &task.appid), task_id, success).await
    }

    /// The task and its mini program's name, for the verification page.
    pub async fn face_task_for_page(&self, task_id: &str) -> Result<(FaceTask, String)> {
        let mut tx = self.store.read().await?;
        let task = tx
            .face_tasks()
            .get(task_id)
            .await?
            .ok_or_else(|| ServiceError::code(errcode::FACE_TASK_NOT_FOUND))?;
        let name = tx.mini_programs().get(&task.appid).await?.map(|m| m.name).unwrap_or_default();
        Ok((task, name))
    }
}
