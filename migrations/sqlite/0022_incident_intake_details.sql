-- What the seeds count about intake: the address a mail reached (a team may run
-- several, a partner's secretariat among them), and the reporter's consent to
-- mediation and to being named to the site (NULL: not asked, as for mail).
ALTER TABLE reports ADD COLUMN intake_address TEXT;
ALTER TABLE reports ADD COLUMN consent_mediation INTEGER;
ALTER TABLE reports ADD COLUMN consent_named INTEGER;
