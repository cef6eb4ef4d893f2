-- leased_due is the due time a task had before the dispatcher leased it
-- (NULL while it is not leased), so that a restart can end every lease
-- without losing the tasks' order. It has no index: only RecoverLeases, at
-- start-up, looks for it, and an index would cost every lease and
-- completion two more B-tree writes.
ALTER TABLE tasks ADD COLUMN leased_due INTEGER;
