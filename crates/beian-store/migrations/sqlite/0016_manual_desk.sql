-- The manual desk (beian-authority-desk, beian_store::desk): the authority gateway for
-- platforms whose operators file in the authority's own system by hand.
-- desk_items: one work item per operation handed over (unique on appid, kind and round, so a
-- repeated submission is the same item). The operation itself — the application with its
-- names, phones and ID numbers — is kept encrypted (operation_enc, deflated then sealed with
-- the store's key), NULL once personal data is erased; nothing personal is in plain text.
-- desk_records: what an operator recorded on an item, one row per event id sent to the
-- platform's authority inbox (the event id is derived from the item and the form), with the
-- inbox's receipt and the operator; the summary holds masked phones and filing numbers only.
-- Keep in step with ../postgres/0018_manual_desk.sql.
CREATE TABLE desk_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    appid TEXT NOT NULL,
    kind TEXT NOT NULL,             -- Operation::kind: new_subject_and_service | new_service | ...
    round BIGINT NOT NULL,
    name TEXT NOT NULL,             -- the mini program's name when submitted
    operation_enc BLOB,
    state TEXT NOT NULL,            -- open | closed
    outcome TEXT NOT NULL,          -- '' until something is recorded, then the last form recorded
    submitted_at BIGINT NOT NULL,   -- unix second
    updated_at BIGINT NOT NULL,
    closed_at BIGINT,
    UNIQUE (appid, kind, round)
);
CREATE INDEX desk_items_state ON desk_items (state, submitted_at);
CREATE TABLE desk_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    item_id BIGINT NOT NULL REFERENCES desk_items (id),
    form TEXT NOT NULL,             -- the event's kind (sms_pending, approved, ...)
    receipt TEXT NOT NULL,          -- applied | ignored | duplicate
    staff_id TEXT NOT NULL,
    staff_name TEXT NOT NULL,
    summary TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX desk_records_item ON desk_records (item_id, recorded_at);
