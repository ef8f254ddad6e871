-- Alternating users for the app's password rotation (issue 13): cruddur_app stays the role that holds the app's
-- privileges (and a login role, as before); cruddur_app_clone is a second login role that inherits them by
-- membership, so either can run the app's queries. This is AWS's "alternating users" (multi-user) strategy with its
-- "<user>_clone" naming: each rotation of cruddur/<stack>/rds/app sets a new password on the user the app is NOT
-- using and switches the secret to it, so the previous user's password stays valid until the next rotation.
-- depends: 0004_app_password_login
--
-- Grants keep going to cruddur_app only (there are no default privileges: each migration that adds a table grants
-- it to cruddur_app), and the clone sees every one of them through its membership, now and for tables added later.
-- The clone gets no password here: the first rotation's setSecret sets it. It never joins rds_iam (on RDS a member
-- of rds_iam can log in only with an IAM token); it cannot SET ROLE cruddur_app nor grant cruddur_app to anyone.
-- Roles are cluster-wide: when another database on the server already created it, this is a no-op.

DO $clone$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'cruddur_app_clone') THEN
    BEGIN
      CREATE ROLE cruddur_app_clone LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;  -- created meanwhile by a migration of another database on this server
    END;
  END IF;
  IF NOT pg_catalog.pg_has_role('cruddur_app_clone', 'cruddur_app', 'USAGE') THEN
    BEGIN
      EXECUTE 'GRANT cruddur_app TO cruddur_app_clone WITH INHERIT TRUE, SET FALSE';  -- PostgreSQL 16+
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END IF;
  IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'rds_iam')
     AND pg_catalog.pg_has_role('cruddur_app_clone', 'rds_iam', 'MEMBER') THEN
    RAISE EXCEPTION 'cruddur_app_clone is a member of rds_iam, so it cannot log in with its password'
      USING HINT = 'find the grant (\drg cruddur_app_clone in psql), revoke it as the master user, then migrate again';
  END IF;
END
$clone$;
