-- The host platform (issue 16): filed mini programs whose admin no longer equals the filing's
-- principal (负责人须变更), and invitations to become a member of a mini program.
-- Keep in step with ../postgres/0018_host_platform.sql.

-- One row while a filed mini program's principal must change (beian_store::host_events):
-- written when an admin change reaches a filed mini program whose filing names someone else,
-- deleted when the admin changes back or a change filing naming the admin is approved.
CREATE TABLE principal_changes (
    appid TEXT PRIMARY KEY,
    marked_at BIGINT NOT NULL       -- unix second
);

-- Invitations by e-mail (beian_store::accounts): the token is stored hashed, single use,
-- accepted by whichever account opens the link while it is valid.
CREATE TABLE member_invitations (
    token_hash TEXT PRIMARY KEY,
    appid TEXT NOT NULL,
    perm TEXT NOT NULL,             -- view | file
    invited_by TEXT NOT NULL,       -- account id of the admin
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    accepted_by TEXT,               -- account id, once accepted
    accepted_at BIGINT
);
CREATE INDEX member_invitations_appid ON member_invitations (appid, created_at);
