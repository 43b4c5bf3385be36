-- Staff browser sessions (/admin): the cookie holds a random token stored here only as its
-- SHA-256; the API token never leaves the sign-in form. A session ends 12 h after sign-in,
-- after an idle spell (last_seen_at), at sign-out (the row is deleted), or when its staff
-- member is no longer active. The CSRF token is derived from the session token with a key
-- (Crypto::secret_mac), so nothing about it is stored.
-- Keep in step with ../postgres/0010_staff_sessions.sql.
CREATE TABLE staff_sessions (
    token_hash TEXT PRIMARY KEY,
    staff_id TEXT NOT NULL REFERENCES staff (id),
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);
