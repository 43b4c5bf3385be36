//! The transaction every query runs in, and the way to each aggregate's rows.
//!
//! [`Tx`] itself only begins, commits and marks savepoints; the queries live on row-access
//! types reached from it, one per aggregate (`tx.orders().get(appid)`,
//! `tx.subjects().update(..)`, `tx.jobs().enqueue(..)`), each in its own module. Edges never
//! see this module: the service layer does.

use crate::{Backend, Crypto, Result, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Transaction};

/// A database transaction; its queries are on the row-access types of each aggregate
/// ([`Tx::orders`], [`Tx::subjects`], …). Dropping it without [`Tx::commit`] rolls back.
/// A [`crate::Store::reads`] handle is the same type without a transaction around it.
pub struct Tx {
    pub(crate) conn: Conn,
    pub(crate) crypto: Crypto,
    pub(crate) backend: Backend,
    /// Write transactions: whom to tell, after commit, which mini programs' rows changed (the
    /// entrance cache).
    pub(crate) entrance: Option<(std::sync::Arc<dyn RowsChanged>, Vec<String>)>,
    /// [`crate::Store::reads`] on a SQLite file: where the public index's lookups run
    /// (`direct.rs`).
    pub(crate) direct: Option<std::sync::Arc<crate::direct::DirectReads>>,
}

/// Told after a commit which mini programs' (or their orders') rows it changed.
/// What a [`Tx`] runs its statements on: a transaction, or (reads that need no common
/// snapshot) a pooled connection on which each statement sees the latest commit.
pub(crate) enum Conn {
    Tx(Transaction<'static, Any>),
    Plain(PoolConnection<Any>),
}

impl std::ops::Deref for Conn {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match self {
            Conn::Tx(t) => t,
            Conn::Plain(c) => c,
        }
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Conn::Tx(t) => &mut *t,
            Conn::Plain(c) => &mut *c,
        }
    }
}

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
    pub(crate) fn new(conn: Conn, crypto: Crypto, backend: Backend) -> Tx {
        Tx { conn, crypto, backend, entrance: None, direct: None }
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

    /// Commit (a [`crate::Store::reads`] handle has nothing to commit).
    pub async fn commit(self) -> Result<()> {
        if let Conn::Tx(t) = self.conn {
            t.commit().await?;
        }
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
