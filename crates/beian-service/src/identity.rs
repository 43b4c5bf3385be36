//! Face verification (人脸核身) as a use case over the identity seam
//! (`beian_ports::identity`): the face page starts a session at the configured
//! [`IdentityProvider`] and sends the person to its URL; the session's result is pulled when
//! the person comes back, when a callback arrives and when the face task is queried
//! (`query_icp_verifytask`, the console's face step), and decides the task as before
//! (success or failure), keeping the provider's raw code and score. The provider is chosen
//! when the service is built ([`Service::with_identity_provider`]; default the built-in
//! name + ID check, which has no biometrics and decides on beian's own page).

use crate::aggregates::Materials;
use crate::filing::FACE_NOTICE_TTL_SECS;
use crate::{Actor, Result, Service, ServiceError};
use beian_core::errcode;
use beian_core::model::{FaceStatus, FaceTask};
use beian_ports::identity::{IdentityProvider, Outcome, Presented, StartRequest, Status};
use beian_ports::PortError;
use std::sync::Arc;

/// Shown when the provider cannot answer now; nothing was recorded.
pub const PROVIDER_UNAVAILABLE: &str = "核身服务暂时不可用，请稍后再试（本次未记录任何结果）";
/// Shown when the session expired before the person completed it.
pub const SESSION_EXPIRED: &str = "核身会话已过期（未在有效期内完成刷脸），本次核身未通过，请重新开始核身";

/// What the face page shows about a task besides the task itself.
#[derive(Debug, Clone)]
pub struct FacePage {
    pub task: FaceTask,
    /// The mini program's name.
    pub mini_program: String,
    /// Whether the configured check compares a live face (false: "no biometrics").
    pub biometric: bool,
    /// The last session's decided outcome (`passed`, `failed`, `expired`), if any.
    pub outcome: Option<String>,
    /// The provider's raw code of that outcome.
    pub raw_code: Option<String>,
}

impl Service {
    /// Verify identities with `provider` instead of the built-in name + ID check.
    pub fn with_identity_provider(mut self, provider: Arc<dyn IdentityProvider>) -> Service {
        self.identity = provider;
        self
    }

    /// The configured provider's name and whether it is biometric (for pages and `check`).
    pub fn identity_provider(&self) -> (&'static str, bool) {
        (self.identity.name(), self.identity.biometric())
    }
}

impl Materials<'_> {
    /// The task, refused when unknown or when its notice (24 h) has passed unfinished.
    async fn open_task(&self, task_id: &str) -> Result<FaceTask> {
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
        Ok(task)
    }

    /// Start a verification session for the task's administrator at the configured provider
    /// and answer the URL to send the person to. A provider that cannot answer now records
    /// nothing.
    pub async fn start_face_session(&self, task_id: &str) -> Result<String> {
        let task = self.open_task(task_id).await?;
        if task.is_finish && task.face_status == FaceStatus::Succeeded {
            return Err(ServiceError::refused(errcode::INVALID_ARGS, "人脸核身已完成，无需重复核身"));
        }
        let mp = self.mini_programs().mini_program(&task.appid).await?;
        let req = StartRequest {
            name: mp.admin.name.clone(),
            id_number: mp.admin.id_number.clone(),
            return_url: format!("{}/face/{}", self.public_url(), task_id),
            task_id: task_id.to_string(),
        };
        let now = self.now().timestamp();
        let session = match self.identity.start(&req, now).await {
            Ok(s) => s,
            Err(PortError::Retry(why)) => {
                tracing::warn!(provider = self.identity.name(), "identity session not started: {why}");
                return Err(ServiceError::refused(errcode::SYSTEM_ERROR, PROVIDER_UNAVAILABLE));
            }
            Err(PortError::Refused(why)) => {
                tracing::error!(provider = self.identity.name(), "identity provider refused to start: {why}");
                return Err(ServiceError::refused(errcode::SYSTEM_ERROR, PROVIDER_UNAVAILABLE));
            }
        };
        let mut tx = self.store.begin().await?;
        tx.face_tasks()
            .start_session(task_id, self.identity.name(), &session.session_id, session.expires_at)
            .await?;
        tx.commit().await?;
        Ok(session.url)
    }

    /// Pull the result of the task's pending session and decide the task by it. `Ok(task)`
    /// unchanged while the session is pending; `Err` (nothing recorded) when the provider
    /// cannot answer now.
    pub async fn refresh_face_task(&self, task_id: &str) -> Result<FaceTask> {
        let (task, session) = {
            let mut tx = self.store.read().await?;
            let task = tx
                .face_tasks()
                .get(task_id)
                .await?
                .ok_or_else(|| ServiceError::code(errcode::FACE_TASK_NOT_FOUND))?;
            (task, tx.face_tasks().session(task_id).await?)
        };
        let Some(session) = session else { return Ok(task) };
        if session.outcome.is_some()
            || (task.is_finish && task.face_status == FaceStatus::Succeeded)
            || session.provider != self.identity.name()
        {
            return Ok(task);
        }
        let outcome = match self.identity.result(&session.session_id).await {
            Ok(o) => o,
            Err(PortError::Retry(why)) | Err(PortError::Refused(why)) => {
                tracing::warn!(provider = self.identity.name(), "identity result not available: {why}");
                return Err(ServiceError::refused(errcode::SYSTEM_ERROR, PROVIDER_UNAVAILABLE));
            }
        };
        let outcome = match outcome.status {
            Status::Pending if self.now().timestamp() >= session.expires_at => {
                Outcome { status: Status::Expired, ..outcome }
            }
            Status::Pending => return Ok(task),
            _ => outcome,
        };
        let actor = Actor::new("identity", self.identity.name());
        self.finish_face_task_with(&actor, task_id, outcome.status == Status::Passed, Some(&outcome)).await
    }

    /// [`Self::refresh_face_task`] for readers that must answer anyway (the WeChat query,
    /// the console): a provider that cannot answer leaves the task as it was.
    pub(crate) async fn refreshed_or_current(&self, task: FaceTask) -> FaceTask {
        if task.is_finish && task.face_status == FaceStatus::Succeeded {
            return task;
        }
        match self.refresh_face_task(&task.task_id).await {
            Ok(t) => t,
            Err(_) => task,
        }
    }

    /// The built-in check: the person typed the administrator's name and ID number on
    /// beian's face page. A failed attempt is recorded (face_status 2) and may be retried
    /// until the task expires. Refused when the configured provider checks elsewhere.
    pub async fn complete_face_verification(
        &self,
        task_id: &str,
        name: &str,
        id_number: &str,
    ) -> Result<FaceTask> {
        let task = self.open_task(task_id).await?;
        let mp = self.mini_programs().mini_program(&task.appid).await?;
        let presented = Presented { name: name.into(), id_number: id_number.into() };
        let Some(outcome) = self.identity.check_on_page(&mp.admin, &presented) else {
            return Err(ServiceError::refused(
                errcode::INVALID_ARGS,
                "本平台使用第三方人脸核身，请点击“开始人脸核身”完成刷脸",
            ));
        };
        let mut tx = self.store.begin().await?;
        let now = self.now().timestamp();
        let session_id = format!("builtin-{task_id}");
        tx.face_tasks()
            .start_session(task_id, self.identity.name(), &session_id, now + FACE_NOTICE_TTL_SECS)
            .await?;
        tx.commit().await?;
        self.finish_face_task_with(
            &Actor::new("admin", &task.appid),
            task_id,
            outcome.status == Status::Passed,
            Some(&outcome),
        )
        .await
    }

    /// The task as the verification page shows it, after pulling a pending session's result
    /// (a provider that cannot answer now is an error: the page says to try later).
    pub async fn face_task_for_page(&self, task_id: &str) -> Result<FacePage> {
        let task = self.refresh_face_task(task_id).await?;
        let mut tx = self.store.read().await?;
        let name = tx.mini_programs().get(&task.appid).await?.map(|m| m.name).unwrap_or_default();
        let session = tx.face_tasks().session(task_id).await?;
        let (outcome, raw_code) = session.map(|s| (s.outcome, s.raw_code)).unwrap_or_default();
        Ok(FacePage { task, mini_program: name, biometric: self.identity.biometric(), outcome, raw_code })
    }
}
