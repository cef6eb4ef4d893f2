-- $1 queue name, $2 task id, $3 lease end (NULL: forced), $4 task name,
-- $5 tombstone expiry.
WITH gone AS (
    DELETE FROM tasks
    WHERE queue_id = (SELECT id FROM queues WHERE name = $1) AND id = $2
      AND ($3::bigint IS NULL OR due = $3)
    RETURNING 1
), tomb AS (
    INSERT INTO tombstones (name, expires) SELECT $4, $5 FROM gone
    ON CONFLICT (name) DO UPDATE SET expires = greatest(tombstones.expires, excluded.expires)
)
SELECT EXISTS (SELECT 1 FROM gone)
