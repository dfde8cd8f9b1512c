-- Workflow runs (issue 13): event definitions, executions and their nodes.
-- An execution is a row that any instance runs under a lease, one step at
-- a time; each node holds a step's input and latest output. Payloads,
-- inputs and outputs are the customer's data and go with the account.
CREATE TABLE event_defs (
	org_id      uuid        NOT NULL,
	env         text        NOT NULL,
	id          uuid        NOT NULL,
	name        text        COLLATE "C" NOT NULL,
	response    text        NOT NULL, -- the sample as given (raw_response)
	json_schema text        NOT NULL,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL,
	PRIMARY KEY (org_id, env, id),
	UNIQUE (org_id, env, name)
);

CREATE TABLE executions (
	org_id        uuid        NOT NULL,
	env           text        NOT NULL,
	id            uuid        NOT NULL,
	account_pk    uuid        NOT NULL,
	account_id    text        COLLATE "C" NOT NULL,
	slug          text        COLLATE "C" NOT NULL,
	config_id     text        COLLATE "C" NOT NULL,
	workflow_id   text        COLLATE "C" NOT NULL,
	workflow_name text        NOT NULL,
	event_id      text        NOT NULL,
	event_name    text        NOT NULL,
	source        text        NOT NULL,
	type          text        NOT NULL,
	instance_tag  text        NOT NULL,
	status        text        NOT NULL,
	payload       jsonb       NOT NULL,
	return_value  jsonb,
	error         text        NOT NULL,
	step          integer     NOT NULL,
	attempt       integer     NOT NULL,
	next_at       timestamptz NOT NULL,
	deadline      timestamptz NOT NULL,
	rerun_of      text        NOT NULL,
	lease_owner   text,
	lease_until   timestamptz,
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL,
	started_at    timestamptz,
	finished_at   timestamptz,
	PRIMARY KEY (org_id, env, id)
);
CREATE INDEX executions_due ON executions (next_at) WHERE status IN ('RUNNING', 'STOPPING');
CREATE INDEX executions_account ON executions (org_id, env, account_pk);
-- Ended runs are purged after the log retention (LINKD_LOG_RETENTION).
CREATE INDEX executions_finished ON executions (finished_at) WHERE finished_at IS NOT NULL;
-- The API lists one account's runs, newest first.
CREATE INDEX executions_account_list ON executions (org_id, env, account_id, created_at);
CREATE INDEX executions_created ON executions (org_id, env, created_at);

CREATE TABLE execution_nodes (
	org_id       uuid        NOT NULL,
	env          text        NOT NULL,
	execution_id uuid        NOT NULL,
	idx          integer     NOT NULL,
	step_id      text        NOT NULL,
	type         text        NOT NULL,
	status       text        NOT NULL,
	attempts     integer     NOT NULL,
	max_attempts integer     NOT NULL,
	input        jsonb       NOT NULL,
	output       jsonb       NOT NULL,
	error        text        NOT NULL,
	started_at   timestamptz NOT NULL,
	updated_at   timestamptz NOT NULL,
	PRIMARY KEY (org_id, env, execution_id, idx)
);
