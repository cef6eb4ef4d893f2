-- Locks the rows of the tasks a batch will update or delete, in lock
-- order (queue name, task id): LockRows sits above the sort. Tasks that do
-- not exist are skipped.
-- $1 queue names, $2 task ids.
SELECT count(*) FROM (
    SELECT 1 FROM tasks t
    JOIN queues q ON q.id = t.queue_id
    JOIN unnest($1::text[], $2::text[]) AS u (queue, id) ON q.name = u.queue AND t.id = u.id
    ORDER BY q.name, t.id
    FOR UPDATE OF t
) AS locked
