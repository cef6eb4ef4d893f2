-- Creates tasks, one per element of the arrays, and returns for each, in
-- order: whether its queue exists, whether its name is tombstoned, and
-- whether it was inserted (ON CONFLICT DO NOTHING: the batch never fails
-- for an expected reason). The batch already holds each queue's row FOR
-- KEY SHARE (lockOrder), so a concurrent DeleteQueue finishes first and
-- its queue is then simply not found. The writer never puts one task in
-- two rows of a statement.
-- $1 queue names, $2 task names, $3 now, $4 ids, $5 due times, $6 created,
-- $7 exec_counts, $8 data.
WITH u AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[],
                         $6::bigint[], $7::int[], $8::bytea[])
        WITH ORDINALITY AS u (queue, name, now, id, due, created, exec_count, data, ord)
), q AS (
    SELECT u.ord, queues.id FROM u JOIN queues ON queues.name = u.queue
), dead AS (
    SELECT u.ord FROM u JOIN tombstones t ON t.name = u.name AND t.expires > u.now
), ins AS (
    INSERT INTO tasks (queue_id, id, due, created, exec_count, data)
    SELECT q.id, u.id, u.due, u.created, u.exec_count, u.data FROM u JOIN q USING (ord)
    WHERE u.ord NOT IN (SELECT ord FROM dead)
    ON CONFLICT (queue_id, id) DO NOTHING
    RETURNING queue_id, id
)
SELECT q.ord IS NOT NULL, dead.ord IS NOT NULL, ins.id IS NOT NULL
FROM u LEFT JOIN q USING (ord) LEFT JOIN dead USING (ord)
     LEFT JOIN ins ON ins.queue_id = q.id AND ins.id = u.id
ORDER BY u.ord
