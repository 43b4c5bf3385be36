-- Capped counters (the day's apply quota, beian_store::settings::Counters::claim): a count is
-- the sum of its rows here, one per shard. On PostgreSQL a claim increments one of 16 shards,
-- so concurrent applies rarely wait on the same row lock; SQLite (one writer) uses shard 0
-- only. The quota counts kept in `counters` until now move to shard 0.
-- Keep in step with ../postgres/0022_counter_shards.sql.
CREATE TABLE counter_shards (
    name TEXT NOT NULL,
    shard BIGINT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (name, shard)
);
INSERT INTO counter_shards (name, shard, value)
SELECT name, 0, value FROM counters WHERE name LIKE 'apply:%';
DELETE FROM counters WHERE name LIKE 'apply:%';
