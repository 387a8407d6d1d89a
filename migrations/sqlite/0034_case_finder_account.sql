-- A finder who reports while signed in follows the case from their account too:
-- the case remembers whose report it was.
ALTER TABLE cases ADD COLUMN finder_user_id INTEGER REFERENCES users (id);
CREATE INDEX cases_finder_user ON cases (finder_user_id);
