-- Drafts are edited one field or one upload at a time from several requests: each edit reads
-- the draft with its version and writes only if no other edit landed in between (optimistic
-- concurrency; the loser re-reads and re-applies its edit).
-- Keep in step with ../postgres/0008_draft_version.sql.
ALTER TABLE drafts ADD COLUMN row_version BIGINT NOT NULL DEFAULT 0;
