-- $1 queue name, $2 task id, $3 due time read (NULL: any), $4 lease end,
-- $5 data, $6 exec_count.
WITH leased AS (
    UPDATE tasks SET due = $4, data = $5, exec_count = $6
    WHERE queue_id = (SELECT id FROM queues WHERE name = $1) AND id = $2
      AND ($3::bigint IS NULL OR due = $3)
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM leased)
