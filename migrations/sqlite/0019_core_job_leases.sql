-- One way to take shared work: a mail in the outbox is taken, like a list delivery,
-- with a lease on the database's clock (`lease_until`) instead of by the time its
-- node read on its own clock. A message some node was sending when the upgrade
-- stopped it goes back to the queue at the next pass and out again under its own
-- Message-ID, which receivers use to drop a duplicate.
ALTER TABLE outbox ADD COLUMN lease_until TEXT;
