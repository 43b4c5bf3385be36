//! The public filing index (备案查询): [`PublicIndex`], reached by `tx.public_index()`.
//!
//! The index holds only what the public may see: names, numbers, the principal's name already
//! masked, pre-approval type ids and the approval time — never ID numbers or phones. Substring
//! search over Chinese names works on both backends through a table of character bigrams
//! (SQLite has no trigram index): a query's rarest bigrams select candidates in posting-list
//! order, and the caller verifies the substring on the names. Numbers and appids are found by
//! exact or prefix lookups on ordinary indexes (the PostgreSQL DDL declares those columns
//! `COLLATE "C"`, so range scans order by code point as SQLite's BINARY does).

use crate::direct::{Arg, Cols};
use crate::tx::placeholders;
use crate::{Result, StoreError, Tx};
use sqlx::Row;

/// One filed mini program as the public query shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicFiling {
    pub appid: String,
    /// 服务名称 (the mini program's name).
    pub service_name: String,
    /// 主办单位名称.
    pub subject_name: String,
    /// 单位性质 (dictionary id).
    pub subject_type: u32,
    /// 主体备案号.
    pub subject_record_number: String,
    /// 服务备案号.
    pub service_record_number: String,
    /// 负责人, already masked (`张*`).
    pub principal_masked: String,
    /// 前置审批 type ids.
    pub nrlx: Vec<u32>,
    /// 审核通过时间 (unix seconds).
    pub approved_at: i64,
}

/// Dashboard: listed mini programs and how many of them are still unfiled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListingReadiness {
    /// Listed and not cleared.
    pub listed: i64,
    /// Listed, not cleared, without a filed order.
    pub listed_unfiled: i64,
    /// Cleared (清退).
    pub cleared: i64,
}

/// Full-width ASCII to half-width, every run of whitespace to one space, trimmed: what a
/// person means when typing `ＡＢＣ　１２３` or pasting a name with stray spaces.
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        let c = match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        };
        if c.is_whitespace() || c.is_control() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push(c);
    }
    out
}

/// The form names are indexed and queries are matched in: normalised and lower-cased.
pub fn search_form(s: &str) -> String {
    normalize(s).to_lowercase()
}

/// The distinct character bigrams of `form`, sorted. Empty for fewer than two characters.
pub fn bigrams(form: &str) -> Vec<String> {
    let chars: Vec<char> = form.chars().collect();
    let mut out: Vec<String> = chars.windows(2).map(|w| w.iter().collect()).collect();
    out.sort();
    out.dedup();
    out
}

/// The `search` column: one normalised name per line. Writers that fill the index directly
/// (bulk loads) must use this and [`grams_of_search`] so that queries and deletions agree.
pub fn search_text(service_name: &str, subject_name: &str) -> String {
    format!("{}\n{}", search_form(service_name), search_form(subject_name))
}

/// Bigrams of every line of a `search` column (a bigram never spans two names).
pub fn grams_of_search(search: &str) -> Vec<String> {
    let mut out: Vec<String> = search.lines().flat_map(bigrams).collect();
    out.sort();
    out.dedup();
    out
}

/// The bit a bigram sets in a name's signature: FNV-1a (64-bit) of its UTF-8 bytes, modulo
/// 64. Stored in every posting (`public_filing_grams.sig`, see [`signature`]), so changing it
/// needs the public index rebuilt (`beian reindex-public`).
pub fn gram_bit(gram: &str) -> u64 {
    1u64 << (crate::fnv1a(gram.as_bytes()) % 64)
}

/// A public row's signature: the bits ([`gram_bit`]) of all its bigrams, as the `BIGINT`
/// stored with each of its postings. A name search walks the postings of the query's rarest
/// bigram and keeps only those whose signature has the bits of all the query's bigrams: a
/// name lacking any of them is dropped without a lookup of its row (a name of 20 bigrams
/// sets about 17 of the 64 bits; a random name passes a 7-bigram query's filter about once in
/// 3,000). Never 0 for a row with a bigram; 0 is the value of postings written before the
/// column existed, which every filter keeps.
pub fn signature<'a>(grams: impl IntoIterator<Item = &'a String>) -> i64 {
    let bits = grams.into_iter().fold(0u64, |acc, g| acc | gram_bit(g));
    i64::from_ne_bytes(bits.to_ne_bytes())
}

/// `s` for a `LIKE … ESCAPE '\'` pattern: `%`, `_` and `\` match only themselves.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Which postings a name search walks: those of `gram` (the query's rarest bigram) in appid
/// order up to `through` (inclusive; `None`: all), and of those only the ones whose
/// signature has every bit of `mask` (the query's [`signature`]): every name containing the
/// query has all its bigrams, so the filter removes only postings that cannot match — before
/// their rows are read.
#[derive(Debug, Clone, Copy)]
pub struct NameWalk<'a> {
    pub gram: &'a str,
    pub through: Option<&'a str>,
    pub mask: i64,
}

/// The signature filter on the postings `c`, with the mask bound as `$n` (postings stored
/// before signatures existed, `sig = 0`, always pass).
fn sig_sql(n: usize) -> String {
    format!(" AND ((c.sig & ${n}) = ${n} OR c.sig = 0)")
}

/// What both name searches bind as `$1`–`$5`: the bigram whose postings are walked, the last
/// appid to walk, the query itself ("a name contains it", see [`contains_sql`]), and the
/// `LIKE` patterns "the service name is the query" (first line of `search`) and "the subject
/// name is the query" (second line).
fn name_binds(walk: &NameWalk<'_>, form: &str) -> [String; 5] {
    let esc = like_escape(form);
    [
        walk.gram.to_string(),
        walk.through.map(str::to_string).unwrap_or_else(|| prefix_end("")),
        form.to_string(),
        format!("{esc}\n%"),
        format!("%\n{esc}"),
    ]
}

/// "`p.search` contains the text bound as `$3`", for a `WHERE` clause: a plain substring
/// test (`search` and the query are both lower-cased, so `LIKE`'s ASCII case folding is not
/// needed). Not `LIKE`: SQLite marks a statement with a bound `LIKE` pattern in its `WHERE`
/// for re-preparation whenever the pattern changes (it may use the pattern to plan), which
/// re-parsed and re-planned every name search (6 % of the server's CPU under the public
/// query load, docs/benchmarks.md).
fn contains_sql(backend: crate::Backend) -> &'static str {
    match backend {
        crate::Backend::Sqlite => "instr(p.search, $3) > 0",
        crate::Backend::Postgres => "strpos(p.search, $3) > 0",
    }
}

/// Upper bound of a prefix range: greater than every string starting with `prefix`.
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

fn public_from_row(r: &dyn Cols) -> Result<PublicFiling> {
    let nrlx = r.text("nrlx")?;
    Ok(PublicFiling {
        appid: r.text("appid")?,
        service_name: r.text("service_name")?,
        subject_name: r.text("subject_name")?,
        subject_type: crate::tx::u(r.int("subject_type")?, "subject_type")?,
        subject_record_number: r.text("subject_record_number")?,
        service_record_number: r.text("service_record_number")?,
        principal_masked: r.text("principal_masked")?,
        nrlx: nrlx.split(',').filter_map(|t| t.trim().parse().ok()).collect(),
        approved_at: r.int("approved_at")?,
    })
}

const PUBLIC_COLUMNS: &str = "appid, service_name, subject_name, subject_type, subject_record_number, \
     service_record_number, principal_masked, nrlx, approved_at";

/// [`PUBLIC_COLUMNS`] of `public_filings p` in a join.
const PUBLIC_COLUMNS_P: &str =
    "p.appid, p.service_name, p.subject_name, p.subject_type, p.subject_record_number, \
     p.service_record_number, p.principal_masked, p.nrlx, p.approved_at";

/// Values per statement when lists are bound (well below every backend's parameter limit).
pub(crate) const CHUNK: usize = 400;

/// The public filing index (备案查询) and its bigram postings.
pub struct PublicIndex<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// The public filing index (备案查询) and its bigram postings.
    pub fn public_index(&mut self) -> PublicIndex<'_> {
        PublicIndex { tx: self }
    }
}

impl PublicIndex<'_> {
    /// Write (or replace) the public row of a filed mini program and its bigrams.
    pub async fn put(&mut self, f: &PublicFiling) -> Result<()> {
        self.delete(&f.appid).await?;
        let search = search_text(&f.service_name, &f.subject_name);
        let nrlx: Vec<String> = f.nrlx.iter().map(u32::to_string).collect();
        sqlx::query(&format!(
            "INSERT INTO public_filings ({PUBLIC_COLUMNS}, search, service_form, subject_form) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(&f.appid)
        .bind(&f.service_name)
        .bind(&f.subject_name)
        .bind(i64::from(f.subject_type))
        .bind(&f.subject_record_number)
        .bind(&f.service_record_number)
        .bind(&f.principal_masked)
        .bind(nrlx.join(","))
        .bind(f.approved_at)
        .bind(&search)
        .bind(search_form(&f.service_name))
        .bind(search_form(&f.subject_name))
        .execute(&mut *self.tx.conn)
        .await?;
        let grams = grams_of_search(&search);
        let sig = signature(&grams);
        for chunk in grams.chunks(CHUNK) {
            let values: Vec<String> = (0..chunk.len()).map(|i| format!("(${}, $1, $2)", i + 3)).collect();
            let sql =
                format!("INSERT INTO public_filing_grams (gram, appid, sig) VALUES {}", values.join(", "));
            let mut q = sqlx::query(&sql).bind(&f.appid).bind(sig);
            for g in chunk {
                q = q.bind(g);
            }
            q.execute(&mut *self.tx.conn).await?;
        }
        Ok(())
    }

    /// Remove a mini program from the public index; returns the subject number it had.
    pub async fn delete(&mut self, appid: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT search, subject_record_number FROM public_filings WHERE appid = $1")
            .bind(appid)
            .fetch_optional(&mut *self.tx.conn)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let search: String = row.try_get("search")?;
        let subject_number: String = row.try_get("subject_record_number")?;
        // The grams are re-derived from the stored names, so no index on appid is needed.
        for chunk in grams_of_search(&search).chunks(CHUNK) {
            let sql = format!(
                "DELETE FROM public_filing_grams WHERE appid = $1 AND gram IN ({})",
                placeholders(2, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(appid);
            for g in chunk {
                q = q.bind(g);
            }
            q.execute(&mut *self.tx.conn).await?;
        }
        sqlx::query("DELETE FROM public_filings WHERE appid = $1")
            .bind(appid)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(Some(subject_number))
    }

    /// Rows of the index under `subject_number` whose order is no longer filed (left behind
    /// when a 注销主体 cancelled the subject's other services in the same transaction).
    pub async fn no_longer_filed(&mut self, subject_number: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT p.appid FROM public_filings p LEFT JOIN filing_orders o ON o.appid = p.appid \
             WHERE p.service_record_number >= $1 AND p.service_record_number < $2 \
             AND p.subject_record_number = $1 AND (o.status IS NULL OR o.status <> 6)",
        )
        .bind(subject_number)
        .bind(prefix_end(subject_number))
        .fetch_all(&mut *self.tx.conn)
        .await?)
    }

    /// Empty the public index (before a rebuild).
    pub async fn clear(&mut self) -> Result<()> {
        sqlx::query("DELETE FROM public_filing_grams").execute(&mut *self.tx.conn).await?;
        sqlx::query("DELETE FROM public_filings").execute(&mut *self.tx.conn).await?;
        Ok(())
    }

    /// Whether this handle's lookups run on the store's own SQLite connections (`direct.rs`):
    /// [`crate::Store::reads`] on a SQLite file.
    pub fn direct(&self) -> bool {
        self.tx.direct.is_some()
    }

    /// Run a lookup: on the store's own SQLite connections when this handle has them
    /// (`direct.rs`), else through sqlx; each row through `row`.
    async fn fetch<T>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        row: impl Fn(&dyn Cols) -> Result<T>,
    ) -> Result<Vec<T>> {
        if let Some(direct) = &self.tx.direct {
            return direct.fetch(sql, args, row);
        }
        let mut q = sqlx::query(sql);
        for arg in args {
            q = match *arg {
                Arg::Text(s) => q.bind(s),
                Arg::Int(n) => q.bind(n),
            };
        }
        q.fetch_all(&mut *self.tx.conn).await?.iter().map(|r| row(r)).collect()
    }

    /// The single value of a lookup that returns one row of one column `n`.
    async fn fetch_count(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<i64> {
        let counts = self.fetch(sql, args, |r| r.int("n")).await?;
        counts.first().copied().ok_or_else(|| StoreError::Corrupt("a count returned no row".into()))
    }

    /// Rows whose appid is `appid` or whose service number is `number`.
    pub async fn exact(&mut self, appid: &str, number: &str) -> Result<Vec<PublicFiling>> {
        let sql = format!(
            "SELECT {PUBLIC_COLUMNS} FROM public_filings WHERE appid = $1 OR service_record_number = $2"
        );
        self.fetch(&sql, &[Arg::Text(appid), Arg::Text(number)], public_from_row).await
    }

    /// Rows with a service or subject name equal to `form` (normalised, lower-cased), newest
    /// approval first, at most `limit`: the first `limit` of each name index (in that order,
    /// migration 0025), merged.
    pub async fn name_equal(&mut self, form: &str, limit: i64) -> Result<Vec<PublicFiling>> {
        let sql = format!(
            "SELECT * FROM (SELECT {PUBLIC_COLUMNS} FROM public_filings WHERE service_form = $1 \
             ORDER BY approved_at DESC, appid LIMIT $2) a \
             UNION SELECT * FROM (SELECT {PUBLIC_COLUMNS} FROM public_filings WHERE subject_form = $1 \
             ORDER BY approved_at DESC, appid LIMIT $2) b \
             ORDER BY approved_at DESC, appid LIMIT $2"
        );
        self.fetch(&sql, &[Arg::Text(form), Arg::Int(limit)], public_from_row).await
    }

    /// Rows whose service number starts with `prefix` (a subject number finds all of its
    /// services), in number order, at most `limit`.
    pub async fn number_prefix(&mut self, prefix: &str, limit: i64) -> Result<Vec<PublicFiling>> {
        let sql = format!(
            "SELECT {PUBLIC_COLUMNS} FROM public_filings WHERE service_record_number >= $1 AND service_record_number < $2 \
             ORDER BY service_record_number LIMIT $3"
        );
        let end = prefix_end(prefix);
        self.fetch(&sql, &[Arg::Text(prefix), Arg::Text(&end), Arg::Int(limit)], public_from_row).await
    }

    /// Rows whose appid starts with `prefix`, in appid order, at most `limit`.
    pub async fn appid_prefix(&mut self, prefix: &str, limit: i64) -> Result<Vec<PublicFiling>> {
        let sql = format!(
            "SELECT {PUBLIC_COLUMNS} FROM public_filings WHERE appid >= $1 AND appid < $2 ORDER BY appid LIMIT $3"
        );
        let end = prefix_end(prefix);
        self.fetch(&sql, &[Arg::Text(prefix), Arg::Text(&end), Arg::Int(limit)], public_from_row).await
    }

    /// Names containing `form` (a normalised, lower-cased query of at least two characters),
    /// in one statement: the postings `walk` names, kept where a name contains `form`
    /// (checked in SQL on the `search` column), counted up to `cap`; of those, the `show`
    /// best — a name equal to the query first, then the newest approvals. Returns each shown
    /// row with "a name equals the query", and the count. The postings are walked in key order
    /// and the walk stops at the `cap`-th match (no materialised candidate list).
    pub async fn name_search(
        &mut self,
        walk: &NameWalk<'_>,
        form: &str,
        cap: i64,
        show: i64,
    ) -> Result<(Vec<(bool, PublicFiling)>, i64)> {
        // Candidates, their rank keys and the count from the narrow `public_filings_match`
        // index; full rows only for the `show` returned. SQLite's planner, without statistics,
        // prefers the primary key's index (and then the table row) unless told.
        let hint = match self.tx.backend {
            crate::Backend::Sqlite => " INDEXED BY public_filings_match",
            crate::Backend::Postgres => "",
        };
        let sql = format!(
            "WITH m AS (SELECT c.appid AS mid, p.approved_at AS approved, \
             CASE WHEN p.search LIKE $4 ESCAPE '\\' OR p.search LIKE $5 ESCAPE '\\' THEN 1 ELSE 0 END AS equal \
             FROM public_filing_grams c JOIN public_filings p{hint} ON p.appid = c.appid \
             WHERE c.gram = $1 AND c.appid <= $2{sig} AND {contains} \
             ORDER BY c.appid LIMIT $6), \
             top AS (SELECT mid, approved, equal, COUNT(*) OVER () AS total FROM m \
             ORDER BY equal DESC, approved DESC, mid LIMIT $7) \
             SELECT {PUBLIC_COLUMNS_P}, CAST(top.equal AS BIGINT) AS equal, top.total AS total \
             FROM top JOIN public_filings p ON p.appid = top.mid \
             ORDER BY top.equal DESC, top.approved DESC, top.mid",
            sig = sig_sql(8),
            contains = contains_sql(self.tx.backend),
        );
        let binds = name_binds(walk, form);
        let mut args: Vec<Arg<'_>> = binds.iter().map(|v| Arg::Text(v)).collect();
        args.extend([Arg::Int(cap), Arg::Int(show), Arg::Int(walk.mask)]);
        let rows = self
            .fetch(&sql, &args, |r| Ok((r.int("total")?, r.int("equal")? != 0, public_from_row(r)?)))
            .await?;
        let total = rows.last().map_or(0, |(total, _, _)| *total);
        Ok((rows.into_iter().map(|(_, equal, f)| (equal, f)).collect(), total))
    }

    /// The first `show` names containing `form` in posting (appid) order, names equal to the
    /// query not ranked first: for a query matching more names than are counted, where only
    /// `show` rows are read. Each row with "a name equals the query".
    pub async fn name_search_first(
        &mut self,
        walk: &NameWalk<'_>,
        form: &str,
        show: i64,
    ) -> Result<Vec<(bool, PublicFiling)>> {
        let sql = format!(
            "SELECT {PUBLIC_COLUMNS_P}, \
             CAST(CASE WHEN p.search LIKE $4 ESCAPE '\\' OR p.search LIKE $5 ESCAPE '\\' THEN 1 ELSE 0 END AS BIGINT) AS equal \
             FROM public_filing_grams c JOIN public_filings p ON p.appid = c.appid \
             WHERE c.gram = $1 AND c.appid <= $2{sig} AND {contains} \
             ORDER BY c.appid LIMIT $6",
            sig = sig_sql(7),
            contains = contains_sql(self.tx.backend),
        );
        let binds = name_binds(walk, form);
        let mut args: Vec<Arg<'_>> = binds.iter().map(|v| Arg::Text(v)).collect();
        args.extend([Arg::Int(show), Arg::Int(walk.mask)]);
        self.fetch(&sql, &args, |r| Ok((r.int("equal")? != 0, public_from_row(r)?))).await
    }

    /// Postings of `gram` up to `through` (inclusive; `None`: all), counted up to `cap`.
    pub async fn gram_count(&mut self, gram: &str, through: Option<&str>, cap: i64) -> Result<i64> {
        let end = prefix_end("");
        self.fetch_count(
            "SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM public_filing_grams WHERE gram = $1 AND appid <= $2 LIMIT $3) t",
            &[Arg::Text(gram), Arg::Text(through.unwrap_or(&end)), Arg::Int(cap)],
        )
        .await
    }

    /// How many postings `gram` has, each capped at `cap`, for several grams in one statement.
    pub async fn gram_postings_many(&mut self, grams: &[String], cap: i64) -> Result<Vec<i64>> {
        if grams.is_empty() {
            return Ok(Vec::new());
        }
        let parts: Vec<String> = (0..grams.len())
            .map(|i| {
                format!(
                    "SELECT {i} AS i, (SELECT COUNT(*) FROM (SELECT 1 AS one FROM public_filing_grams \
                     WHERE gram = ${} LIMIT $1) t{i}) AS n",
                    i + 2
                )
            })
            .collect();
        let sql = parts.join(" UNION ALL ");
        let mut args = vec![Arg::Int(cap)];
        args.extend(grams.iter().map(|g| Arg::Text(g)));
        let mut out = vec![0; grams.len()];
        for (i, n) in self.fetch(&sql, &args, |r| Ok((r.int("i")?, r.int("n")?))).await? {
            if let Some(slot) = out.get_mut(usize::try_from(i).unwrap_or(usize::MAX)) {
                *slot = n;
            }
        }
        Ok(out)
    }

    /// The first `limit` postings of `gram` in appid order, each with its row's signature
    /// (diagnostics; the bulk loader's test compares them with what it meant to write).
    pub async fn postings(&mut self, gram: &str, limit: i64) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT appid, sig FROM public_filing_grams WHERE gram = $1 ORDER BY appid LIMIT $2",
        )
        .bind(gram)
        .bind(limit)
        .fetch_all(&mut *self.tx.conn)
        .await?)
    }

    /// The `n`-th posting (1-based, appid order) of `gram`, if it has that many (reads at
    /// most `n` index entries).
    pub async fn gram_nth_posting(&mut self, gram: &str, n: i64) -> Result<Option<String>> {
        let found = self
            .fetch(
                "SELECT appid FROM public_filing_grams WHERE gram = $1 ORDER BY appid LIMIT 1 OFFSET $2",
                &[Arg::Text(gram), Arg::Int((n - 1).max(0))],
                |r| r.text("appid"),
            )
            .await?;
        Ok(found.into_iter().next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_full_width_and_spaces() {
        assert_eq!(normalize("  ＡＢＣ　１２３\t 读书 "), "ABC 123 读书");
        assert_eq!(search_form("WX12 读书"), "wx12 读书");
        assert_eq!(normalize(" \u{3000} "), "");
    }

    #[test]
    fn bigrams_are_distinct_and_stay_within_a_name() {
        assert_eq!(bigrams("读书读书"), vec!["书读", "读书"]);
        assert!(bigrams("读").is_empty());
        let g = grams_of_search(&search_text("读书", "书店"));
        assert_eq!(g, vec!["书店", "读书"], "no gram spans the two names");
    }

    #[test]
    fn signatures_hold_every_bigram_of_a_name() {
        // The bit function is stored in the database: it must not change unnoticed.
        assert_eq!(gram_bit("读书"), gram_bit("读书"));
        assert_eq!(gram_bit("ab"), 1 << (0x089c_4407_b545_986a_u64 % 64), "FNV-1a of b\"ab\"");
        let name = grams_of_search(&search_text("长沙易购快递平台", "某某科技有限公司"));
        let sig = signature(&name);
        assert_ne!(sig, 0);
        // Every query cut from the name passes the filter.
        for q in ["易购快递", "长沙", "科技有限", "递平台"] {
            let mask = signature(&bigrams(q));
            assert_eq!(sig & mask, mask, "{q}");
        }
        // A query with a bigram the name lacks is (here) filtered out.
        let mask = signature(&bigrams("量子纠缠"));
        assert_ne!(sig & mask, mask);
    }

    #[test]
    fn prefix_end_bounds_every_extension() {
        let end = prefix_end("粤ICP备2026");
        assert!("粤ICP备2026000001号-1X" < end.as_str());
        assert!("粤ICP备2026" < end.as_str());
        assert!("粤ICP备2027" > end.as_str());
    }
}
