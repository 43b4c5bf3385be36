//! Third-party platforms (服务商), their authorizations by mini programs, and tokens; the
//! token check's one-statement read on the read pool ([`Store::token_with_authorization`]).

use crate::tx::b;
use crate::{Result, Store, StoreError, Tx};
use beian_core::platform::{
    scopes_from_string, scopes_to_string, Authorization, EventFilter, Provider, TokenKind, TokenRecord,
};
use sqlx::any::AnyRow;
use sqlx::Row;

/// Third-party platforms (服务商) and their authorizations by mini programs.
pub struct Providers<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// Third-party platforms (服务商) and their authorizations by mini programs.
    pub fn providers(&mut self) -> Providers<'_> {
        Providers { tx: self }
    }
}

impl Providers<'_> {
    pub async fn insert(&mut self, p: &Provider) -> Result<()> {
        sqlx::query(
            "INSERT INTO providers (component_appid, name, secret_hash, msg_token_enc, aes_key_enc, event_url, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&p.component_appid)
        .bind(&p.name)
        .bind(&p.secret_hash)
        .bind(self.tx.crypto.encrypt_str(&p.msg_token))
        .bind(self.tx.crypto.encrypt_str(&p.encoding_aes_key))
        .bind(&p.event_url)
        .bind(p.created_at)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    /// Update name, secret hash, keys and event URL.
    pub async fn update(&mut self, p: &Provider, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE providers SET name = $2, secret_hash = $3, msg_token_enc = $4, aes_key_enc = $5, event_url = $6, \
             updated_at = $7 WHERE component_appid = $1",
        )
        .bind(&p.component_appid)
        .bind(&p.name)
        .bind(&p.secret_hash)
        .bind(self.tx.crypto.encrypt_str(&p.msg_token))
        .bind(self.tx.crypto.encrypt_str(&p.encoding_aes_key))
        .bind(&p.event_url)
        .bind(now)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    pub async fn get(&mut self, component_appid: &str) -> Result<Option<Provider>> {
        let row = sqlx::query("SELECT * FROM providers WHERE component_appid = $1")
            .bind(component_appid)
            .fetch_optional(&mut *self.tx.conn)
            .await?;
        row.map(|r| self.provider_from_row(&r)).transpose()
    }

    /// The events a provider's event URL receives.
    pub async fn events(&mut self, component_appid: &str) -> Result<EventFilter> {
        let c: Option<Option<String>> =
            sqlx::query_scalar("SELECT events FROM providers WHERE component_appid = $1")
                .bind(component_appid)
                .fetch_optional(&mut *self.tx.conn)
                .await?;
        Ok(EventFilter::from_column(c.flatten()))
    }

    /// Set a provider's event URL and the events it receives (the provider's own setting).
    pub async fn set_event_config(
        &mut self,
        component_appid: &str,
        event_url: &str,
        events: &EventFilter,
        now: i64,
    ) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE providers SET event_url = $2, events = $3, updated_at = $4 WHERE component_appid = $1",
        )
        .bind(component_appid)
        .bind(event_url)
        .bind(events.to_column())
        .bind(now)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    pub async fn list(&mut self) -> Result<Vec<Provider>> {
        let rows = sqlx::query("SELECT * FROM providers ORDER BY component_appid")
            .fetch_all(&mut *self.tx.conn)
            .await?;
        rows.iter().map(|r| self.provider_from_row(r)).collect()
    }

    fn provider_from_row(&self, r: &AnyRow) -> Result<Provider> {
        Ok(Provider {
            component_appid: r.try_get("component_appid")?,
            name: r.try_get("name")?,
            secret_hash: r.try_get("secret_hash")?,
            msg_token: self.tx.crypto.decrypt_str(&r.try_get::<Vec<u8>, _>("msg_token_enc")?)?,
            encoding_aes_key: self.tx.crypto.decrypt_str(&r.try_get::<Vec<u8>, _>("aes_key_enc")?)?,
            event_url: r.try_get("event_url")?,
            created_at: r.try_get("created_at")?,
        })
    }

    pub async fn put_authorization(&mut self, a: &Authorization) -> Result<()> {
        sqlx::query(
            "INSERT INTO authorizations (component_appid, appid, scopes, active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (component_appid, appid) DO UPDATE SET \
             scopes = excluded.scopes, active = excluded.active, updated_at = excluded.updated_at",
        )
        .bind(&a.component_appid)
        .bind(&a.appid)
        .bind(scopes_to_string(&a.scopes))
        .bind(b(a.active))
        .bind(a.created_at)
        .bind(a.updated_at)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    pub async fn authorization(
        &mut self,
        component_appid: &str,
        appid: &str,
    ) -> Result<Option<Authorization>> {
        let row = sqlx::query("SELECT * FROM authorizations WHERE component_appid = $1 AND appid = $2")
            .bind(component_appid)
            .bind(appid)
            .fetch_optional(&mut *self.tx.conn)
            .await?;
        row.map(|r| authorization_from_row(&r)).transpose()
    }

    /// Active authorizations of a mini program (which providers act for it).
    pub async fn authorizations_of(&mut self, appid: &str) -> Result<Vec<Authorization>> {
        let rows = sqlx::query(
            "SELECT * FROM authorizations WHERE appid = $1 AND active = 1 ORDER BY component_appid",
        )
        .bind(appid)
        .fetch_all(&mut *self.tx.conn)
        .await?;
        rows.iter().map(authorization_from_row).collect()
    }
}

/// Component and authorizer tokens, stored by hash.
pub struct Tokens<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// Component and authorizer tokens, stored by hash.
    pub fn tokens(&mut self) -> Tokens<'_> {
        Tokens { tx: self }
    }
}

impl Tokens<'_> {
    pub async fn insert(&mut self, hash: &str, t: &TokenRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO tokens (token_hash, kind, component_appid, appid, scopes, created_at, expires_at, superseded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(hash)
        .bind(t.kind.as_str())
        .bind(&t.component_appid)
        .bind(&t.appid)
        .bind(scopes_to_string(&t.scopes))
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(t.superseded_at)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    pub async fn get(&mut self, hash: &str) -> Result<Option<TokenRecord>> {
        let row = sqlx::query("SELECT * FROM tokens WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(&mut *self.tx.conn)
            .await?;
        row.map(|r| token_from_row(&r)).transpose()
    }

    /// Mark every live token of this kind and owner as superseded at `now`.
    pub async fn supersede(
        &mut self,
        kind: TokenKind,
        component_appid: &str,
        appid: &str,
        now: i64,
    ) -> Result<u64> {
        let res = sqlx::query(
            "UPDATE tokens SET superseded_at = $4 WHERE kind = $1 AND component_appid = $2 AND appid = $3 \
             AND superseded_at IS NULL",
        )
        .bind(kind.as_str())
        .bind(component_appid)
        .bind(appid)
        .bind(now)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(res.rows_affected())
    }

    /// End every token of this kind and owner, including those already superseded and still
    /// in their grace: afterwards none was superseded later than `ended_at` (revocation and
    /// re-authorization pass a moment whose grace is already over).
    pub async fn end(
        &mut self,
        kind: TokenKind,
        component_appid: &str,
        appid: &str,
        ended_at: i64,
    ) -> Result<u64> {
        let res = sqlx::query(
            "UPDATE tokens SET superseded_at = $4 WHERE kind = $1 AND component_appid = $2 AND appid = $3 \
             AND (superseded_at IS NULL OR superseded_at > $4)",
        )
        .bind(kind.as_str())
        .bind(component_appid)
        .bind(appid)
        .bind(ended_at)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(res.rows_affected())
    }

    /// Use a one-time token: expire it now. False if it was already used.
    pub async fn consume(&mut self, hash: &str, now: i64) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE tokens SET superseded_at = $2 WHERE token_hash = $1 AND superseded_at IS NULL",
        )
        .bind(hash)
        .bind(now)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Forget tokens that expired before `before` (housekeeping).
    pub async fn purge(&mut self, before: i64) -> Result<u64> {
        let res = sqlx::query("DELETE FROM tokens WHERE expires_at < $1")
            .bind(before)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(res.rows_affected())
    }
}

pub(crate) fn token_from_row(r: &AnyRow) -> Result<TokenRecord> {
    let kind: String = r.try_get("kind")?;
    Ok(TokenRecord {
        kind: TokenKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("token kind {kind}")))?,
        component_appid: r.try_get("component_appid")?,
        appid: r.try_get("appid")?,
        scopes: scopes_from_string(&r.try_get::<String, _>("scopes")?),
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        superseded_at: r.try_get("superseded_at")?,
    })
}

fn authorization_from_row(r: &AnyRow) -> Result<Authorization> {
    Ok(Authorization {
        component_appid: r.try_get("component_appid")?,
        appid: r.try_get("appid")?,
        scopes: scopes_from_string(&r.try_get::<String, _>("scopes")?),
        active: r.try_get::<i64, _>("active")? != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// A token by its hash, with the authorization it acts under (provider and mini program
    /// of the token), if one exists.
    pub async fn token_with_authorization(
        &self,
        hash: &str,
    ) -> Result<Option<(TokenRecord, Option<Authorization>)>> {
        let row = sqlx::query(
            "SELECT t.*, a.scopes AS a_scopes, a.active AS a_active, a.created_at AS a_created_at, \
             a.updated_at AS a_updated_at \
             FROM tokens t LEFT JOIN authorizations a \
             ON a.component_appid = t.component_appid AND a.appid = t.appid \
             WHERE t.token_hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.read)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let token = token_from_row(&r)?;
        let authorization = match r.try_get::<Option<String>, _>("a_scopes")? {
            Some(scopes) => Some(Authorization {
                component_appid: token.component_appid.clone(),
                appid: token.appid.clone(),
                scopes: scopes_from_string(&scopes),
                active: r.try_get::<i64, _>("a_active")? != 0,
                created_at: r.try_get("a_created_at")?,
                updated_at: r.try_get("a_updated_at")?,
            }),
            None => None,
        };
        Ok(Some((token, authorization)))
    }
}
