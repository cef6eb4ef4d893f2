-- $1 queue name, $2 task id, $3 task name, $4 tombstone expiry.
WITH gone AS (
    DELETE FROM tasks
    WHERE queue_id = (SELECT id FROM queues WHERE name = $1) AND id = $2
    RETURNING 1
), tomb AS (
    INSERT INTO tombstones (name, expires) SELECT $3, $4 FROM gone
    ON CONFLICT (name) DO UPDATE SET expires = greatest(tombstones.expires, excluded.expires)
)
SELECT EXISTS (SELECT 1 FROM gone)
