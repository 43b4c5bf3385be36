//! Filing materials: upload (validated, stored durably) and download (scoped to the appid).

use crate::aggregates::Materials;
use crate::{audit, random_id, Actor, Result, Service, ServiceError};
use beian_core::dict::Dictionaries;
use beian_core::errcode;
use beian_core::model::AuditAction;
use beian_core::model::{MediaMeta, MediaType};

/// An upload as the edges receive it.
#[derive(Debug, Clone)]
pub struct MediaUpload {
    /// `image` or `video` as sent.
    pub media_type: String,
    pub certificate_type: Option<u32>,
    pub icp_order_field: String,
    pub bytes: Vec<u8>,
}

/// Largest accepted image and video. WeChat's console asks for 100K–200K images; the API
/// documents no limit, so beian accepts up to these and leaves quality to review.
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_VIDEO_BYTES: usize = 50 * 1024 * 1024;

/// The `icp_order_field` values an upload may name (wechat-icp-api.md §4.3).
pub const ORDER_FIELDS: &[&str] = &[
    "icp_subject.personal_info.residence_permit",
    "icp_subject.organize_info.certificate_photo",
    "icp_subject.principal_info.certificate_photo_front",
    "icp_subject.principal_info.certificate_photo_back",
    "icp_subject.principal_info.authorization_letter",
    "icp_applets.principal_info.certificate_photo_front",
    "icp_applets.principal_info.certificate_photo_back",
    "icp_applets.principal_info.authorization_letter",
    "icp_applets.base_info.nrlx_details",
    "icp_materials.commitment_letter",
    "icp_materials.business_name_change_letter",
    "icp_materials.party_building_confirmation_letter",
    "icp_materials.promise_video",
    "icp_materials.authenticity_responsibility_letter",
    "icp_materials.authenticity_commitment_letter",
    "icp_materials.website_construction_proposal",
    "icp_materials.subject_other_materials",
    "icp_materials.applets_other_materials",
    "icp_materials.holding_certificate_photo",
];

/// What the bytes really are, by their magic numbers (the declared type is not trusted).
fn sniff(bytes: &[u8]) -> Option<(&'static str, MediaType)> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(("image/jpeg", MediaType::Image))
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(("image/png", MediaType::Image))
    } else if bytes.len() > 12 && &bytes[4..8] == b"ftyp" {
        Some(("video/mp4", MediaType::Video))
    } else {
        None
    }
}

/// The checks of an upload that need no storage — declared type, field, the bytes' real type
/// (sniffed), size, certificate type — in the order the API answers them. Returns the real
/// content type and media type. Pure: the API's fuzz targets call it too.
pub fn check_upload(up: &MediaUpload, dict: &Dictionaries) -> Result<(&'static str, MediaType)> {
    let declared = MediaType::parse(up.media_type.trim())
        .ok_or_else(|| ServiceError::refused(errcode::INVALID_MEDIA_TYPE, "type 须为 image 或 video"))?;
    let field = up.icp_order_field.trim();
    if field.is_empty() {
        return Err(ServiceError::refused(
            errcode::INVALID_ARGS,
            "icp_order_field 不能为空，请填写该材料对应的备案字段路径",
        ));
    }
    if !ORDER_FIELDS.contains(&field) {
        return Err(ServiceError::refused(
            errcode::INVALID_ARGS,
            format!("icp_order_field 不合法：{field}；前置审批材料请使用 icp_applets.base_info.nrlx_details"),
        ));
    }
    if up.bytes.is_empty() {
        return Err(ServiceError::refused(
            errcode::MEDIA_DATA_MISSING,
            "media data 不能为空：请在 multipart 的 media 字段上传文件",
        ));
    }
    let Some((content_type, real)) = sniff(&up.bytes) else {
        // Said for what the field takes: a photo is never told about MP4.
        return Err(ServiceError::refused(
            errcode::INVALID_FILE_TYPE,
            match declared {
                MediaType::Image => "文件格式不支持：请上传 JPG 或 PNG 格式的图片",
                MediaType::Video => "文件格式不支持：请上传 MP4 格式的视频",
            },
        ));
    };
    if real != declared {
        return Err(ServiceError::refused(
            errcode::INVALID_FILE_TYPE,
            format!(
                "文件内容是{}，与 type={} 不符",
                if real == MediaType::Image { "图片" } else { "视频" },
                declared.as_str()
            ),
        ));
    }
    let limit = if real == MediaType::Image { MAX_IMAGE_BYTES } else { MAX_VIDEO_BYTES };
    if up.bytes.len() > limit {
        return Err(ServiceError::refused(
            errcode::INVALID_MEDIA_SIZE,
            format!("文件过大：不能超过{}MB", limit / 1024 / 1024),
        ));
    }
    if let Some(ct) = up.certificate_type {
        if dict.certificate_type(ct).is_none() {
            return Err(ServiceError::refused(
                errcode::INVALID_ARGS,
                format!("certificate_type {ct} 不存在，请从证件类型列表中选择"),
            ));
        }
    }
    Ok((content_type, real))
}

impl Materials<'_> {
    /// uploadIcpMedia: check the declared type, the field and the bytes, then store.
    pub async fn upload_media(&self, actor: &Actor, appid: &str, up: MediaUpload) -> Result<MediaMeta> {
        let (content_type, real) = check_upload(&up, &self.dictionaries())?;
        let field = up.icp_order_field.trim();
        let now = self.now().timestamp();
        // An unknown appid stores nothing.
        if self.store.read().await?.mini_programs().get(appid).await?.is_none() {
            return Err(ServiceError::code(errcode::UNKNOWN_APPID));
        }
        // Bytes first, sealed (their own data key, wrapped by the media key) and durably (local:
        // fsynced and renamed; S3: the PUT answered 2xx); the row only commits once they are
        // stored. Outside the write transaction, so a slow object store does not hold SQLite's
        // one writer. The name is a keyed digest: identical files share one object.
        let (sha256, sealed) = self.store.crypto().seal_media(&up.bytes);
        self.media
            .put(&sha256, &sealed)
            .await
            .map_err(|e| ServiceError::Internal(format!("media write ({}): {e}", self.media.describe())))?;
        let mut tx = self.store.begin().await?;
        if tx.mini_programs().get(appid).await?.is_none() {
            return Err(ServiceError::code(errcode::UNKNOWN_APPID));
        }
        let meta = MediaMeta {
            media_id: random_id(24),
            appid: appid.to_string(),
            media_type: real,
            certificate_type: up.certificate_type,
            icp_order_field: field.to_string(),
            content_type: content_type.to_string(),
            size: up.bytes.len() as u64,
            sha256,
            created_at: now,
        };
        tx.media().insert(&meta).await?;
        audit(
            &mut tx,
            now,
            actor,
            beian_core::model::AuditEntity::Media,
            &meta.media_id,
            AuditAction::Upload,
            serde_json::json!({ "appid": appid, "field": field, "size": meta.size, "sha256": meta.sha256 }),
        )
        .await?;
        tx.commit().await?;
        Ok(meta)
    }

    /// getIcpMedia: the bytes, only for the mini program that uploaded them.
    pub async fn get_media(&self, appid: &str, media_id: &str) -> Result<(MediaMeta, Vec<u8>)> {
        let mut tx = self.store.read().await?;
        let meta = match tx.media().get(media_id).await? {
            Some(m) if m.appid == appid => m,
            _ => return Err(ServiceError::code(errcode::MEDIA_ID_INVALID)),
        };
        // The row is read; do not hold the snapshot while the bytes travel.
        drop(tx);
        let stored = self.media.get(&meta.sha256).await.map_err(|e| {
            ServiceError::Internal(format!("media read of {} ({}): {e}", meta.sha256, self.media.describe()))
        })?;
        let bytes = self.open_media(&meta.sha256, stored)?;
        Ok((meta, bytes))
    }

    /// Convert plain media objects (stored before media were encrypted) into sealed ones:
    /// each plain object is sealed under its keyed digest, every row naming it is pointed at
    /// the sealed copy in one transaction, then the plain object is deleted. Resumable: a
    /// pending deletion is remembered in the same transaction as the rows and done first on
    /// the next run. `progress(converted, seen)` is called after each object.
    pub async fn seal_plain_media(&self, mut progress: impl FnMut(u64, u64)) -> Result<u64> {
        const PENDING: &str = "media_plain_pending";
        // A run that stopped between the rows' update and the deletion.
        let pending = { self.store.read().await?.settings().get(PENDING).await? };
        if let Some(old) = pending {
            self.delete_plain(&old).await?;
            let mut tx = self.store.begin().await?;
            tx.settings().delete(PENDING).await?;
            tx.commit().await?;
        }
        let (mut converted, mut seen) = (0u64, 0u64);
        let mut after = String::new();
        let mut done: std::collections::HashSet<String> = std::collections::HashSet::new();
        loop {
            let page = { self.store.read().await?.check().media_page(&after, 500).await? };
            let Some(last) = page.last() else { break };
            after = last.media_id.clone();
            for m in &page {
                seen += 1;
                if !done.insert(m.sha256.clone()) {
                    continue;
                }
                let stored = match self.media.get(&m.sha256).await {
                    Ok(b) => b,
                    Err(beian_store::MediaError::NotFound) => continue, // `beian check` reports it
                    Err(e) => return Err(ServiceError::Internal(format!("media read of {}: {e}", m.sha256))),
                };
                if beian_store::Crypto::is_sealed_media(&stored) {
                    continue;
                }
                let (name, sealed) = self.store.crypto().seal_media(&stored);
                self.media
                    .put(&name, &sealed)
                    .await
                    .map_err(|e| ServiceError::Internal(format!("media write of {name}: {e}")))?;
                let now = self.now().timestamp();
                let mut tx = self.store.begin().await?;
                let rows = tx.media().rename_object(&m.sha256, &name).await?;
                tx.settings().put(PENDING, &m.sha256, now).await?;
                crate::audit(
                    &mut tx,
                    now,
                    &Actor::system(),
                    beian_core::model::AuditEntity::Media,
                    &name,
                    AuditAction::SealPlain,
                    serde_json::json!({ "rows": rows }),
                )
                .await?;
                tx.commit().await?;
                done.insert(name);
                self.delete_plain(&m.sha256).await?;
                let mut tx = self.store.begin().await?;
                tx.settings().delete(PENDING).await?;
                tx.commit().await?;
                converted += 1;
                progress(converted, seen);
            }
        }
        Ok(converted)
    }
}

impl Service {
    /// The plaintext of a stored object: sealed objects are opened (and checked against their
    /// name); a plain object from before media were encrypted is served as it is until
    /// `beian migrate` converts it (`beian check` reports it meanwhile).
    pub(crate) fn open_media(&self, name: &str, stored: Vec<u8>) -> Result<Vec<u8>> {
        if !beian_store::Crypto::is_sealed_media(&stored) {
            return Ok(stored);
        }
        self.store
            .crypto()
            .open_media(name, &stored)
            .map_err(|e| ServiceError::Internal(format!("media {name} does not open: {e}")))
    }

    async fn delete_plain(&self, name: &str) -> Result<()> {
        self.media
            .delete(name)
            .await
            .map_err(|e| ServiceError::Internal(format!("deleting the plain media object {name}: {e}")))
    }
}
