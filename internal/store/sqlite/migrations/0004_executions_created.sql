-- When each execution was created (microseconds; 0 for those stored
-- before this column, which list as the oldest), the key of
-- ListExecutionsPage: it never changes, unlike a queued execution's
-- start time.
ALTER TABLE executions ADD COLUMN created INTEGER NOT NULL DEFAULT 0;
CREATE INDEX executions_created ON executions (workflow, created, name);
