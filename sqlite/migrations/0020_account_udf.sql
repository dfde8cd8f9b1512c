-- UDF filters (issue 14): udf.<key>=<value> found through an index instead
-- of reading every account's UDF JSON.
--
-- account_udf holds one row per (account, key) whose value a filter can
-- match: a string's text, or a number's or boolean's JSON literal (the rule
-- of linkd.UDFMatch); nulls, objects and arrays match no filter and have no
-- row. The triggers derive the rows from linked_accounts.udf, so every write
-- path (API, import, delete, bulk delete) keeps them right, and a list reads
-- a filter's accounts in id order from the primary key.
CREATE TABLE account_udf (
	org_id     TEXT NOT NULL,
	env        TEXT NOT NULL,
	key        TEXT NOT NULL,
	value      TEXT NOT NULL,
	account_pk TEXT NOT NULL,
	PRIMARY KEY (org_id, env, key, value, account_pk)
) WITHOUT ROWID;

CREATE TRIGGER linked_accounts_udf_insert AFTER INSERT ON linked_accounts
WHEN new.udf <> '{}' BEGIN
	INSERT INTO account_udf (org_id, env, key, value, account_pk)
	SELECT new.org_id, new.env, j.key, CASE json_type(j.value, '$.v') WHEN 'text' THEN json_extract(j.value, '$.v') ELSE j.value -> '$.v' END, new.id
	FROM json_each(new.udf) j WHERE json_type(j.value, '$.v') IN ('text', 'integer', 'real', 'true', 'false');
END;

CREATE TRIGGER linked_accounts_udf_update AFTER UPDATE OF udf ON linked_accounts
WHEN new.udf IS NOT old.udf BEGIN
	DELETE FROM account_udf WHERE org_id = old.org_id AND env = old.env AND account_pk = old.id AND (key, value) IN (
		SELECT j.key, CASE json_type(j.value, '$.v') WHEN 'text' THEN json_extract(j.value, '$.v') ELSE j.value -> '$.v' END
		FROM json_each(old.udf) j WHERE json_type(j.value, '$.v') IN ('text', 'integer', 'real', 'true', 'false'));
	INSERT INTO account_udf (org_id, env, key, value, account_pk)
	SELECT new.org_id, new.env, j.key, CASE json_type(j.value, '$.v') WHEN 'text' THEN json_extract(j.value, '$.v') ELSE j.value -> '$.v' END, new.id
	FROM json_each(new.udf) j WHERE json_type(j.value, '$.v') IN ('text', 'integer', 'real', 'true', 'false');
END;

CREATE TRIGGER linked_accounts_udf_delete AFTER DELETE ON linked_accounts
WHEN old.udf <> '{}' BEGIN
	DELETE FROM account_udf WHERE org_id = old.org_id AND env = old.env AND account_pk = old.id AND (key, value) IN (
		SELECT j.key, CASE json_type(j.value, '$.v') WHEN 'text' THEN json_extract(j.value, '$.v') ELSE j.value -> '$.v' END
		FROM json_each(old.udf) j WHERE json_type(j.value, '$.v') IN ('text', 'integer', 'real', 'true', 'false'));
END;

INSERT INTO account_udf (org_id, env, key, value, account_pk)
SELECT a.org_id, a.env, j.key, CASE json_type(j.value, '$.v') WHEN 'text' THEN json_extract(j.value, '$.v') ELSE j.value -> '$.v' END, a.id
FROM linked_accounts a, json_each(a.udf) j WHERE json_type(j.value, '$.v') IN ('text', 'integer', 'real', 'true', 'false');
