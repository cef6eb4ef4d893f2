-- Queues keep their API form as a protobuf blob; id is what tasks refer to,
-- so a re-created queue never inherits a deleted queue's tasks.
CREATE TABLE queues (
    id   INTEGER PRIMARY KEY,
    name TEXT    NOT NULL UNIQUE,
    data BLOB    NOT NULL
);

-- Tasks keep their FULL API form as a protobuf blob. Times are microseconds
-- since the Unix epoch. due is when the dispatcher may next take the task:
-- its schedule_time, or the end of its lease while an attempt is in flight.
CREATE TABLE tasks (
    queue_id   INTEGER NOT NULL REFERENCES queues (id),
    id         TEXT    NOT NULL,
    due        INTEGER NOT NULL,
    created    INTEGER NOT NULL,
    exec_count INTEGER NOT NULL DEFAULT 0,
    data       BLOB    NOT NULL
);
CREATE UNIQUE INDEX tasks_name ON tasks (queue_id, id);
CREATE INDEX tasks_due ON tasks (queue_id, due);

-- Names of deleted queues and of deleted or finished tasks, unusable until
-- expires.
CREATE TABLE tombstones (
    name    TEXT    PRIMARY KEY,
    expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX tombstones_expires ON tombstones (expires);

-- Small documents keyed by kind and name: IAM policies, CMEK configs,
-- long-running operations, signing keys.
CREATE TABLE records (
    kind  TEXT NOT NULL,
    key   TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (kind, key)
);
