-- Review workflow, authority simulator, notifications, deadlines.
-- Keep in step with ../sqlite/0003_workflow.sql.
ALTER TABLE filing_orders ADD COLUMN claimed_by TEXT;
ALTER TABLE filing_orders ADD COLUMN claimed_at BIGINT;
ALTER TABLE filing_orders ADD COLUMN review_due_at BIGINT;
ALTER TABLE filing_orders ADD COLUMN authority_round BIGINT NOT NULL DEFAULT 0;
CREATE INDEX filing_orders_due ON filing_orders (status, review_due_at);

-- Reviewers and operators; API tokens stored hashed.
CREATE TABLE staff (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    active BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Rejection reasons reviewers pick from (editable by operators).
CREATE TABLE reasons (
    id BIGSERIAL PRIMARY KEY,
    key_name TEXT NOT NULL,
    error TEXT NOT NULL,
    suggest TEXT NOT NULL,
    active BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- SMS verifications sent by the authority simulator (filing and cancellation).
CREATE TABLE sms_codes (
    id BIGSERIAL PRIMARY KEY,
    appid TEXT NOT NULL,
    purpose TEXT NOT NULL,
    round BIGINT NOT NULL,
    phone_bidx TEXT NOT NULL,
    phone_enc BYTEA NOT NULL,
    id_last6_hash TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    sent_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sms_codes_lookup ON sms_codes (phone_bidx, state);
CREATE INDEX sms_codes_appid ON sms_codes (appid, purpose, round);

-- 站内信 per mini program.
CREATE TABLE messages (
    id BIGSERIAL PRIMARY KEY,
    appid TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at BIGINT
);
CREATE INDEX messages_appid ON messages (appid, id);

-- The development SMS outbox (text and phone encrypted).
CREATE TABLE sms_outbox (
    id BIGSERIAL PRIMARY KEY,
    phone_bidx TEXT NOT NULL,
    phone_enc BYTEA NOT NULL,
    text_enc BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX sms_outbox_phone ON sms_outbox (phone_bidx, id);

-- Developer-configured template-message webhooks.
CREATE TABLE webhooks (
    appid TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret_enc BYTEA,
    updated_at BIGINT NOT NULL
);

-- Clearance sweeps: resumable, with their report.
CREATE TABLE sweeps (
    id TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    cursor_appid TEXT NOT NULL,
    checked BIGINT NOT NULL,
    delisted BIGINT NOT NULL
);
