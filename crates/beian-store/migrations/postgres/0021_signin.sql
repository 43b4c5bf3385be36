-- Developer sign-in (beian_service::signin, beian_store::accounts): an optional e-mail per
-- account (encrypted; blind index for look-ups), disabling, identities at the host platform's
-- OpenID provider linked by issuer + subject, pending OIDC sign-ins and password-reset tokens.
-- Keep in step with ../sqlite/0018_signin.sql.
ALTER TABLE accounts ADD COLUMN email_enc BYTEA;
-- HMAC of the lower-cased address (Crypto::blind_index): finds an account by e-mail for a
-- password reset without storing the address in clear.
ALTER TABLE accounts ADD COLUMN email_index TEXT;
-- 1 when the address was verified by whoever supplied it (the operator, or an ID token with
-- email_verified = true). Only verified addresses receive reset links.
ALTER TABLE accounts ADD COLUMN email_verified BIGINT NOT NULL DEFAULT 0;
-- Unix second the account was disabled; NULL while it may sign in.
ALTER TABLE accounts ADD COLUMN disabled_at BIGINT;
CREATE INDEX accounts_email_index ON accounts (email_index);

-- An account's identity at an OpenID provider: the only way an ID token finds an account.
CREATE TABLE account_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX account_identities_account ON account_identities (account_id);

-- A sign-in sent to the OpenID provider and not yet back: looked up by the SHA-256 of the
-- random key held in the browser's cookie, deleted when used (single use), refused after
-- expires_at. pending_enc is the encrypted JSON {state, nonce, pkce_verifier, next}.
CREATE TABLE oidc_pending (
    key_hash TEXT PRIMARY KEY,
    pending_enc BYTEA NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Password-reset links: the SHA-256 of the token only; used_at set on use (single use).
CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX password_resets_account ON password_resets (account_id);
