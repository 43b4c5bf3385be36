//! Staff browser sessions (the staff pages at `/admin`). Signing in with the API token opens
//! a session of its own: the cookie holds a random session token, stored only as its SHA-256,
//! so a stolen cookie is not an API token and ends with the session. The API token itself
//! keeps authenticating the staff JSON API ([`Service::staff_for_token`]).
//!
//! A session ends 12 h after sign-in ([`STAFF_SESSION_TTL_SECS`]), after
//! [`STAFF_SESSION_IDLE_SECS`] without a request, at sign-out (its row is deleted), and as soon
//! as its staff member is no longer active. Its CSRF token is a keyed MAC of the session token
//! ([`beian_store::Crypto::secret_mac`]): nothing to store, unguessable without the master key.

use crate::aggregates::Review;
use crate::{audit, token_hash, Actor, Result, Service};
use beian_core::model::AuditAction;
use beian_core::platform::Staff;

/// Absolute lifetime of a staff session, from sign-in.
pub const STAFF_SESSION_TTL_SECS: i64 = 12 * 3600;
/// A session unused for this long ends: an unlocked screen left behind stops being a way in
/// after half an hour, while reading one application never takes that long.
pub const STAFF_SESSION_IDLE_SECS: i64 = 30 * 60;
/// `last_seen_at` is written at most once a minute per session, not on every page (SQLite has
/// one writer); the idle limit is therefore exact to a minute.
const TOUCH_EVERY_SECS: i64 = 60;

/// A signed-in staff member and the CSRF token their forms carry.
#[derive(Debug, Clone)]
pub struct StaffSession {
    pub staff: Staff,
    pub csrf: String,
}

/// Whether a form's `_csrf` is the session's `expected` one (compared in constant time).
pub fn csrf_matches(expected: &str, given: &str) -> bool {
    !expected.is_empty() && beian_store::crypto::constant_time_eq(given.as_bytes(), expected.as_bytes())
}

impl Review<'_> {
    /// Sign in to the staff pages with an API token: a new session token (returned once) or
    /// the API token's refusal. Sessions that have ended are forgotten here.
    pub async fn staff_sign_in(&self, api_token: &str) -> Result<(String, StaffSession)> {
        let staff = self.staff_for_token(api_token).await?;
        let now = self.now().timestamp();
        let token = crate::random_id(32);
        let mut tx = self.store.begin().await?;
        tx.staff().delete_ended_sessions(now, now - STAFF_SESSION_IDLE_SECS).await?;
        tx.staff().insert_session(&token_hash(&token), &staff.id, now, now + STAFF_SESSION_TTL_SECS).await?;
        audit(
            &mut tx,
            now,
            &staff_actor(&staff),
            beian_core::model::AuditEntity::Staff,
            &staff.id,
            AuditAction::SignIn,
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        let csrf = csrf_token(self, &token);
        Ok((token, StaffSession { staff, csrf }))
    }

    /// The live session behind a session token, if any (ended, unknown and inactive staff:
    /// `None`). Records the use for the idle limit.
    pub async fn staff_session(&self, token: &str) -> Result<Option<StaffSession>> {
        let now = self.now().timestamp();
        let hash = token_hash(token);
        let mut tx = self.store.read().await?;
        let Some((staff, last_seen, expires)) = tx.staff().session(&hash).await? else { return Ok(None) };
        drop(tx);
        if !staff.active || expires <= now || last_seen + STAFF_SESSION_IDLE_SECS <= now {
            return Ok(None);
        }
        if now - last_seen >= TOUCH_EVERY_SECS {
            let mut tx = self.store.begin().await?;
            tx.staff().touch_session(&hash, now).await?;
            tx.commit().await?;
        }
        let csrf = csrf_token(self, token);
        Ok(Some(StaffSession { staff, csrf }))
    }

    /// Sign out: the session is deleted, so its cookie no longer works anywhere.
    pub async fn staff_sign_out(&self, token: &str, session: &StaffSession) -> Result<()> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        tx.staff().delete_session(&token_hash(token)).await?;
        let staff = &session.staff;
        audit(
            &mut tx,
            now,
            &staff_actor(staff),
            beian_core::model::AuditEntity::Staff,
            &staff.id,
            AuditAction::SignOut,
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The CSRF token of a session: a keyed MAC of the session token under the master key's
/// secret sub-key, bound to this use — unguessable without both, and nothing to store.
fn csrf_token(svc: &Service, session_token: &str) -> String {
    svc.store.crypto().secret_mac(&["staff-csrf", session_token])
}

/// Audit actor of a staff member (`reviewer:ID` / `operator:ID`).
fn staff_actor(staff: &Staff) -> Actor {
    Actor::new(staff.role.as_str(), &staff.id)
}
