-- beian core schema (PostgreSQL). Keep in step with ../sqlite/0001_core.sql.
CREATE TABLE mini_programs (
    appid TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    admin_name TEXT NOT NULL,
    admin_id_enc BYTEA NOT NULL,
    admin_id_bidx TEXT NOT NULL,
    admin_mobile_enc BYTEA NOT NULL,
    basic_info_filled BIGINT NOT NULL,
    category_filled BIGINT NOT NULL,
    certified BIGINT NOT NULL,
    listed BIGINT NOT NULL,
    cleared BIGINT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX mini_programs_admin ON mini_programs (admin_id_bidx);

CREATE TABLE subjects (
    id TEXT PRIMARY KEY,
    subject_type BIGINT NOT NULL,
    certificate_type BIGINT NOT NULL,
    cert_enc BYTEA NOT NULL,
    cert_bidx TEXT NOT NULL,
    name TEXT NOT NULL,
    province TEXT NOT NULL,
    filed_count BIGINT NOT NULL DEFAULT 0,
    ever_filed BIGINT NOT NULL DEFAULT 0,
    in_progress BIGINT NOT NULL DEFAULT 0,
    record_number TEXT,
    service_seq BIGINT NOT NULL DEFAULT 0,
    row_version BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (certificate_type, cert_bidx),
    CHECK (filed_count >= 0 AND in_progress >= 0)
);

CREATE TABLE filing_orders (
    appid TEXT PRIMARY KEY REFERENCES mini_programs (appid),
    subject_id TEXT REFERENCES subjects (id),
    status BIGINT NOT NULL,
    sms_verify_status BIGINT NOT NULL DEFAULT 0,
    is_canceling BIGINT NOT NULL DEFAULT 0,
    cancel_type BIGINT,
    audit_data TEXT NOT NULL DEFAULT '[]',
    subject_record_number TEXT,
    service_record_number TEXT,
    versions BIGINT NOT NULL DEFAULT 0,
    submitted_at BIGINT,
    updated_at BIGINT NOT NULL,
    row_version BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX filing_orders_status ON filing_orders (status);
CREATE INDEX filing_orders_subject ON filing_orders (subject_id);

CREATE TABLE filing_versions (
    appid TEXT NOT NULL REFERENCES filing_orders (appid),
    version BIGINT NOT NULL,
    payload_enc BYTEA NOT NULL,
    submitted_at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    PRIMARY KEY (appid, version)
);

CREATE TABLE media (
    media_id TEXT PRIMARY KEY,
    appid TEXT NOT NULL,
    media_type TEXT NOT NULL,
    certificate_type BIGINT,
    icp_order_field TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX media_appid ON media (appid);

CREATE TABLE face_tasks (
    task_id TEXT PRIMARY KEY,
    appid TEXT NOT NULL,
    face_status BIGINT NOT NULL,
    is_finish BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX face_tasks_appid ON face_tasks (appid);

CREATE TABLE audit_events (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_events_entity ON audit_events (entity, entity_id);

CREATE TABLE dictionaries (
    kind TEXT NOT NULL,
    version BIGINT NOT NULL,
    data TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (kind, version)
);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
