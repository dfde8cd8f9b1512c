-- Workflow runs (issue 13): event definitions, executions and their nodes.
-- An execution is a row that any instance runs under a lease, one step at
-- a time; each node holds a step's input and latest output. Payloads,
-- inputs and outputs are the customer's data and go with the account.
CREATE TABLE event_defs (
	org_id      TEXT    NOT NULL,
	env         TEXT    NOT NULL,
	id          TEXT    NOT NULL,
	name        TEXT    NOT NULL,
	response    TEXT    NOT NULL,
	json_schema TEXT    NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (org_id, env, id),
	UNIQUE (org_id, env, name)
);

CREATE TABLE executions (
	org_id        TEXT    NOT NULL,
	env           TEXT    NOT NULL,
	id            TEXT    NOT NULL,
	account_pk    TEXT    NOT NULL,
	account_id    TEXT    NOT NULL,
	slug          TEXT    NOT NULL,
	config_id     TEXT    NOT NULL,
	workflow_id   TEXT    NOT NULL,
	workflow_name TEXT    NOT NULL,
	event_id      TEXT    NOT NULL,
	event_name    TEXT    NOT NULL,
	source        TEXT    NOT NULL,
	type          TEXT    NOT NULL,
	instance_tag  TEXT    NOT NULL,
	status        TEXT    NOT NULL,
	payload       TEXT    NOT NULL,
	return_value  TEXT,
	error         TEXT    NOT NULL,
	step          INTEGER NOT NULL,
	attempt       INTEGER NOT NULL,
	next_at       INTEGER NOT NULL,
	deadline      INTEGER NOT NULL,
	rerun_of      TEXT    NOT NULL,
	lease_owner   TEXT,
	lease_until   INTEGER,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	started_at    INTEGER,
	finished_at   INTEGER,
	PRIMARY KEY (org_id, env, id)
);
CREATE INDEX executions_due ON executions (next_at) WHERE status IN ('RUNNING', 'STOPPING');
CREATE INDEX executions_account ON executions (org_id, env, account_pk);
-- Ended runs are purged after the log retention (LINKD_LOG_RETENTION).
CREATE INDEX executions_finished ON executions (finished_at) WHERE finished_at IS NOT NULL;
-- The API lists one account's runs, newest first.
CREATE INDEX executions_account_list ON executions (org_id, env, account_id, created_at);

CREATE TABLE execution_nodes (
	org_id       TEXT    NOT NULL,
	env          TEXT    NOT NULL,
	execution_id TEXT    NOT NULL,
	idx          INTEGER NOT NULL,
	step_id      TEXT    NOT NULL,
	type         TEXT    NOT NULL,
	status       TEXT    NOT NULL,
	attempts     INTEGER NOT NULL,
	max_attempts INTEGER NOT NULL,
	input        TEXT    NOT NULL,
	output       TEXT    NOT NULL,
	error        TEXT    NOT NULL,
	started_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	PRIMARY KEY (org_id, env, execution_id, idx)
);
CREATE INDEX executions_created ON executions (org_id, env, created_at);
