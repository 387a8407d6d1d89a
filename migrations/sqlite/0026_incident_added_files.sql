-- Files added to a report after it came: by a coordinator to send with a mail, or
-- by the reporter on the status page. NULL: the file came with the report.
ALTER TABLE report_attachments ADD COLUMN added_by TEXT;
