//! Drafts: the console's application in progress, edited one form or one upload at a time.
//!
//! Every edit is one use case: read the draft with its version, apply the edit, write it only
//! if no other edit landed in between, else re-read and re-apply (optimistic concurrency), so
//! two uploads into one draft both land. A draft that cannot be read is an error — never an
//! empty draft written over the stored one.

use crate::aggregates::Filings;
use crate::media::MediaUpload;
use crate::{Actor, Result, Service, ServiceError};
use beian_core::draft::EditError;
use beian_core::errcode;
use beian_core::model::MediaMeta;
use beian_core::payload::ApplyPayload;

/// How often an edit is re-applied after losing a race before the caller is told to retry.
const EDIT_RETRIES: usize = 8;

impl From<EditError> for ServiceError {
    fn from(e: EditError) -> Self {
        ServiceError::refused(errcode::INVALID_INPUT, format!("字段 {} 不正确：{}", e.field, e.errmsg))
    }
}

impl Filings<'_> {
    /// The draft, or where a new one starts: the filed record of a filed mini program (a
    /// change), else the last submitted version (re-submission pre-fills everything), or the
    /// admin's own identity as the mini-program principal.
    pub async fn draft_or_start(&self, appid: &str) -> Result<ApplyPayload> {
        let stored = {
            let mut tx = self.store.read().await?;
            tx.drafts().get(appid).await?
        };
        let mut p = match stored {
            Some((d, _)) => d,
            None => self.start_draft(appid).await?,
        };
        same_person_fills_once(&mut p);
        Ok(p)
    }

    /// Apply `edit` to the draft in one transaction with optimistic concurrency; returns the
    /// draft as written. An `Err` from `edit` writes nothing.
    pub async fn update_draft<F>(&self, appid: &str, edit: F) -> Result<ApplyPayload>
    where
        F: Fn(&mut ApplyPayload) -> Result<()>,
    {
        // The starting point of a new draft reads other aggregates; compute it once, outside
        // the write transaction.
        let mut start: Option<ApplyPayload> = None;
        for _ in 0..EDIT_RETRIES {
            let now = self.now().timestamp();
            let mut tx = self.store.begin().await?;
            let (mut p, version) = match tx.drafts().get(appid).await? {
                Some((p, v)) => (p, Some(v)),
                None => {
                    drop(tx);
                    if start.is_none() {
                        start = Some(self.start_draft(appid).await?);
                    }
                    tx = self.store.begin().await?;
                    match tx.drafts().get(appid).await? {
                        Some((p, v)) => (p, Some(v)),
                        None => (start.clone().unwrap_or_default(), None),
                    }
                }
            };
            same_person_fills_once(&mut p);
            edit(&mut p)?;
            match tx.drafts().put_if(appid, &p, version, now).await {
                Ok(()) => {}
                Err(beian_store::StoreError::Conflict(m)) => {
                    tracing::debug!(appid, "draft edit lost a race, re-applying: {m}");
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            match tx.commit().await {
                Ok(()) => return Ok(p),
                Err(beian_store::StoreError::Conflict(m)) => {
                    tracing::debug!(appid, "draft edit lost a race at commit, re-applying: {m}");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::refused(errcode::CONFLICT, "草稿正被同时修改，请刷新后重试"))
    }

    /// Upload one material and put its media_id into `field` of the draft.
    pub async fn attach_media(
        &self,
        actor: &Actor,
        appid: &str,
        field: &str,
        up: MediaUpload,
    ) -> Result<MediaMeta> {
        // Refuse a field the draft cannot hold before storing anything.
        beian_core::draft::set_field(&mut ApplyPayload::default(), field, "m")?;
        let meta = self.materials().upload_media(actor, appid, up).await?;
        let id = meta.media_id.clone();
        self.update_draft(appid, |p| Ok(beian_core::draft::set_field(p, field, &id)?)).await?;
        Ok(meta)
    }

    pub async fn discard_draft(&self, appid: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.drafts().delete(appid).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Service {
    async fn start_draft(&self, appid: &str) -> Result<ApplyPayload> {
        if let Some(v) = self.filings().order(appid).await? {
            // A filed mini program starts a change (变更备案) from its record, not from a
            // change that was withdrawn since; a rejected change is corrected from itself.
            let version = match v.order.state {
                beian_core::state::FilingState::Filed { .. } => crate::filing::record_version(&v.order),
                _ => v.order.versions,
            };
            if let Some(p) = self.filings().submitted_version(appid, version).await? {
                return Ok(p);
            }
        }
        let mp = self.mini_programs().mini_program(appid).await?;
        let mut p = ApplyPayload::default();
        p.icp_applets.principal_info.name = mp.admin.name.clone();
        p.icp_applets.principal_info.mobile = mp.admin.mobile.clone();
        p.icp_applets.principal_info.certificate_type = Some(2);
        p.icp_applets.principal_info.certificate_number = mp.admin.id_number.clone();
        Ok(p)
    }
}

/// When the subject principal and the mini-program principal are the same person, the ID
/// photos are uploaded once (the materials step only asks for the subject principal's) and
/// serve both — WeChat allows one media_id in several fields of one application.
fn same_person_fills_once(p: &mut ApplyPayload) {
    let sp = p.icp_subject.principal_info.clone();
    let ap = &mut p.icp_applets.principal_info;
    if !sp.certificate_number.is_empty() && sp.certificate_number.eq_ignore_ascii_case(&ap.certificate_number)
    {
        ap.certificate_photo_front = sp.certificate_photo_front;
        ap.certificate_photo_back = sp.certificate_photo_back;
    }
}
