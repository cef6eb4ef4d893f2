-- Takes or renews the queues assigned to node $1 for $2 microseconds:
-- those it holds already, and those whose owner's lease has run out (a
-- live owner renews long before). Returns the queues the node now holds.
-- $3 is sorted, so that nodes whose claims overlap lock rows in one order.
WITH now AS (
    SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS us
)
INSERT INTO queue_owners (queue, node, expires)
SELECT q, $1, now.us + $2 FROM unnest($3::text[]) AS q, now
ON CONFLICT (queue) DO UPDATE SET node = excluded.node, expires = excluded.expires
WHERE queue_owners.node = excluded.node
   OR queue_owners.expires < (SELECT us FROM now)
RETURNING queue
