-- Tasks no longer reference their queue by a foreign key: its trigger
-- checked the queue row for every inserted task, a third of PostgreSQL's
-- work per insert. Write batches hold the queue row FOR KEY SHARE while
-- they insert its tasks, and DeleteQueue deletes the queue row and then its
-- tasks itself, so a task still never outlives its queue.
ALTER TABLE tasks DROP CONSTRAINT tasks_queue_id_fkey;
