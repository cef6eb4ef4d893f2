-- Names and IDs compare byte-wise (COLLATE "C"), as in Cloud Tasks and in
-- the SQLite backend, whatever the database's default collation.

-- Queues keep their API form as a protobuf blob; id is what tasks refer to,
-- so a re-created queue never inherits a deleted queue's tasks.
CREATE TABLE queues (
    id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL UNIQUE,
    data BYTEA NOT NULL
);

-- Tasks keep their FULL API form as a protobuf blob. Times are microseconds
-- since the Unix epoch. due is when the dispatcher may next take the task:
-- its schedule_time, or the end of its lease while an attempt is in flight.
-- Deleting a queue cascades to its tasks; the foreign key also makes a
-- CreateTask wait for a concurrent DeleteQueue of its queue, so no task is
-- ever left without its queue.
CREATE TABLE tasks (
    queue_id   BIGINT  NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    id         TEXT COLLATE "C" NOT NULL,
    due        BIGINT  NOT NULL,
    created    BIGINT  NOT NULL,
    exec_count INTEGER NOT NULL DEFAULT 0,
    data       BYTEA   NOT NULL,
    PRIMARY KEY (queue_id, id)
);
CREATE INDEX tasks_due ON tasks (queue_id, due, id);

-- Names of deleted queues and of deleted or finished tasks, unusable until
-- expires.
CREATE TABLE tombstones (
    name    TEXT COLLATE "C" PRIMARY KEY,
    expires BIGINT NOT NULL
);
CREATE INDEX tombstones_expires ON tombstones (expires);

-- Small documents keyed by kind and name: IAM policies, CMEK configs,
-- long-running operations, signing keys.
CREATE TABLE records (
    kind  TEXT COLLATE "C" NOT NULL,
    key   TEXT COLLATE "C" NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (kind, key)
);
