-- The public query finds a name equal to the query through an index, whatever the number of
-- names that merely contain it. Keep in step with ../sqlite/0006_name_forms.sql.
ALTER TABLE public_filings ADD COLUMN service_form TEXT NOT NULL DEFAULT '';
ALTER TABLE public_filings ADD COLUMN subject_form TEXT NOT NULL DEFAULT '';
UPDATE public_filings SET
    service_form = split_part(search, E'\n', 1),
    subject_form = split_part(search, E'\n', 2);
CREATE INDEX public_filings_service_form ON public_filings (service_form);
CREATE INDEX public_filings_subject_form ON public_filings (subject_form);
