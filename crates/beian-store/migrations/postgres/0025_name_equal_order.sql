-- Names equal to a query are shown newest approval first, at most 50: with the approval time
-- and appid in the index, that is a walk of 50 index entries per name column, not a read and
-- a sort of every row of the name (thousands for a common personal name such as 梁文 at ten
-- million mini programs; beian_store::query::PublicIndex::name_equal).
-- Keep in step with ../sqlite/0025_name_equal_order.sql.
DROP INDEX IF EXISTS public_filings_service_form;
DROP INDEX IF EXISTS public_filings_subject_form;
CREATE INDEX public_filings_service_form ON public_filings (service_form, approved_at DESC, appid);
CREATE INDEX public_filings_subject_form ON public_filings (subject_form, approved_at DESC, appid);
