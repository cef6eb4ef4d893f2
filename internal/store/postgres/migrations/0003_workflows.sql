-- Workflows and executions (store.WorkflowStore). Messages are stored as
-- protobuf; the other columns are what lookups need. Times are
-- microseconds since the epoch, 0 for none.
CREATE TABLE workflows (
    name TEXT COLLATE "C" PRIMARY KEY,
    data BYTEA NOT NULL
);
CREATE TABLE workflow_revisions (
    workflow TEXT COLLATE "C" NOT NULL,
    seq      BIGINT NOT NULL,
    revision TEXT COLLATE "C" NOT NULL,
    data     BYTEA NOT NULL,
    PRIMARY KEY (workflow, seq)
);
CREATE UNIQUE INDEX workflow_revisions_id ON workflow_revisions (workflow, revision);
CREATE TABLE executions (
    name     TEXT COLLATE "C" PRIMARY KEY,
    workflow TEXT COLLATE "C" NOT NULL,
    state    INTEGER NOT NULL,
    ended    BIGINT NOT NULL DEFAULT 0,
    lease    BIGINT NOT NULL DEFAULT 0,
    data     BYTEA NOT NULL
);
CREATE INDEX executions_workflow ON executions (workflow, state);
CREATE INDEX executions_lease ON executions (lease) WHERE lease > 0;
CREATE INDEX executions_ended ON executions (ended) WHERE ended > 0;
