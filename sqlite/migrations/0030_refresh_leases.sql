-- The refresher's cap on refreshes per token endpoint host holds across
-- instances (issue 16): a claim counts the live leases of each host that
-- background claims took (refresh_lease_claimed; a request's refresh on
-- demand is not capped, and must not hold the background refreshes of a
-- busy provider back). Writing a connection clears its lease, so the
-- leases set at any moment are a handful (those in flight and those a
-- dead process left), which this partial index finds without reading the
-- table.
ALTER TABLE connections ADD COLUMN refresh_lease_claimed INTEGER NOT NULL DEFAULT 0;
CREATE INDEX connections_refresh_leases ON connections (refresh_lease_until) WHERE refresh_lease_until IS NOT NULL;
