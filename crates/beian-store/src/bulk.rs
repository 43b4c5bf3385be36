//! Bulk loading: many rows per statement, many statements per transaction. Used by the
//! benchmark (`beian-bench`) to put a million mini programs in place in about a minute, and
//! usable for data migrations.
//!
//! The rows are the same as the one-row queries of [`crate::Tx`] write, column for column:
//! ID numbers, phones and payloads are encrypted here with the store's [`Crypto`], blind
//! indexes are computed here, tokens arrive already hashed. Nothing checks the domain rules —
//! the caller hands over a consistent state (subjects' counters matching their orders,
//! numbers matching the counters).
//!
//! Also here: the benchmark's floors (a durable raw insert into a scratch table, a keyed scan
//! of every appid) and PostgreSQL schema management for throw-away benchmark schemas, so no
//! SQL lives outside this crate.

use crate::appends::{insert_audit, insert_versions, rows_per_statement, values_sql, VersionRow};
use crate::query::{search_form, signature, PublicFiling};
use crate::tx::b;
use crate::{Backend, Crypto, Result, Store, StoreError};
use beian_core::model::{AuditEvent, FaceTask, FilingOrder, MediaMeta, MiniProgram, Subject};
use beian_core::payload::ApplyPayload;
use beian_core::platform::{scopes_to_string, Authorization, TokenRecord};
use sqlx::any::AnyPoolOptions;
use std::time::Duration;

/// A filing order with the one submitted version it was filed with.
#[derive(Debug, Clone)]
pub struct SeedOrder {
    pub order: FilingOrder,
    /// Stored encrypted as version `order.versions`.
    pub payload: ApplyPayload,
    /// The version's `actor` column.
    pub actor: String,
}

/// Rows to load in one transaction. Empty lists are skipped.
#[derive(Debug, Clone, Default)]
pub struct SeedBatch {
    /// Creation time of rows whose model carries none (subjects).
    pub now: i64,
    /// Mini programs and their owner account (may be empty).
    pub mini_programs: Vec<(MiniProgram, String)>,
    /// Subjects, inserted at row version 0.
    pub subjects: Vec<Subject>,
    pub orders: Vec<SeedOrder>,
    pub media: Vec<MediaMeta>,
    /// Face tasks; a finished one gets `finished_at = created_at`.
    pub face_tasks: Vec<FaceTask>,
    pub authorizations: Vec<Authorization>,
    /// (SHA-256 hex of the token, record), as `Tokens::insert` takes them.
    pub tokens: Vec<(String, TokenRecord)>,
    pub audit: Vec<AuditEvent>,
    /// Rows of the public filing index and their bigrams.
    pub public: Vec<PublicFiling>,
    /// Leave the public rows' bigrams out: the caller collects them in a [`GramSink`] and
    /// loads them after the last batch with [`Store::bulk_insert_grams`].
    pub grams_later: bool,
    /// Named counters raised to at least this value (e.g. `subject_seq:粤:2026`).
    pub counters: Vec<(String, i64)>,
    /// The derived column values, if [`SeedBatch::seal`] computed them ahead; else
    /// [`Store::bulk_seed`] computes them itself.
    pub sealed: Option<Sealed>,
}

/// A batch's derived column values — ciphertexts, blind indexes, JSON texts, search forms —
/// in the order of the batch's lists. Computing them is most of the CPU time of a load; a
/// loader that seals each batch on another thread ([`SeedBatch::seal`]) keeps the database
/// connection busy while the next batch is sealed.
#[derive(Debug, Clone, Default)]
pub struct Sealed {
    /// (encrypted ID number, its blind index, encrypted mobile) per mini program.
    mini_programs: Vec<(Vec<u8>, String, Vec<u8>)>,
    /// (encrypted certificate number, its blind index) per subject.
    subjects: Vec<(Vec<u8>, String)>,
    /// (audit data JSON, encrypted payload JSON) per order.
    orders: Vec<(String, Vec<u8>)>,
    /// Detail JSON per audit event.
    audit: Vec<String>,
    /// (`search` column, bigrams — empty with `grams_later`, service form, subject form) per
    /// public row.
    public: Vec<(String, Vec<String>, String, String)>,
}

impl Sealed {
    /// Derive every value `batch` needs, with the store's keys.
    fn of(batch: &SeedBatch, crypto: &Crypto) -> Result<Sealed> {
        let mut orders = Vec::with_capacity(batch.orders.len());
        for so in &batch.orders {
            let audit = serde_json::to_string(&so.order.audit_data).unwrap_or_else(|_| "[]".into());
            orders.push((audit, crate::crypto::seal_payload(crypto, &so.payload)?));
        }
        Ok(Sealed {
            mini_programs: batch
                .mini_programs
                .iter()
                .map(|(mp, _)| {
                    let id = &mp.admin.id_number;
                    (crypto.encrypt_str(id), crypto.blind_index(id), crypto.encrypt_str(&mp.admin.mobile))
                })
                .collect(),
            subjects: batch
                .subjects
                .iter()
                .map(|s| {
                    (crypto.encrypt_str(&s.certificate_number), crypto.blind_index(&s.certificate_number))
                })
                .collect(),
            orders,
            audit: batch.audit.iter().map(|e| e.detail.to_string()).collect(),
            public: batch
                .public
                .iter()
                .map(|f| {
                    let (search, grams) = public_search(f);
                    let grams = if batch.grams_later { Vec::new() } else { grams };
                    (search, grams, search_form(&f.service_name), search_form(&f.subject_name))
                })
                .collect(),
        })
    }

    fn fits(&self, batch: &SeedBatch) -> bool {
        self.mini_programs.len() == batch.mini_programs.len()
            && self.subjects.len() == batch.subjects.len()
            && self.orders.len() == batch.orders.len()
            && self.audit.len() == batch.audit.len()
            && self.public.len() == batch.public.len()
    }
}

impl SeedBatch {
    /// Compute the batch's derived values now, with `crypto` — the keys of the store that will
    /// load it ([`Store::crypto`]); a batch sealed with other keys would be stored unreadable.
    /// Change the batch's lists afterwards and [`Store::bulk_seed`] refuses it.
    pub fn seal(&mut self, crypto: &Crypto) -> Result<()> {
        self.sealed = Some(Sealed::of(self, crypto)?);
        Ok(())
    }
}

/// The tables [`Store::bulk_seed`] writes.
const SEEDED_TABLES: [&str; 11] = [
    "mini_programs",
    "subjects",
    "filing_orders",
    "filing_versions",
    "media",
    "face_tasks",
    "authorizations",
    "tokens",
    "audit_events",
    "public_filings",
    "public_filing_grams",
];

/// Index definitions (name, `CREATE INDEX …`) set aside during a bulk load.
#[derive(Debug, Clone, Default)]
pub struct DeferredIndexes(pub Vec<(String, String)>);

/// The `search` column and bigrams of a public row, exactly as `PublicIndex::put` derives
/// them (one normalised name per line; a bigram never spans two names).
fn public_search(f: &PublicFiling) -> (String, Vec<String>) {
    let search = crate::query::search_text(&f.service_name, &f.subject_name);
    let grams = crate::query::grams_of_search(&search);
    (search, grams)
}

/// Bigrams of public rows collected over many batches, to be inserted once, in key order,
/// after the load: appends to the index instead of inserts all over it (each batch's bigrams
/// spread over the whole key space). Compact: a bigram and an appid are numbers here.
#[derive(Debug, Default)]
pub struct GramSink {
    grams: std::collections::HashMap<String, u32>,
    appids: Vec<String>,
    /// Each appid's [`signature`], by the appid's number.
    sigs: Vec<i64>,
    pairs: Vec<(u32, u32)>,
}

impl GramSink {
    /// Collect the bigrams of one public row (as `PublicIndex::put` derives them).
    pub fn add(&mut self, f: &PublicFiling) {
        let a = u32::try_from(self.appids.len()).unwrap_or(u32::MAX);
        self.appids.push(f.appid.clone());
        let grams = public_search(f).1;
        self.sigs.push(signature(&grams));
        for g in grams {
            let next = u32::try_from(self.grams.len()).unwrap_or(u32::MAX);
            let id = *self.grams.entry(g).or_insert(next);
            self.pairs.push((id, a));
        }
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

impl Store {
    /// Insert the collected bigrams in key order, `per_tx` rows per transaction. Returns the
    /// rows written.
    pub async fn bulk_insert_grams(&self, sink: GramSink, per_tx: usize) -> Result<u64> {
        let GramSink { grams, appids, sigs, mut pairs } = sink;
        // Rank bigrams and appids by their text so that sorting the numbers sorts the keys.
        let mut by_text: Vec<(String, u32)> = grams.into_iter().collect();
        by_text.sort_unstable();
        let mut gram_rank = vec![0u32; by_text.len()];
        for (rank, (_, id)) in by_text.iter().enumerate() {
            gram_rank[*id as usize] = u32::try_from(rank).unwrap_or(u32::MAX);
        }
        let mut appid_order: Vec<u32> = (0..u32::try_from(appids.len()).unwrap_or(u32::MAX)).collect();
        appid_order.sort_unstable_by(|x, y| appids[*x as usize].cmp(&appids[*y as usize]));
        let mut appid_rank = vec![0u32; appids.len()];
        for (rank, a) in appid_order.iter().enumerate() {
            appid_rank[*a as usize] = u32::try_from(rank).unwrap_or(u32::MAX);
        }
        for p in &mut pairs {
            *p = (gram_rank[p.0 as usize], appid_rank[p.1 as usize]);
        }
        pairs.sort_unstable();
        pairs.dedup();
        let per = rows_per_statement(3);
        let mut rows = 0u64;
        for part in pairs.chunks(per_tx.max(per)) {
            let mut tx = self.write.begin().await?;
            for chunk in part.chunks(per) {
                let sql = format!(
                    "INSERT INTO public_filing_grams (gram, appid, sig) VALUES {}",
                    values_sql(self.backend, 3, chunk.len())
                );
                let mut q = sqlx::query(&sql);
                for (g, a) in chunk {
                    let appid = appid_order[*a as usize] as usize;
                    q = q
                        .bind(by_text[*g as usize].0.as_str())
                        .bind(appids[appid].as_str())
                        .bind(sigs.get(appid).copied().unwrap_or(0));
                }
                rows += q.execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
        }
        Ok(rows)
    }

    /// Load one batch in one transaction with multi-row INSERTs (identical statements are
    /// prepared once per connection by sqlx's statement cache). Returns the rows written.
    pub async fn bulk_seed(&self, batch: &SeedBatch) -> Result<u64> {
        if self.backend == Backend::Sqlite {
            // A large page cache for the writer: index pages of a million rows stay in memory
            // while they are filled (this store's own connection only; durability unchanged).
            sqlx::query("PRAGMA cache_size = -262144").execute(&self.write).await?;
        }
        let computed;
        let sealed = match &batch.sealed {
            Some(s) if s.fits(batch) => s,
            Some(_) => {
                return Err(StoreError::Corrupt("a seed batch changed after it was sealed".into()));
            }
            None => {
                computed = Sealed::of(batch, &self.crypto)?;
                &computed
            }
        };
        let mut tx = self.write.begin().await?;
        let mut rows = 0u64;
        let backend = self.backend;

        let per = rows_per_statement(14);
        for (chunk, derived) in batch.mini_programs.chunks(per).zip(sealed.mini_programs.chunks(per)) {
            let sql = format!(
                "INSERT INTO mini_programs (appid, name, admin_name, admin_id_enc, admin_id_bidx, admin_mobile_enc, \
                 basic_info_filled, category_filled, certified, listed, cleared, owner, created_at, updated_at) VALUES {}",
                values_sql(backend, 14, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for ((mp, owner), (id_enc, id_bidx, mobile_enc)) in chunk.iter().zip(derived) {
                q = q
                    .bind(&mp.appid)
                    .bind(&mp.name)
                    .bind(&mp.admin.name)
                    .bind(id_enc)
                    .bind(id_bidx)
                    .bind(mobile_enc)
                    .bind(b(mp.flags.basic_info_filled))
                    .bind(b(mp.flags.category_filled))
                    .bind(b(mp.flags.certified))
                    .bind(b(mp.listed))
                    .bind(b(mp.cleared))
                    .bind(owner)
                    .bind(mp.created_at)
                    .bind(mp.created_at);
            }
            rows += q.execute(&mut *tx).await?.rows_affected();
        }

        let per = rows_per_statement(15);
        for (chunk, derived) in batch.subjects.chunks(per).zip(sealed.subjects.chunks(per)) {
            let sql = format!(
                "INSERT INTO subjects (id, subject_type, certificate_type, cert_enc, cert_bidx, name, province, \
                 filed_count, ever_filed, in_progress, record_number, service_seq, row_version, created_at, updated_at) \
                 VALUES {}",
                values_sql(backend, 15, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for (s, (cert_enc, cert_bidx)) in chunk.iter().zip(derived) {
                q = q
                    .bind(&s.id)
                    .bind(i64::from(s.subject_type))
                    .bind(i64::from(s.certificate_type))
                    .bind(cert_enc)
                    .bind(cert_bidx)
                    .bind(&s.name)
                    .bind(&s.province)
                    .bind(i64::from(s.filed_count))
                    .bind(b(s.ever_filed))
                    .bind(i64::from(s.in_progress))
                    .bind(&s.record_number)
                    .bind(i64::from(s.service_seq))
                    .bind(0i64)
                    .bind(batch.now)
                    .bind(batch.now);
            }
            rows += q.execute(&mut *tx).await?.rows_affected();
        }

        let per = rows_per_statement(20);
        for (chunk, derived) in batch.orders.chunks(per).zip(sealed.orders.chunks(per)) {
            let sql = format!(
                "INSERT INTO filing_orders (appid, subject_id, status, sms_verify_status, is_canceling, cancel_type, \
                 audit_data, subject_record_number, service_record_number, versions, submitted_at, updated_at, \
                 claimed_by, claimed_at, review_due_at, authority_round, row_version, change_status, filed_version, \
                 access_number) \
                 VALUES {}",
                values_sql(backend, 20, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for (so, (audit, _)) in chunk.iter().zip(derived) {
                let o = &so.order;
                q = q
                    .bind(&o.appid)
                    .bind(&o.subject_id)
                    .bind(o.state.status_code())
                    .bind(o.state.sms_verify_status().map(|s| s.code()).unwrap_or(0))
                    .bind(b(o.state.is_canceling()))
                    .bind(o.cancel_type.map(|c| i64::from(c.code())))
                    .bind(audit)
                    .bind(&o.subject_record_number)
                    .bind(&o.service_record_number)
                    .bind(i64::from(o.versions))
                    .bind(o.submitted_at)
                    .bind(o.updated_at)
                    .bind(&o.claimed_by)
                    .bind(o.claimed_at)
                    .bind(o.review_due_at)
                    .bind(i64::from(o.authority_round))
                    .bind(o.row_version.max(0))
                    .bind(o.state.change_status_code())
                    .bind(i64::from(o.filed_version))
                    .bind(&o.access_number);
            }
            rows += q.execute(&mut *tx).await?.rows_affected();
        }

        let versions: Vec<VersionRow<'_>> = batch
            .orders
            .iter()
            .zip(&sealed.orders)
            .map(|(so, (_, payload_enc))| VersionRow {
                appid: &so.order.appid,
                version: so.order.versions.max(1),
                payload_enc,
                at: so.order.submitted_at.unwrap_or(so.order.updated_at),
                actor: &so.actor,
            })
            .collect();
        rows += insert_versions(&mut tx, backend, &versions).await?;

        let per = rows_per_statement(9);
        for chunk in batch.media.chunks(per) {
            let sql = format!(
                "INSERT INTO media (media_id, appid, media_type, certificate_type, icp_order_field, content_type, \
                 size, sha256, created_at) VALUES {}",
                values_sql(backend, 9, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for m in chunk {
                q = q
                    .bind(&m.media_id)
                    .bind(&m.appid)
                    .bind(m.media_type.as_str())
                    .bind(m.certificate_type.map(i64::from))
                    .bind(&m.icp_order_field)
                    .bind(&m.content_type)
                    .bind(i64::try_from(m.size).unwrap_or(i64::MAX))
                    .bind(&m.sha256)
                    .bind(m.created_at);
            }
            rows += q.execute(&mut *tx).await?.rows_affected();
        }

        let per = rows_per_statement(7);
        for chunk in batch.face_tasks.chunks(per) {
            let sql = format!(
                "INSERT INTO face_tasks (task_id, appid, face_status, is_finish, created_at, expires_at, finished_at) \
                 VALUES {}",
                values_sql(backend, 7, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for t in chunk {
                q = q
                    .bind(&t.task_id)
                    .bind(&t.appid)
                    .bind(t.face_status.code())
                    .bind(b(t.is_finish))
                    .bind(t.created_at)
                    .bind(t.expires_at)
                    .bind(t.is_finish.then_some(t.created_at));
            }
            rows += q.execute(&mut *tx).await?.rows_affected();
        }

        let per = rows_per_statement(6);
        for chunk in batch.authorizations.chunks(per) {
            let sql = format!(
                "INSERT INTO authorizations (component_appid, appid, scopes, active, created_at, updated_at) VALUES {}",
                values_sql(backend, 6, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for a in chunk {
                q = q
                    .bind(&a.component_appid)
                    .bind(&a.appid)
                    .bind(scopes_to_string(&a.scopes))
                    .bind(b(a.active))
                    .bind(a.created_at)
                    .bind(a.updated_at);
            }
            rows += q.execute(&mut *tx).await?.rows_affected();
        }

        let per = rows_per_statement(8);
        for chunk in batch.tokens.chunks(per) {
            let sql = format!(
                "INSERT INTO tokens (token_hash, kind, component_appid, appid, scopes, created_at, expires_at, \
                 superseded_at) VALUES {}",
                values_sql(backend, 8, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for (hash, t) in chunk {
                q = q
                    .bind(hash)
                    .bind(t.kind.as_str())
                    .bind(&t.component_appid)
                    .bind(&t.appid)
                    .bind(scopes_to_string(&t.scopes))
                    .bind(t.created_at)
                    .bind(t.expires_at)
                    .bind(t.superseded_at);
            }
            rows += q.execute(&mut *tx).await?.rows_affected();
        }

        rows += insert_audit(&mut tx, backend, &batch.audit, &sealed.audit).await?;

        if !batch.public.is_empty() {
            let derived = &sealed.public;
            let per = rows_per_statement(12);
            for (chunk, derived) in batch.public.chunks(per).zip(derived.chunks(per)) {
                let sql = format!(
                    "INSERT INTO public_filings (appid, service_name, subject_name, subject_type, \
                     subject_record_number, service_record_number, principal_masked, nrlx, approved_at, search, \
                     service_form, subject_form) \
                     VALUES {}",
                    values_sql(backend, 12, chunk.len())
                );
                let mut q = sqlx::query(&sql);
                for (f, (search, _, service_form, subject_form)) in chunk.iter().zip(derived) {
                    let nrlx: Vec<String> = f.nrlx.iter().map(u32::to_string).collect();
                    q = q
                        .bind(&f.appid)
                        .bind(&f.service_name)
                        .bind(&f.subject_name)
                        .bind(i64::from(f.subject_type))
                        .bind(&f.subject_record_number)
                        .bind(&f.service_record_number)
                        .bind(&f.principal_masked)
                        .bind(nrlx.join(","))
                        .bind(f.approved_at)
                        .bind(search)
                        .bind(service_form)
                        .bind(subject_form);
                }
                rows += q.execute(&mut *tx).await?.rows_affected();
            }
            let mut grams: Vec<(&str, &str, i64)> = if batch.grams_later {
                Vec::new()
            } else {
                batch
                    .public
                    .iter()
                    .zip(derived)
                    .flat_map(|(f, (_, grams, _, _))| {
                        let sig = signature(grams);
                        grams.iter().map(move |g| (g.as_str(), f.appid.as_str(), sig))
                    })
                    .collect()
            };
            // In key order: each statement fills neighbouring leaf pages instead of touching
            // a page per row all over the index (halves the time of this table on SQLite).
            grams.sort_unstable();
            let per = rows_per_statement(3);
            for chunk in grams.chunks(per) {
                let sql = format!(
                    "INSERT INTO public_filing_grams (gram, appid, sig) VALUES {}",
                    values_sql(backend, 3, chunk.len())
                );
                let mut q = sqlx::query(&sql);
                for (gram, appid, sig) in chunk {
                    q = q.bind(*gram).bind(*appid).bind(*sig);
                }
                rows += q.execute(&mut *tx).await?.rows_affected();
            }
        }

        for (name, value) in &batch.counters {
            sqlx::query(
                "INSERT INTO counters (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = \
                 CASE WHEN excluded.value > counters.value THEN excluded.value ELSE counters.value END",
            )
            .bind(name)
            .bind(*value)
            .execute(&mut *tx)
            .await?;
            rows += 1;
        }

        tx.commit().await?;
        Ok(rows)
    }

    /// Drop the secondary indexes of the tables [`Store::bulk_seed`] fills, for a load into a
    /// fresh database (on SQLite this also starts a load mode without fsyncs, ended by
    /// [`Store::bulk_rebuild_indexes`]; nothing else should use the database meanwhile): one sorted build per index afterwards ([`Store::bulk_rebuild_indexes`])
    /// costs much less than a million random inserts into each. Primary keys and unique
    /// constraints stay (they are the load's consistency checks). Returns the definitions,
    /// read from the schema itself.
    pub async fn bulk_defer_indexes(&self) -> Result<DeferredIndexes> {
        let rows: Vec<(String, String)> = match self.backend {
            Backend::Sqlite => {
                let sql = format!(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
                     AND tbl_name IN ({}) ORDER BY name",
                    SEEDED_TABLES.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ")
                );
                sqlx::query_as(&sql).fetch_all(&self.write).await?
            }
            Backend::Postgres => {
                let sql = format!(
                    "SELECT i.indexname::text, i.indexdef::text FROM pg_indexes i \
                     WHERE i.schemaname = current_schema() AND i.tablename IN ({}) \
                     AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname \
                     AND c.connamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())) \
                     ORDER BY i.indexname",
                    SEEDED_TABLES.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ")
                );
                sqlx::query_as(&sql).fetch_all(&self.write).await?
            }
        };
        for (name, _) in &rows {
            sqlx::raw_sql(&format!("DROP INDEX {name}")).execute(&self.write).await?;
        }
        if self.backend == Backend::Sqlite {
            // Load mode, until `bulk_rebuild_indexes`: no fsync per commit and checkpoint (a
            // crash during the load means loading again; the file is made durable at the end).
            sqlx::query("PRAGMA synchronous = OFF").execute(&self.write).await?;
        }
        Ok(DeferredIndexes(rows))
    }

    /// Build the indexes [`Store::bulk_defer_indexes`] dropped, from their own definitions.
    /// Ends the load mode on SQLite: back to `synchronous=FULL`, and a checkpoint that puts the
    /// whole load into the database file, synced.
    pub async fn bulk_rebuild_indexes(&self, deferred: DeferredIndexes) -> Result<()> {
        if self.backend == Backend::Sqlite {
            // SQLite's sorter builds each index fastest as an external merge sort: sorted runs
            // of a small page cache's size in temporary files, two helper threads sorting
            // them. With the load's large cache and `temp_store=MEMORY` (this store's
            // defaults) it sorted in one in-memory pass, about twice as slow: 11 of the
            // indexes on 1 M mini programs took 5.5–6.2 s that way, 2.9 s this way
            // (docs/benchmarks.md, ninth session).
            for pragma in ["PRAGMA cache_size = -2000", "PRAGMA temp_store = FILE", "PRAGMA threads = 2"] {
                sqlx::query(pragma).execute(&self.write).await?;
            }
        }
        for (_, sql) in &deferred.0 {
            sqlx::raw_sql(sql).execute(&self.write).await?;
        }
        if self.backend == Backend::Sqlite {
            for pragma in ["PRAGMA threads = 0", "PRAGMA temp_store = MEMORY"] {
                sqlx::query(pragma).execute(&self.write).await?;
            }
            sqlx::query("PRAGMA synchronous = FULL").execute(&self.write).await?;
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.write).await?;
        }
        Ok(())
    }

    /// Whether a table exists (in the current schema on PostgreSQL).
    pub async fn has_table(&self, name: &str) -> Result<bool> {
        let n: i64 = match self.backend {
            Backend::Sqlite => {
                sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1")
                    .bind(name)
                    .fetch_one(&self.read)
                    .await?
            }
            Backend::Postgres => {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() \
                     AND table_name = $1",
                )
                .bind(name)
                .fetch_one(&self.read)
                .await?
            }
        };
        Ok(n > 0)
    }

    // ---- benchmark floors ----------------------------------------------------------------

    /// Create the floor's scratch table `bench_floor` (dropped by [`Store::floor_drop`]).
    pub async fn floor_setup(&self) -> Result<()> {
        let ddl = match self.backend {
            Backend::Sqlite => {
                "CREATE TABLE IF NOT EXISTS bench_floor (id INTEGER PRIMARY KEY AUTOINCREMENT, appid TEXT NOT NULL, \
                 payload_enc BLOB NOT NULL, at BIGINT NOT NULL)"
            }
            Backend::Postgres => {
                "CREATE TABLE IF NOT EXISTS bench_floor (id BIGSERIAL PRIMARY KEY, appid TEXT NOT NULL, \
                 payload_enc BYTEA NOT NULL, at BIGINT NOT NULL)"
            }
        };
        sqlx::raw_sql(ddl).execute(&self.write).await?;
        Ok(())
    }

    /// The floor of a durable apply: encrypt `payload` and insert it as one row in its own
    /// transaction through the writer — the same connection settings (on SQLite: the single
    /// writer, WAL, `synchronous=FULL`) as every real write.
    pub async fn floor_insert(&self, appid: &str, payload: &[u8], at: i64) -> Result<()> {
        let enc = self.crypto.encrypt(payload);
        let mut tx = self.write.begin().await?;
        sqlx::query("INSERT INTO bench_floor (appid, payload_enc, at) VALUES ($1, $2, $3)")
            .bind(appid)
            .bind(enc)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn floor_drop(&self) -> Result<()> {
        sqlx::raw_sql("DROP TABLE IF EXISTS bench_floor").execute(&self.write).await?;
        Ok(())
    }

    /// The floor of the clearance sweep: read every appid in key order, `batch` at a time,
    /// each batch in its own read transaction (what the sweep must do at the least).
    /// Returns how many appids were read.
    pub async fn floor_scan_appids(&self, batch: i64) -> Result<u64> {
        let (mut after, mut n) = (String::new(), 0u64);
        loop {
            let mut tx = self.read().await?;
            let ids = tx.mini_programs().appids_after(&after, batch.max(1)).await?;
            drop(tx);
            let Some(last) = ids.last() else { return Ok(n) };
            n += ids.len() as u64;
            after = last.clone();
        }
    }
}

// ---- throw-away PostgreSQL schemas -------------------------------------------------------

/// Connect to `base_url` briefly to run one administrative statement.
async fn pg_admin(base_url: &str, sql: &str) -> Result<()> {
    sqlx::any::install_default_drivers();
    if Backend::from_url(base_url)? != Backend::Postgres {
        return Err(StoreError::BadUrl(base_url.to_string()));
    }
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .connect(base_url)
        .await?;
    let res = sqlx::raw_sql(sql).execute(&pool).await;
    pool.close().await;
    res?;
    Ok(())
}

fn valid_schema(schema: &str) -> Result<()> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && schema.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        && !schema.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(StoreError::Corrupt(format!("not a plain schema name: {schema:?}")))
    }
}

/// Create `schema` on the PostgreSQL server of `base_url`; returns a URL whose connections
/// use it (`search_path`), for [`Store::connect`] and `beian --database-url`.
pub async fn pg_create_schema(base_url: &str, schema: &str) -> Result<String> {
    valid_schema(schema)?;
    pg_admin(base_url, &format!("CREATE SCHEMA {schema}")).await?;
    let sep = if base_url.contains('?') { '&' } else { '?' };
    Ok(format!("{base_url}{sep}options=-c%20search_path%3D{schema}"))
}

/// Drop a schema made by [`pg_create_schema`] and everything in it.
pub async fn pg_drop_schema(base_url: &str, schema: &str) -> Result<()> {
    valid_schema(schema)?;
    pg_admin(base_url, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain() {
        assert!(valid_schema("bench_123").is_ok());
        assert!(valid_schema("bench; DROP").is_err());
        assert!(valid_schema("1abc").is_err());
        assert!(valid_schema("").is_err());
    }
}
