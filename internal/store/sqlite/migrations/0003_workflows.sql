-- Workflows and executions (store.WorkflowStore). Messages are stored as
-- protobuf; the other columns are what lookups need. Times are
-- microseconds since the epoch, 0 for none.
CREATE TABLE workflows (
    name TEXT NOT NULL PRIMARY KEY,
    data BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE workflow_revisions (
    workflow TEXT    NOT NULL,
    seq      INTEGER NOT NULL,
    revision TEXT    NOT NULL,
    data     BLOB    NOT NULL,
    PRIMARY KEY (workflow, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX workflow_revisions_id ON workflow_revisions (workflow, revision);
CREATE TABLE executions (
    name     TEXT    NOT NULL PRIMARY KEY,
    workflow TEXT    NOT NULL,
    state    INTEGER NOT NULL,
    ended    INTEGER NOT NULL DEFAULT 0,
    lease    INTEGER NOT NULL DEFAULT 0,
    data     BLOB    NOT NULL
) WITHOUT ROWID;
CREATE INDEX executions_workflow ON executions (workflow, state);
CREATE INDEX executions_lease ON executions (lease) WHERE lease > 0;
CREATE INDEX executions_ended ON executions (ended) WHERE ended > 0;
