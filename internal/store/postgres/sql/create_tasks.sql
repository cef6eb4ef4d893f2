-- Creates tasks, one per element of the arrays, and returns for each, in
-- order: whether its queue exists, whether its name is tombstoned, and
-- whether it was inserted (ON CONFLICT DO NOTHING: the batch never fails
-- for an expected reason). The batch already holds each queue's row FOR
-- KEY SHARE (lockOrder), so a concurrent DeleteQueue finishes first and
-- its queue is then simply not found. Each row takes its queue's row FOR
-- KEY SHARE again (for a row the batch holds, a check of its own lock):
-- a queue made by another client after the batch's locks were taken is
-- found here too, and without the lock its deletion could commit before
-- this batch, unable to see the tasks it inserts, and leave them behind
-- (tasks have no foreign key). The writer never puts one task in
-- two rows of a statement. Each row looks up its queue and tombstone by
-- key, in subqueries of its own, so that the plan probes the indexes
-- whatever the tables' sizes were when it was made.
-- $1 queue names, $2 task names, $3 now, $4 ids, $5 due times, $6 created,
-- $7 exec_counts, $8 data.
WITH u AS (
    SELECT u.*,
        (SELECT id FROM queues WHERE name = u.queue FOR KEY SHARE) AS queue_id,
        EXISTS (SELECT 1 FROM tombstones WHERE name = u.name AND expires > u.now) AS dead
    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[],
                $6::bigint[], $7::int[], $8::bytea[])
        WITH ORDINALITY AS u (queue, name, now, id, due, created, exec_count, data, ord)
), ins AS (
    INSERT INTO tasks (queue_id, id, due, created, exec_count, data)
    SELECT queue_id, id, due, created, exec_count, data FROM u
    WHERE queue_id IS NOT NULL AND NOT dead
    ON CONFLICT (queue_id, id) DO NOTHING
    RETURNING queue_id, id
)
SELECT u.queue_id IS NOT NULL, u.dead, ins.id IS NOT NULL
FROM u LEFT JOIN ins ON ins.queue_id = u.queue_id AND ins.id = u.id
ORDER BY u.ord
