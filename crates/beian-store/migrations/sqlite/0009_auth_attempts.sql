-- Failed identity checks on the merchant authorization page (身份核验: the admin's mobile and
-- the last 6 characters of the admin's ID number), counted so they cannot be guessed:
-- per pre_auth_code on its token row (used up after a few), and per mini program and per
-- provider in `auth_attempts`. Counted in the transaction that checks the answer; several
-- nodes share these rows. Keep in step with ../postgres/0009_auth_attempts.sql.
ALTER TABLE tokens ADD COLUMN failures BIGINT NOT NULL DEFAULT 0;

CREATE TABLE auth_attempts (
    scope TEXT NOT NULL,            -- appid | provider
    subject TEXT NOT NULL,          -- the appid, or the component_appid
    failures BIGINT NOT NULL,       -- failures since window_start
    window_start BIGINT NOT NULL,
    lockouts BIGINT NOT NULL,       -- lockouts so far: each lasts twice the one before
    locked_until BIGINT NOT NULL,   -- 0 when not locked
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (scope, subject)
);
