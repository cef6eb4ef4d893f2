-- One statement, so that it can share a pipelined group commit: it reports
-- instead of failing. FOR KEY SHARE makes a concurrent DeleteQueue of the
-- queue finish first, after which the queue is simply not found.
-- $1 queue name, $2 task name, $3 now, $4 id, $5 due, $6 created,
-- $7 exec_count, $8 data.
WITH q AS (
    SELECT id FROM queues WHERE name = $1 FOR KEY SHARE
), dead AS (
    SELECT 1 FROM tombstones WHERE name = $2 AND expires > $3
), ins AS (
    INSERT INTO tasks (queue_id, id, due, created, exec_count, data)
    SELECT q.id, $4, $5, $6, $7, $8 FROM q WHERE NOT EXISTS (SELECT 1 FROM dead)
    ON CONFLICT (queue_id, id) DO NOTHING
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM q), EXISTS (SELECT 1 FROM dead), EXISTS (SELECT 1 FROM ins)
