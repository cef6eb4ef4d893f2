-- Deletes the queue's tasks created before the purge time and tombstones
-- their names. $1 queue id, $2 queue name, $3 purge time, $4 tombstone
-- expiry.
WITH gone AS (
    DELETE FROM tasks WHERE queue_id = $1 AND created < $3 RETURNING id
)
INSERT INTO tombstones (name, expires)
SELECT $2 || '/tasks/' || id, $4 FROM gone
ON CONFLICT (name) DO UPDATE SET expires = greatest(tombstones.expires, excluded.expires)
