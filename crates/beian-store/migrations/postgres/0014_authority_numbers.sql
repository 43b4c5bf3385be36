-- Numbers come from the authority (issue 15). The built-in simulator, standing in for it,
-- numbers each subject's services with its own counter `sim_service_seq:{subject number}`:
-- seed it with the services the platform numbered itself before.
INSERT INTO counters (name, value)
SELECT 'sim_service_seq:' || record_number, service_seq FROM subjects
WHERE record_number IS NOT NULL
ON CONFLICT (name) DO NOTHING;
