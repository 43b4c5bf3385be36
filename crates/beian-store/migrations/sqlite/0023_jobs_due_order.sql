-- The job claim walks the due pending jobs in (run_at, id) order and stops at its batch size
-- (beian_store::jobs::Jobs::claim_batch). On SQLite `jobs_due (state, run_at)` already ends
-- with the rowid (`id`), so the walk needs no sort and nothing changes here; PostgreSQL's
-- index gains `id` (../postgres/0023_jobs_due_order.sql). Kept so both backends count the
-- same migrations.
SELECT 1;
