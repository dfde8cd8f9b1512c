-- How an import job's file is read (issue 15): the delimiter detected or
-- asked for, the encoding the upload was in, and the column mapping
-- (header -> target, a JSON object). A job resumed by another instance
-- reads its file with them again. Jobs from before keep the old format:
-- comma, UTF-8, and the exact column names, which an empty mapping means.
ALTER TABLE import_jobs ADD COLUMN delimiter TEXT NOT NULL DEFAULT 'comma';
ALTER TABLE import_jobs ADD COLUMN encoding TEXT NOT NULL DEFAULT 'utf-8';
ALTER TABLE import_jobs ADD COLUMN mapping TEXT NOT NULL DEFAULT '{}';
