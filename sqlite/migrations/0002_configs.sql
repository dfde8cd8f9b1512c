-- A linked account's installation of an app: its config field values and
-- workflow states (JSON, see linkd.Config). enabled_workflows is the count of
-- switched-on workflows, summed into linked_accounts.active_workflows on
-- every write so account lists show it at no cost.
CREATE TABLE configs (
	org_id            TEXT NOT NULL,
	env               TEXT NOT NULL,
	id                TEXT NOT NULL,
	account_pk        TEXT NOT NULL,
	slug              TEXT NOT NULL,
	config_id         TEXT NOT NULL,
	fields            TEXT NOT NULL DEFAULT '{}',
	workflows         TEXT NOT NULL DEFAULT '[]',
	enabled_workflows INTEGER NOT NULL DEFAULT 0,
	created_at        INTEGER NOT NULL,
	updated_at        INTEGER NOT NULL,
	PRIMARY KEY (org_id, env, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX configs_account ON configs (org_id, env, account_pk, slug, config_id);

ALTER TABLE linked_accounts ADD COLUMN active_workflows INTEGER NOT NULL DEFAULT 0;
