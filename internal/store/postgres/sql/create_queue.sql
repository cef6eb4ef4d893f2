-- $1 name, $2 data, $3 now.
WITH dead AS (
    SELECT 1 FROM tombstones WHERE name = $1 AND expires > $3
), ins AS (
    INSERT INTO queues (name, data) SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM dead)
    ON CONFLICT (name) DO NOTHING
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM dead), EXISTS (SELECT 1 FROM ins)
