-- Drills: a team rehearses with the real workflow on reports, incidents and alerts
-- marked as an exercise. They are listed apart, never counted in statistics or
-- published to the public, and their mail goes to the exercise sink instead of its
-- recipients (the outbox keeps the mark for the sender).
ALTER TABLE reports ADD COLUMN exercise INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN exercise INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN exercise INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN exercise INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN exercise INTEGER NOT NULL DEFAULT 0;
CREATE INDEX incidents_exercise ON incidents (exercise) WHERE exercise <> 0;
