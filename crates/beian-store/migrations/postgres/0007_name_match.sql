-- The public name search checks up to a thousand candidates per query against their names and
-- ranks them by approval date: this index holds exactly those columns, so a candidate is one
-- lookup in a narrow index instead of a key lookup plus a table row.
-- Keep in step with ../sqlite/0007_name_match.sql.
CREATE INDEX public_filings_match ON public_filings (appid, search, approved_at);
