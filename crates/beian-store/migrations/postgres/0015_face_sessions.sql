-- Identity verification sessions (beian_ports::identity): the provider that ran the face
-- task's current session, the provider's session id (Tencent BizToken, Alibaba CertifyId,
-- `builtin-<task>`), when it expires, and — once decided — the outcome word
-- (passed | failed | expired), the provider's raw result code and its score, kept for
-- operators. No personal data: the name and ID number go to the provider, never here.
-- Keep in step with ../sqlite/0015_face_sessions.sql.
ALTER TABLE face_tasks ADD COLUMN provider TEXT;
ALTER TABLE face_tasks ADD COLUMN session_id TEXT;
ALTER TABLE face_tasks ADD COLUMN session_expires_at BIGINT;
ALTER TABLE face_tasks ADD COLUMN outcome TEXT;
ALTER TABLE face_tasks ADD COLUMN raw_code TEXT;
ALTER TABLE face_tasks ADD COLUMN score DOUBLE PRECISION;
