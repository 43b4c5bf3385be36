-- Developer console: accounts, sessions, memberships, drafts, tickets, notification
-- preferences. Keep in step with ../sqlite/0004_console.sql.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);

-- Who may do what with a mini program: role admin | member; perms: comma list (view, file).
CREATE TABLE memberships (
    appid TEXT NOT NULL REFERENCES mini_programs (appid),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    role TEXT NOT NULL,
    perms TEXT NOT NULL,
    PRIMARY KEY (appid, account_id)
);
CREATE INDEX memberships_account ON memberships (account_id);

-- The filing wizard's draft (encrypted application JSON).
CREATE TABLE drafts (
    appid TEXT PRIMARY KEY REFERENCES mini_programs (appid),
    payload_enc BYTEA NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE tickets (
    id BIGSERIAL PRIMARY KEY,
    appid TEXT NOT NULL,
    account_id TEXT NOT NULL,
    title TEXT NOT NULL,
    context TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX tickets_appid ON tickets (appid);

CREATE TABLE ticket_messages (
    id BIGSERIAL PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ticket_messages_ticket ON ticket_messages (ticket_id, id);

CREATE TABLE notify_prefs (
    appid TEXT PRIMARY KEY,
    sms BIGINT NOT NULL,
    email BIGINT NOT NULL,
    webhook BIGINT NOT NULL
);
