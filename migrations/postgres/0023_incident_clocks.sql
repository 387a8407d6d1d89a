-- Clocks: when an incident was first answered, since when it waits for a reply,
-- when it was closed, and what falls due next (`due_at`, `due_kind`: first_response,
-- reply or close). `due_stale` counts the changes the due time has not caught up
-- with yet: the trigger below raises it whenever the state, category, TLP or first
-- response changes, whoever wrote it, and the clock settles it (renkei_incident::
-- clocks), since the limits are the team's configuration, not the database's.
ALTER TABLE incidents ADD COLUMN first_response_at TEXT;
ALTER TABLE incidents ADD COLUMN waiting_since TEXT;
ALTER TABLE incidents ADD COLUMN closed_at TEXT;
ALTER TABLE incidents ADD COLUMN due_at TEXT;
ALTER TABLE incidents ADD COLUMN due_kind TEXT;
ALTER TABLE incidents ADD COLUMN due_stale BIGINT NOT NULL DEFAULT 1;
ALTER TABLE incidents ADD COLUMN reminded_at TEXT;
ALTER TABLE incidents ADD COLUMN escalated_at TEXT;
CREATE INDEX incidents_due ON incidents (due_at);
CREATE INDEX incidents_due_stale ON incidents (due_stale) WHERE due_stale > 0;

-- Incidents already closed keep their last change as the time they were closed.
UPDATE incidents SET closed_at = updated_at
    WHERE state IN ('resolved', 'closed', 'rejected', 'duplicate');
UPDATE incidents SET waiting_since = updated_at WHERE state = 'waiting_for_reply';

CREATE FUNCTION incidents_clock() RETURNS trigger AS $$
BEGIN
    IF NEW.state IS DISTINCT FROM OLD.state THEN
        NEW.waiting_since := CASE WHEN NEW.state = 'waiting_for_reply' THEN NEW.updated_at END;
        NEW.reminded_at := NULL;
        NEW.escalated_at := NULL;
        NEW.closed_at := CASE WHEN NEW.state IN ('resolved', 'closed', 'rejected', 'duplicate')
            THEN COALESCE(OLD.closed_at, NEW.updated_at) END;
        NEW.due_stale := OLD.due_stale + 1;
    ELSIF NEW.category IS DISTINCT FROM OLD.category OR NEW.tlp IS DISTINCT FROM OLD.tlp
        OR NEW.first_response_at IS DISTINCT FROM OLD.first_response_at THEN
        NEW.due_stale := OLD.due_stale + 1;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER incidents_clock BEFORE UPDATE ON incidents
    FOR EACH ROW EXECUTE FUNCTION incidents_clock();
