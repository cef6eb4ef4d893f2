-- leased_due is the due time a task had before the dispatcher leased it
-- (NULL while it is not leased), so that a restart can end every lease
-- without losing the tasks' order.
ALTER TABLE tasks ADD COLUMN leased_due INTEGER;
CREATE INDEX tasks_leased ON tasks (leased_due) WHERE leased_due IS NOT NULL;
