-- Gives tasks a new due time, data and exec_count (leases, whose due time
-- is the lease's end, and completions that retry), one per element of the
-- arrays, and returns for each, in order, whether it was written. A task is
-- written only if its due time is still the one the caller saw (NULL:
-- whatever it is). The batch holds each queue's row FOR NO KEY UPDATE
-- (lockOrder), and the writer never puts one task in two rows. Each row
-- looks up its queue by name in a subquery of its own and its task by the
-- whole primary key, so that the plan probes the indexes whatever the
-- tables' sizes were when it was made.
-- $1 queue names, $2 task ids, $3 due times seen (NULL: any), $4 new due
-- times, $5 data, $6 exec_counts.
WITH u AS (
    SELECT u.*, (SELECT id FROM queues WHERE name = u.queue) AS queue_id
    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bytea[], $6::int[])
        WITH ORDINALITY AS u (queue, id, seen, due, data, exec_count, ord)
), written AS (
    UPDATE tasks t SET due = u.due, data = u.data, exec_count = u.exec_count
    FROM u
    WHERE t.queue_id = u.queue_id AND t.id = u.id
      AND (u.seen IS NULL OR t.due = u.seen)
    RETURNING u.ord
)
SELECT written.ord IS NOT NULL FROM u LEFT JOIN written USING (ord) ORDER BY u.ord
