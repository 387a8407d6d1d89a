-- Batches are counted into the per-day views after they are accepted, by the
-- roll-up, so that intake is not held up by the views; batches stored before
-- this migration were counted when they arrived.
ALTER TABLE sensor_batches ADD COLUMN rolled_up INTEGER NOT NULL DEFAULT 1;
CREATE INDEX sensor_batches_pending ON sensor_batches (id) WHERE rolled_up = 0;
