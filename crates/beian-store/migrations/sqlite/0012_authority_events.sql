-- The authority seam (beian_store::authority).
-- authority_events: every event the authority reported through the inbox, by its event id
-- (unique: a redelivered event is recognised and not applied again). `outcome` says whether
-- it changed the order (applied) or named a round the order had left (ignored); `detail` is
-- the event as JSON (masked phones at most, no personal data in plain text).
-- authority_sim_submissions: the built-in simulator's copy of who it texts for a submission
-- (names and phones, encrypted), as a real authority keeps the filing it received.
-- Keep in step with ../postgres/0012_authority_events.sql.
CREATE TABLE authority_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    appid TEXT NOT NULL,
    round BIGINT NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,          -- applied | ignored
    detail TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX authority_events_appid ON authority_events (appid, kind, id);
CREATE TABLE authority_sim_submissions (
    appid TEXT NOT NULL,
    purpose TEXT NOT NULL,          -- filing | cancel
    round BIGINT NOT NULL,
    principals_enc BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (appid, purpose, round)
);
