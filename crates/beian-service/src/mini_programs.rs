//! Mini programs as the platform registers and changes them: register, read, update. Each
//! use case has a form that writes inside a caller's transaction (`*_in`), so the host
//! platform's events (`host`) record their dedupe row in the same transaction as the change.

use crate::aggregates::MiniPrograms;
use crate::{audit, Actor, Result, ServiceError};
use beian_core::errcode;
use beian_core::ident::ResidentId;
use beian_core::model::AuditAction;
use beian_core::model::{MiniProgram, Person};
use beian_core::state::ReadinessFlags;
use beian_store::Tx;

/// Input to register a mini program on the platform.
#[derive(Debug, Clone)]
pub struct MiniProgramInput {
    pub appid: String,
    pub name: String,
    pub admin_name: String,
    pub admin_id_number: String,
    pub admin_mobile: String,
    pub flags: ReadinessFlags,
    pub listed: bool,
    /// Developer account that owns it (console), may be empty.
    pub owner: String,
}

fn valid_appid(appid: &str) -> bool {
    (3..=32).contains(&appid.len()) && appid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A mini program's name: not blank, within bounds; trimmed.
pub(crate) fn checked_name(name: &str) -> Result<String> {
    if name.trim().is_empty() {
        return Err(ServiceError::refused(errcode::INVALID_INPUT, "请填写小程序名称和管理员姓名"));
    }
    beian_core::bounds::text("小程序名称", name, beian_core::bounds::NAME_CHARS)?;
    Ok(name.trim().to_string())
}

/// An administrator as entered: a name, a valid resident ID number and a mainland mobile.
pub(crate) fn checked_admin(name: &str, id_number: &str, mobile: &str) -> Result<Person> {
    if name.trim().is_empty() {
        return Err(ServiceError::refused(errcode::INVALID_INPUT, "请填写小程序名称和管理员姓名"));
    }
    beian_core::bounds::text("管理员姓名", name, beian_core::bounds::NAME_CHARS)?;
    let id = ResidentId::parse(id_number.trim())
        .map_err(|e| ServiceError::refused(errcode::INVALID_INPUT, format!("管理员身份证号码：{e}")))?;
    if !beian_core::ident::is_mobile(mobile.trim()) {
        return Err(ServiceError::refused(errcode::INVALID_INPUT, "管理员手机号码应为11位中国大陆手机号码"));
    }
    Ok(Person {
        name: name.trim().to_string(),
        id_number: id.as_str().to_string(),
        mobile: mobile.trim().to_string(),
    })
}

/// Register inside `tx`: checks the input, refuses a known appid, writes and audits.
pub(crate) async fn register_in(
    tx: &mut Tx,
    actor: &Actor,
    input: MiniProgramInput,
    now: i64,
) -> Result<MiniProgram> {
    if !valid_appid(&input.appid) {
        return Err(ServiceError::refused(
            errcode::INVALID_INPUT,
            "appid 只能包含字母、数字和下划线，长度3至32位",
        ));
    }
    if input.name.trim().is_empty() || input.admin_name.trim().is_empty() {
        return Err(ServiceError::refused(errcode::INVALID_INPUT, "请填写小程序名称和管理员姓名"));
    }
    let name = checked_name(&input.name)?;
    let admin = checked_admin(&input.admin_name, &input.admin_id_number, &input.admin_mobile)?;
    let mp = MiniProgram {
        appid: input.appid.clone(),
        name,
        admin,
        flags: input.flags,
        listed: input.listed,
        cleared: false,
        created_at: now,
    };
    if tx.mini_programs().get(&mp.appid).await?.is_some() {
        return Err(ServiceError::refused(errcode::INVALID_INPUT, format!("小程序 {} 已存在", mp.appid)));
    }
    tx.mini_programs().insert(&mp, &input.owner).await?;
    audit(
        tx,
        now,
        actor,
        beian_core::model::AuditEntity::MiniProgram,
        &mp.appid,
        AuditAction::Register,
        serde_json::json!({ "name": mp.name }),
    )
    .await?;
    Ok(mp)
}

/// Change a mini program inside `tx` (`f` edits it), then write and audit.
pub(crate) async fn update_in(
    tx: &mut Tx,
    actor: &Actor,
    appid: &str,
    f: impl FnOnce(&mut MiniProgram),
    now: i64,
) -> Result<MiniProgram> {
    let mut mp =
        tx.mini_programs().get(appid).await?.ok_or_else(|| ServiceError::code(errcode::UNKNOWN_APPID))?;
    f(&mut mp);
    tx.mini_programs().update(&mp, now).await?;
    audit(
        tx,
        now,
        actor,
        beian_core::model::AuditEntity::MiniProgram,
        appid,
        AuditAction::Update,
        serde_json::json!({ "name": mp.name, "flags": mp.flags, "listed": mp.listed, "cleared": mp.cleared }),
    )
    .await?;
    Ok(mp)
}

impl MiniPrograms<'_> {
    /// Register a mini program (platform side; the console, tests and the host platform's
    /// events use this).
    pub async fn register_mini_program(&self, actor: &Actor, input: MiniProgramInput) -> Result<MiniProgram> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let mp = register_in(&mut tx, actor, input, now).await?;
        tx.commit().await?;
        Ok(mp)
    }

    pub async fn mini_program(&self, appid: &str) -> Result<MiniProgram> {
        let mut tx = self.store.read().await?;
        tx.mini_programs().get(appid).await?.ok_or_else(|| ServiceError::code(errcode::UNKNOWN_APPID))
    }

    /// Change a mini program's readiness flags and listing (platform side).
    pub async fn update_mini_program(
        &self,
        actor: &Actor,
        appid: &str,
        f: impl FnOnce(&mut MiniProgram),
    ) -> Result<MiniProgram> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let mp = update_in(&mut tx, actor, appid, f, now).await?;
        tx.commit().await?;
        Ok(mp)
    }
}
