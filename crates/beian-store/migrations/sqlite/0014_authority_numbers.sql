-- Numbers come from the authority (issue 15). The built-in simulator, standing in for it,
-- numbers each subject's services with its own counter `sim_service_seq:{subject number}`:
-- seed it with the services the platform numbered itself before.
INSERT INTO counters (name, value)
SELECT 'sim_service_seq:' || record_number, service_seq FROM subjects
WHERE record_number IS NOT NULL
ON CONFLICT (name) DO NOTHING;

-- What operators must follow up (the authority refused a submission, set an inspection task,
-- revoked an access), newest first, for the staff dashboard.
CREATE INDEX authority_events_kind ON authority_events (kind, id);

-- Change filing (变更备案, issue 17): a change runs beside the filed record. `change_status`
-- is the change's stage (2, 3, 4, 5 as for a new application; 0 without a change; its SMS
-- status is `sms_verify_status`), `filed_version` the version that is the filed record.
ALTER TABLE filing_orders ADD COLUMN change_status BIGINT NOT NULL DEFAULT 0;
ALTER TABLE filing_orders ADD COLUMN filed_version BIGINT NOT NULL DEFAULT 0;
UPDATE filing_orders SET filed_version = versions WHERE status = 6;
CREATE INDEX filing_orders_change_status ON filing_orders (change_status) WHERE change_status <> 0;
