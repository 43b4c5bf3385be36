-- Rate-limit counters several nodes share on PostgreSQL (beian_store::rate_windows): one row
-- per limit (scope), counted key (a client address, or appid/endpoint) and fixed window.
-- Counts are added with an upsert that returns the total; rows whose window ended
-- (expires_at) are pruned. SQLite (one node) counts in memory and never writes here; the
-- table exists on both so the numbered migrations stay the same.
-- Keep in step with ../sqlite/0011_rate_windows.sql.
CREATE TABLE rate_windows (
    scope TEXT NOT NULL,            -- public_query | login_failures | api
    key TEXT NOT NULL,
    window_start BIGINT NOT NULL,   -- unix second the window starts
    expires_at BIGINT NOT NULL,     -- unix second it ends
    count BIGINT NOT NULL,
    PRIMARY KEY (scope, key, window_start)
);
CREATE INDEX rate_windows_expires ON rate_windows (expires_at);
