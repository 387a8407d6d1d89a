-- A coordinator's note on a port can name the alert that explains the traffic
-- (its number), as it names a vulnerability note or a CVE.
ALTER TABLE port_annotations ADD COLUMN alert TEXT;
