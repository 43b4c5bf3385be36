-- Each posting of the public index carries its row's signature: one bit per bigram of the
-- names (beian_store::query::signature). A name search keeps only postings whose signature has
-- the bits of all the query's bigrams before it reads their rows. Postings written before this
-- migration keep 0, which every filter lets through (correct, only slower); rebuilding the
-- public index (`beian reindex-public`) fills them in.
-- Keep in step with ../postgres/0024_gram_signatures.sql.
ALTER TABLE public_filing_grams ADD COLUMN sig BIGINT NOT NULL DEFAULT 0;
