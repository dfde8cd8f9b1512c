-- UDF filters (issue 14): udf.<key>=<value> found through an index instead
-- of reading every account's UDF JSON.
--
-- account_udf holds one row per (account, key) whose value a filter can
-- match: a string's text, or a number's or boolean's JSON literal (the rule
-- of linkd.UDFMatch); nulls, objects and arrays match no filter and have no
-- row. The triggers derive the rows from linked_accounts.udf once per
-- statement (COPY included), so every write path keeps them right, and a
-- list reads a filter's accounts in id order from account_udf_match. A value
-- may be 4 KiB, more than a B-tree entry holds: the index keeps its first
-- 200 characters and a filter compares the whole value too.
CREATE TABLE account_udf (
	org_id     uuid NOT NULL,
	env        text NOT NULL,
	key        text NOT NULL,
	value      text NOT NULL,
	account_pk uuid NOT NULL
);
CREATE INDEX account_udf_match ON account_udf (org_id, env, key, left(value, 200), account_pk);

CREATE FUNCTION account_udf_entries(udf jsonb) RETURNS TABLE (key text, value text) LANGUAGE sql IMMUTABLE AS $$
	SELECT j.key, CASE jsonb_typeof(j.value -> 'v') WHEN 'string' THEN j.value ->> 'v' ELSE (j.value -> 'v')::text END
	FROM jsonb_each(udf) j WHERE jsonb_typeof(j.value -> 'v') IN ('string', 'number', 'boolean')
$$;

CREATE FUNCTION account_udf_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO account_udf (org_id, env, key, value, account_pk)
	SELECT n.org_id, n.env, e.key, e.value, n.id FROM new_rows n, account_udf_entries(n.udf) e;
	RETURN NULL;
END $$;

CREATE FUNCTION account_udf_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM account_udf u USING old_rows o JOIN new_rows n ON n.org_id = o.org_id AND n.env = o.env AND n.id = o.id,
		account_udf_entries(o.udf) e
	WHERE o.udf IS DISTINCT FROM n.udf AND u.org_id = o.org_id AND u.env = o.env AND u.key = e.key
		AND left(u.value, 200) = left(e.value, 200) AND u.account_pk = o.id;
	INSERT INTO account_udf (org_id, env, key, value, account_pk)
	SELECT n.org_id, n.env, e.key, e.value, n.id
	FROM old_rows o JOIN new_rows n ON n.org_id = o.org_id AND n.env = o.env AND n.id = o.id, account_udf_entries(n.udf) e
	WHERE o.udf IS DISTINCT FROM n.udf;
	RETURN NULL;
END $$;

CREATE FUNCTION account_udf_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM account_udf u USING old_rows o, account_udf_entries(o.udf) e
	WHERE u.org_id = o.org_id AND u.env = o.env AND u.key = e.key AND left(u.value, 200) = left(e.value, 200) AND u.account_pk = o.id;
	RETURN NULL;
END $$;

CREATE TRIGGER linked_accounts_udf_insert AFTER INSERT ON linked_accounts
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION account_udf_insert();
CREATE TRIGGER linked_accounts_udf_update AFTER UPDATE ON linked_accounts
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION account_udf_update();
CREATE TRIGGER linked_accounts_udf_delete AFTER DELETE ON linked_accounts
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION account_udf_delete();

INSERT INTO account_udf (org_id, env, key, value, account_pk)
SELECT a.org_id, a.env, e.key, e.value, a.id FROM linked_accounts a, account_udf_entries(a.udf) e;
