//! Members of a mini program, managed by its admin (管理员): add an account by name (granted
//! at once), invite by e-mail (a link `/console/invitations/{token}`, the token stored hashed,
//! valid 7 days, single use, accepted by whichever account opens it), grant 查看 or 填写备案,
//! change it, remove. Only the admin may; every change is audited. The admin role itself
//! comes from the host platform and is never granted or removed here.

use crate::aggregates::Memberships;
use crate::jobs::{new_job, JobSpec};
use crate::{audit, token_hash, Actor, Result, ServiceError};
use beian_core::errcode;
use beian_core::model::{AuditAction, AuditEntity};
use beian_core::platform::{Access, Account, MemberRole, Membership, Permission};
use beian_store::memberships::Invitation;

/// An invitation is valid this long.
pub const INVITATION_TTL_SECS: i64 = 7 * 24 * 3600;

/// One member as the admin's page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub account_id: String,
    pub username: String,
    pub display_name: String,
    pub role: MemberRole,
    pub perms: Vec<Permission>,
}

/// The admin's view: the members and the open invitations (permission, expiry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Members {
    pub members: Vec<Member>,
    pub invitations: Vec<(Permission, i64)>,
}

/// What a grant of `perm` gives: 填写备案 includes 查看.
fn perms_of(perm: Permission) -> Vec<Permission> {
    match perm {
        Permission::View => vec![Permission::View],
        Permission::File => vec![Permission::View, Permission::File],
    }
}

fn refused(msg: impl Into<String>) -> ServiceError {
    ServiceError::refused(errcode::INVALID_INPUT, msg)
}

/// A plausible e-mail address (one `@`, a dotted domain, no spaces, at most 254 characters).
fn checked_email(email: &str) -> Result<String> {
    let email = email.trim();
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@') && !domain.starts_with('.')
        });
    if ok {
        Ok(email.to_string())
    } else {
        Err(refused("请填写正确的邮箱地址"))
    }
}

impl Memberships<'_> {
    /// The members of `appid` and its open invitations; for its admin only.
    pub async fn members(&self, admin: &Account, appid: &str) -> Result<Members> {
        self.accounts().require(admin, appid, Access::Admin).await?;
        let now = self.now().timestamp();
        let mut tx = self.store.read().await?;
        let mut members = Vec::new();
        for m in tx.memberships().memberships_of_app(appid).await? {
            let Some(a) = tx.accounts().get(&m.account_id).await? else { continue };
            members.push(Member {
                account_id: a.id,
                username: a.username,
                display_name: a.display_name,
                role: m.role,
                perms: m.perms,
            });
        }
        let invitations = tx.memberships().open_invitations(appid, now).await?;
        Ok(Members { members, invitations })
    }

    /// Add the account named `username` as a member with `perm`, at once.
    pub async fn add_member(
        &self,
        admin: &Account,
        appid: &str,
        username: &str,
        perm: Permission,
    ) -> Result<()> {
        self.accounts().require(admin, appid, Access::Admin).await?;
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let Some(account) = tx.accounts().by_username(username.trim()).await? else {
            return Err(refused(format!("帐号「{}」不存在，请核对帐号名，或改用邮箱邀请", username.trim())));
        };
        let all = tx.memberships().memberships_of_app(appid).await?;
        if let Some(m) = all.iter().find(|m| m.account_id == account.id) {
            return Err(refused(if m.is_admin() {
                "该帐号是小程序管理员，已有全部权限"
            } else {
                "该帐号已是成员：请在成员列表中修改其权限"
            }));
        }
        let perms = perms_of(perm);
        let m = Membership {
            appid: appid.into(),
            account_id: account.id.clone(),
            role: MemberRole::Member,
            perms,
        };
        tx.memberships().put_membership(&m).await?;
        let actor = Actor::new("developer", &admin.id);
        let entity_id = format!("{appid}/{}", account.id);
        let detail = serde_json::json!({ "role": MemberRole::Member, "perms": m.perms });
        audit(&mut tx, now, &actor, AuditEntity::Membership, &entity_id, AuditAction::Grant, detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Invite whoever reads `email` to be a member with `perm`: an e-mail job with the link.
    /// Refused when this node cannot send e-mail (the invitation could never arrive).
    pub async fn invite_by_email(
        &self,
        admin: &Account,
        appid: &str,
        email: &str,
        perm: Permission,
    ) -> Result<()> {
        self.accounts().require(admin, appid, Access::Admin).await?;
        let email = checked_email(email)?;
        if !self.email_channel() {
            return Err(refused("平台未配置邮件发送，暂不能邮件邀请：请按帐号名添加成员"));
        }
        let now = self.now().timestamp();
        let token = crate::random_id(32);
        let mut tx = self.store.begin().await?;
        let name = tx.mini_programs().get(appid).await?.map(|m| m.name).unwrap_or_default();
        let inv = Invitation {
            token_hash: token_hash(&token),
            appid: appid.into(),
            perm,
            invited_by: admin.id.clone(),
            created_at: now,
            expires_at: now + INVITATION_TTL_SECS,
            accepted_by: None,
        };
        tx.memberships().insert_invitation(&inv).await?;
        let what = match perm {
            Permission::View => "查看",
            Permission::File => "填写备案",
        };
        let link = format!("{}/console/invitations/{token}", self.public_url());
        let mail = JobSpec::Email {
            to: email,
            subject: format!("邀请你成为小程序「{name}」的备案成员"),
            body: format!(
                "{}邀请你成为小程序「{name}」（{appid}）的成员，权限：{what}。\n\n\
                 登录备案控制台后打开下面的链接即可加入（7天内有效，只能使用一次）：\n{link}\n\n\
                 如果你不认识邀请人，请忽略本邮件。",
                admin.display_name
            ),
        };
        let job = new_job(&mail, None, now, now)?;
        tx.jobs()
            .enqueue(&job.kind, &job.payload, job.dedupe_key.as_deref(), job.run_at, job.max_attempts, now)
            .await?;
        let actor = Actor::new("developer", &admin.id);
        // The address is personal data: the audit trail keeps the permission only.
        let detail = serde_json::json!({ "perm": perm });
        audit(&mut tx, now, &actor, AuditEntity::Membership, appid, AuditAction::Invite, detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The invitation behind `token` if it can still be accepted: (appid, permission).
    pub async fn invitation(&self, token: &str) -> Result<(String, Permission)> {
        let now = self.now().timestamp();
        let mut tx = self.store.read().await?;
        let inv = tx.memberships().invitation(&token_hash(token)).await?;
        let inv = usable(inv, now)?;
        Ok((inv.appid, inv.perm))
    }

    /// Accept the invitation behind `token` as `account`: it becomes a member of the mini
    /// program with the invited permission (an admin or a member with more keeps what it has).
    /// Answers the appid.
    pub async fn accept_invitation(&self, account: &Account, token: &str) -> Result<String> {
        let now = self.now().timestamp();
        let hash = token_hash(token);
        let mut tx = self.store.begin().await?;
        let inv = usable(tx.memberships().invitation(&hash).await?, now)?;
        if !tx.memberships().accept_invitation(&hash, &account.id, now).await? {
            return Err(refused("邀请链接已被使用"));
        }
        let current = tx.memberships().memberships_of_account(&account.id).await?;
        let had = current.into_iter().find(|m| m.appid == inv.appid);
        if !had.as_ref().is_some_and(|m| m.is_admin()) {
            let mut perms = had.map(|m| m.perms).unwrap_or_default();
            for p in perms_of(inv.perm) {
                if !perms.contains(&p) {
                    perms.push(p);
                }
            }
            let m = Membership {
                appid: inv.appid.clone(),
                account_id: account.id.clone(),
                role: MemberRole::Member,
                perms,
            };
            tx.memberships().put_membership(&m).await?;
        }
        let actor = Actor::new("developer", &account.id);
        let entity_id = format!("{}/{}", inv.appid, account.id);
        let detail = serde_json::json!({ "perm": inv.perm, "invited_by": inv.invited_by });
        audit(&mut tx, now, &actor, AuditEntity::Membership, &entity_id, AuditAction::Accept, detail).await?;
        tx.commit().await?;
        Ok(inv.appid)
    }

    /// Change a member's permission to `perm`.
    pub async fn set_member_permission(
        &self,
        admin: &Account,
        appid: &str,
        account_id: &str,
        perm: Permission,
    ) -> Result<()> {
        self.accounts().require(admin, appid, Access::Admin).await?;
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        member_of(&mut tx, appid, account_id).await?;
        let m = Membership {
            appid: appid.into(),
            account_id: account_id.into(),
            role: MemberRole::Member,
            perms: perms_of(perm),
        };
        tx.memberships().put_membership(&m).await?;
        let actor = Actor::new("developer", &admin.id);
        let detail = serde_json::json!({ "role": MemberRole::Member, "perms": m.perms });
        let entity_id = format!("{appid}/{account_id}");
        audit(&mut tx, now, &actor, AuditEntity::Membership, &entity_id, AuditAction::Grant, detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Remove a member (never the admin).
    pub async fn remove_member(&self, admin: &Account, appid: &str, account_id: &str) -> Result<()> {
        self.accounts().require(admin, appid, Access::Admin).await?;
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        member_of(&mut tx, appid, account_id).await?;
        tx.memberships().delete_membership(appid, account_id).await?;
        let actor = Actor::new("developer", &admin.id);
        let entity_id = format!("{appid}/{account_id}");
        audit(
            &mut tx,
            now,
            &actor,
            AuditEntity::Membership,
            &entity_id,
            AuditAction::Revoke,
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The membership of `account_id` in `appid`, which must be a member's (not the admin's).
async fn member_of(tx: &mut beian_store::Tx, appid: &str, account_id: &str) -> Result<Membership> {
    let all = tx.memberships().memberships_of_app(appid).await?;
    match all.into_iter().find(|m| m.account_id == account_id) {
        None => Err(refused("该帐号不是此小程序的成员")),
        Some(m) if m.is_admin() => Err(refused("管理员的权限由平台的管理员设置决定，不能在此修改或移除")),
        Some(m) => Ok(m),
    }
}

/// An invitation that can be accepted now, or why not.
fn usable(inv: Option<Invitation>, now: i64) -> Result<Invitation> {
    match inv {
        None => Err(refused("邀请链接无效：请向管理员索取新的邀请")),
        Some(i) if i.accepted_by.is_some() => Err(refused("邀请链接已被使用")),
        Some(i) if i.expires_at <= now => Err(refused("邀请链接已过期（有效期7天）：请向管理员索取新的邀请")),
        Some(i) => Ok(i),
    }
}
