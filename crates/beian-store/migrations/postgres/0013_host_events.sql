-- Events of the host platform (beian_ports::host, beian_store::host_events), one row per
-- event id: written in the same transaction as the event's effect, so an event is applied
-- once however often the host delivers it; a repeat reads the stored outcome (JSON of
-- PlatformEventOutcome). No personal data: the event itself is not kept.
-- Keep in step with ../sqlite/0013_host_events.sql.
CREATE TABLE host_events (
    event_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,             -- mini_program_upserted | admin_changed | listed | delisted | deleted
    appid TEXT NOT NULL,
    outcome TEXT NOT NULL,
    received_at BIGINT NOT NULL     -- unix second
);
CREATE INDEX host_events_appid ON host_events (appid, received_at);
