-- The job claim walks the due pending jobs in (run_at, id) order and stops at its batch size
-- (beian_store::jobs::Jobs::claim_batch). With `id` in the index the walk needs no sort at all;
-- without it PostgreSQL sorts each group of jobs due in the same second.
-- Keep in step with ../sqlite/0023_jobs_due_order.sql.
DROP INDEX IF EXISTS jobs_due;
CREATE INDEX jobs_due ON jobs (state, run_at, id);
