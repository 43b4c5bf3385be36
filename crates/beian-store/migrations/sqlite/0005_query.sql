-- The public filing query (备案查询) and dashboard aggregates.
-- Keep in step with ../postgres/0005_query.sql.

-- One row per filed mini program: only what the public may see (the principal's name is
-- stored already masked; no ID numbers, no phones). Written in the approval's transaction,
-- removed with the cancellation; `beian` can rebuild it from the filed orders.
CREATE TABLE public_filings (
    appid TEXT PRIMARY KEY,
    service_name TEXT NOT NULL,
    subject_name TEXT NOT NULL,
    subject_type BIGINT NOT NULL,
    subject_record_number TEXT NOT NULL,
    service_record_number TEXT NOT NULL,
    principal_masked TEXT NOT NULL,
    -- 前置审批 type ids, comma-separated (names come from the current dictionary).
    nrlx TEXT NOT NULL,
    approved_at BIGINT NOT NULL,
    -- The normalised names the bigrams below were cut from (one per line).
    search TEXT NOT NULL
);
-- Exact and prefix lookups by number; a subject number is a prefix of its service numbers.
CREATE INDEX public_filings_service_number ON public_filings (service_record_number);

-- Character bigrams of the normalised names: a substring query of n >= 2 characters is
-- answered from the postings of its rarest bigrams, then verified on the names.
CREATE TABLE public_filing_grams (
    gram TEXT NOT NULL,
    appid TEXT NOT NULL,
    PRIMARY KEY (gram, appid)
) WITHOUT ROWID;

-- Dashboard: counts per action and day, distinct orders per action (covering).
CREATE INDEX audit_events_action ON audit_events (entity, action, at, entity_id);
