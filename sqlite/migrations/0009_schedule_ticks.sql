-- Which instance fired each period of a schedule (package worker): the
-- primary key lets exactly one instance record a period's tick.
CREATE TABLE schedule_ticks (
	name     TEXT NOT NULL,
	slot     INTEGER NOT NULL,
	owner    TEXT NOT NULL,
	fired_at INTEGER NOT NULL,
	PRIMARY KEY (name, slot)
) WITHOUT ROWID;
