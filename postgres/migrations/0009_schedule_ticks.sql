-- Which instance fired each period of a schedule (package worker): the
-- primary key lets exactly one instance record a period's tick.
CREATE TABLE schedule_ticks (
	name     TEXT NOT NULL,
	slot     TIMESTAMPTZ NOT NULL,
	owner    TEXT NOT NULL,
	fired_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (name, slot)
);
