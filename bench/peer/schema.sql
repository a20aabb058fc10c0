-- The peer's view of the bench's tables (python -m bench, bench/peer.py). PostGraphile
-- exposes only the schema `peer`: a view per table the board reads, scoped to the firm the
-- request names (bench.firm_id, set per request from the bearer by server.mjs, as a JWT
-- claim would be); jobs are the visible ones (ACTIVE, COMPLETED), as in our Stage.jobs.
-- Smart tags (comments) give the views the keys and relations the tables have.
DROP SCHEMA IF EXISTS peer CASCADE;
CREATE SCHEMA peer;

CREATE VIEW peer.pipeline AS
  SELECT id, name FROM public.pipeline
  WHERE firm_id = current_setting('bench.firm_id', true)::int;
COMMENT ON VIEW peer.pipeline IS E'@primaryKey id';

CREATE VIEW peer.stage AS
  SELECT id, name, position, pipeline_id FROM public.stage
  WHERE firm_id = current_setting('bench.firm_id', true)::int;
COMMENT ON VIEW peer.stage IS
  E'@primaryKey id\n@foreignKey (pipeline_id) references peer.pipeline (id)|@foreignFieldName stages|@behavior +list -connection';

CREATE VIEW peer.client AS
  SELECT id, name FROM public.client
  WHERE firm_id = current_setting('bench.firm_id', true)::int;
COMMENT ON VIEW peer.client IS E'@primaryKey id';

CREATE VIEW peer.app_user AS
  SELECT id, name FROM public.app_user
  WHERE firm_id = current_setting('bench.firm_id', true)::int;
COMMENT ON VIEW peer.app_user IS E'@primaryKey id\n@name user';

CREATE VIEW peer.job AS
  SELECT id, title, version, rank, due_date, status, stage_id, client_id, pipeline_id
  FROM public.job
  WHERE firm_id = current_setting('bench.firm_id', true)::int
    AND status IN ('ACTIVE', 'COMPLETED');
COMMENT ON VIEW peer.job IS
  E'@primaryKey id\n'
  '@foreignKey (stage_id) references peer.stage (id)|@fieldName stage|@foreignFieldName jobs\n'
  '@foreignKey (pipeline_id) references peer.pipeline (id)|@foreignFieldName jobs\n'
  '@foreignKey (client_id) references peer.client (id)|@fieldName client';

CREATE VIEW peer.task AS
  SELECT id, title, done, job_id FROM public.task
  WHERE firm_id = current_setting('bench.firm_id', true)::int;
COMMENT ON VIEW peer.task IS
  E'@primaryKey id\n@foreignKey (job_id) references peer.job (id)|@foreignFieldName tasks';

-- Job.assignees: a list of users, by name, as ours (a computed column; SQL, so inlined).
CREATE FUNCTION peer.job_assignees(j peer.job) RETURNS SETOF peer.app_user
  LANGUAGE sql STABLE AS $$
    SELECT u.* FROM peer.app_user u JOIN public.job_assignee ja ON ja.user_id = u.id
    WHERE ja.job_id = j.id ORDER BY u.name $$;
COMMENT ON FUNCTION peer.job_assignees(peer.job) IS E'@behavior -connection +list';
