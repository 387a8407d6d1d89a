-- When a vendor contact was warned that its OpenPGP key expires within 30 days;
-- NULL: not yet (each key is warned of once).
ALTER TABLE vendor_contacts ADD COLUMN key_warned_at TEXT;
