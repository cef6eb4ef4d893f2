-- Deletes tasks and tombstones their names (DeleteTask, and completions
-- that end a task), one per element of the arrays, and returns for each,
-- in order, whether it was deleted. A task is deleted only if its due time
-- is still the lease's end the caller saw (NULL: whatever it is). The
-- batch holds each queue's row FOR NO KEY UPDATE (lockOrder), and the
-- writer never puts one task in two rows, so no tombstone is written twice.
-- Each row looks up its queue by name in a subquery of its own and its
-- task by the whole primary key, so that the plan probes the indexes
-- whatever the tables' sizes were when it was made.
-- $1 queue names, $2 task ids, $3 lease ends (NULL: any), $4 task names,
-- $5 tombstone expiries.
WITH u AS (
    SELECT u.*, (SELECT id FROM queues WHERE name = u.queue) AS queue_id
    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[])
        WITH ORDINALITY AS u (queue, id, lease, name, until, ord)
), gone AS (
    DELETE FROM tasks t USING u
    WHERE t.queue_id = u.queue_id AND t.id = u.id
      AND (u.lease IS NULL OR t.due = u.lease)
    RETURNING u.ord, u.name, u.until
), tomb AS (
    INSERT INTO tombstones (name, expires) SELECT name, until FROM gone
    ON CONFLICT (name) DO UPDATE SET expires = greatest(tombstones.expires, excluded.expires)
)
SELECT gone.ord IS NOT NULL FROM u LEFT JOIN gone USING (ord) ORDER BY u.ord
