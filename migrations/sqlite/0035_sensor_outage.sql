-- When the team was last told that a sensor went silent: one warning per outage,
-- and a new one after the sensor has spoken again and fallen silent again.
ALTER TABLE sensors ADD COLUMN outage_warned_at TEXT;
