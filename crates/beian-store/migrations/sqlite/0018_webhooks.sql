-- Webhooks configurable by developers and providers (issue 16): which events a developer's
-- webhook receives (comma-separated notice kinds; NULL = every kind) and whether it is on;
-- which events a provider's event URL receives (NULL = every event).
ALTER TABLE webhooks ADD COLUMN events TEXT;
ALTER TABLE webhooks ADD COLUMN enabled BIGINT NOT NULL DEFAULT 1;
ALTER TABLE providers ADD COLUMN events TEXT;

-- The delivery log of developers' webhooks: which job delivered which event to which mini
-- program. State, attempts, next try and last error are the job's own (jobs table).
CREATE TABLE webhook_deliveries (
    job_id BIGINT PRIMARY KEY,
    appid TEXT NOT NULL,
    event TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_appid ON webhook_deliveries (appid, job_id);
