//! The transaction every query runs in, and the way to each aggregate's rows.
//!
//! [`Tx`] itself only begins, commits and marks savepoints; the queries live on row-access
//! types reached from it, one per aggregate (`tx.orders().get(appid)`,
//! `tx.subjects().update(..)`, `tx.jobs().enqueue(..)`), each in its own module. Edges never
//! see this module: the service layer does.

use crate::{Backend, Crypto, Result, StoreError};
use sqlx::{Any, Transaction};

/// A database transaction; its queries are on the row-access types of each aggregate
/// ([`Tx::orders`], [`Tx::subjects`], …). Dropping it without [`Tx::commit`] rolls back.
pub struct Tx {
    pub(crate) conn: Transaction<'static, Any>,
    pub(crate) crypto: Crypto,
    pub(crate) backend: Backend,
    /// Write transactions: whom to tell, after commit, which mini programs' rows changed (the
    /// entrance cache).
    pub(crate) entrance: Option<(std::sync::Arc<dyn RowsChanged>, Vec<String>)>,
}

/// Told after a commit which mini programs' (or their orders') rows it changed.
pub(crate) trait RowsChanged: Send + Sync {
    fn invalidate(&self, appids: &[String]);
}

pub(crate) fn b(v: bool) -> i64 {
    i64::from(v)
}

pub(crate) fn u(v: i64, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} out of range: {v}")))
}

/// `$from, $from+1, …` for `n` values.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

impl Tx {
    pub(crate) fn new(conn: Transaction<'static, Any>, crypto: Crypto, backend: Backend) -> Tx {
        Tx { conn, crypto, backend, entrance: None }
    }

    pub(crate) fn invalidating(mut self, cache: std::sync::Arc<dyn RowsChanged>) -> Tx {
        self.entrance = Some((cache, Vec::new()));
        self
    }

    /// This transaction changes the mini program's or its order's row.
    pub(crate) fn touch(&mut self, appid: &str) {
        if let Some((_, touched)) = &mut self.entrance {
            touched.push(appid.to_string());
        }
    }

    pub async fn commit(self) -> Result<()> {
        self.conn.commit().await?;
        if let Some((cache, touched)) = self.entrance {
            cache.invalidate(&touched);
        }
        Ok(())
    }

    /// Mark a point to roll back to without ending the transaction (one at a time).
    pub async fn savepoint(&mut self) -> Result<()> {
        sqlx::query("SAVEPOINT beian_sp").execute(&mut *self.conn).await?;
        Ok(())
    }

    /// Keep what was done since [`Tx::savepoint`].
    pub async fn release_savepoint(&mut self) -> Result<()> {
        sqlx::query("RELEASE SAVEPOINT beian_sp").execute(&mut *self.conn).await?;
        Ok(())
    }

    /// Undo what was done since [`Tx::savepoint`], and forget the savepoint.
    pub async fn rollback_to_savepoint(&mut self) -> Result<()> {
        sqlx::query("ROLLBACK TO SAVEPOINT beian_sp").execute(&mut *self.conn).await?;
        sqlx::query("RELEASE SAVEPOINT beian_sp").execute(&mut *self.conn).await?;
        Ok(())
    }

    pub fn blind_index(&self, value: &str) -> String {
        self.crypto.blind_index(value)
    }
}
