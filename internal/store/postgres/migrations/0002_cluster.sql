-- Nodes of a cluster sharing this database (see cluster.go). Times here are
-- microseconds of the database's clock, never a node's, so that nodes with
-- skewed clocks agree on when a lease ends.
CREATE TABLE nodes (
    id      TEXT COLLATE "C" PRIMARY KEY,
    expires BIGINT NOT NULL
);

-- Which node dispatches each queue, until expires unless renewed. Keyed by
-- the queue's name: ownership outlives a queue's deletion and re-creation.
CREATE TABLE queue_owners (
    queue   TEXT COLLATE "C" PRIMARY KEY,
    node    TEXT COLLATE "C" NOT NULL,
    expires BIGINT NOT NULL
);
CREATE INDEX queue_owners_node ON queue_owners (node);
