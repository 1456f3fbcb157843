-- At most one pending or running compression job per series, whichever
-- process (a running node, `strata compress-pending`) queued it: two
-- compressors of one series would race for its spool copies. Duplicates an
-- earlier version could leave are closed first.
UPDATE jobs SET state = 'failed', error = 'duplicate of an earlier open job'
WHERE state IN ('pending', 'running')
  AND id NOT IN (SELECT MIN(id) FROM jobs WHERE state IN ('pending', 'running') GROUP BY series);
CREATE UNIQUE INDEX jobs_one_open_per_series ON jobs(series) WHERE state IN ('pending', 'running');
