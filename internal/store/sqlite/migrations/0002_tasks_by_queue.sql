-- Tasks are stored in (queue, ID) order. Generated IDs are time-ordered, so
-- each queue's tasks lie together in creation order: reading a queue's due
-- tasks, then completing them, touches a few pages instead of one page per
-- task (in rowid order, the tasks of busy queues interleave).
CREATE TABLE tasks_by_queue (
    queue_id   INTEGER NOT NULL REFERENCES queues (id),
    id         TEXT    NOT NULL,
    due        INTEGER NOT NULL,
    created    INTEGER NOT NULL,
    exec_count INTEGER NOT NULL DEFAULT 0,
    data       BLOB    NOT NULL,
    PRIMARY KEY (queue_id, id)
) WITHOUT ROWID;
INSERT INTO tasks_by_queue (queue_id, id, due, created, exec_count, data)
    SELECT queue_id, id, due, created, exec_count, data FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_by_queue RENAME TO tasks;
-- The primary key is part of every entry, so this orders each queue's tasks
-- by (due, id).
CREATE INDEX tasks_due ON tasks (queue_id, due);
