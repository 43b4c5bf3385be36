-- Service providers (third-party platforms), their tokens and authorizations, and the job
-- queue. Keep in step with ../postgres/0002_providers_jobs.sql.
CREATE TABLE providers (
    component_appid TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    -- message token and EncodingAESKey, encrypted (needed in clear to sign and encrypt pushes)
    msg_token_enc BLOB NOT NULL,
    aes_key_enc BLOB NOT NULL,
    event_url TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Every token, ticket and code is stored as a SHA-256 hash only.
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    component_appid TEXT NOT NULL,
    appid TEXT NOT NULL DEFAULT '',
    scopes TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    superseded_at BIGINT
);
CREATE INDEX tokens_owner ON tokens (kind, component_appid, appid);

CREATE TABLE authorizations (
    component_appid TEXT NOT NULL REFERENCES providers (component_appid),
    appid TEXT NOT NULL REFERENCES mini_programs (appid),
    scopes TEXT NOT NULL,
    active BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (component_appid, appid)
);
CREATE INDEX authorizations_appid ON authorizations (appid);

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    dedupe_key TEXT UNIQUE,
    state TEXT NOT NULL,            -- pending | running | done | dead
    run_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    locked_by TEXT,
    locked_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (state, run_at);
