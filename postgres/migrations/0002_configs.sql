-- A linked account's installation of an app: its config field values and
-- workflow states (JSON, see linkd.Config). enabled_workflows is the count of
-- switched-on workflows, summed into linked_accounts.active_workflows on
-- every write so account lists show it at no cost.
CREATE TABLE configs (
	org_id            uuid NOT NULL,
	env               text NOT NULL,
	id                uuid NOT NULL,
	account_pk        uuid NOT NULL,
	slug              text COLLATE "C" NOT NULL,
	config_id         text COLLATE "C" NOT NULL,
	fields            jsonb NOT NULL DEFAULT '{}',
	workflows         jsonb NOT NULL DEFAULT '[]',
	enabled_workflows integer NOT NULL DEFAULT 0,
	created_at        timestamptz NOT NULL,
	updated_at        timestamptz NOT NULL,
	PRIMARY KEY (org_id, env, id)
);
CREATE UNIQUE INDEX configs_account ON configs (org_id, env, account_pk, slug, config_id);

ALTER TABLE linked_accounts ADD COLUMN active_workflows integer NOT NULL DEFAULT 0;
