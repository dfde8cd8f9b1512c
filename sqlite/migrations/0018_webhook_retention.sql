-- Retention and account deletion of the webhook log: the hourly purge finds
-- finished deliveries by when they finished, an event's remaining
-- deliveries by its id, and deleting an account finds its events.
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (updated_at) WHERE state <> 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (org_id, env, event_id);
CREATE INDEX webhook_events_account ON webhook_events (org_id, env, account_id);
