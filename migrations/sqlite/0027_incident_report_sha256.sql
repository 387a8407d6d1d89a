-- Importing a file again finds the report its bytes made the first time.
CREATE INDEX IF NOT EXISTS reports_raw_sha256 ON reports (raw_sha256);
