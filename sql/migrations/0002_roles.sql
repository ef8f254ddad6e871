-- Login roles for the app and the Cognito post-confirmation trigger, least privilege.
-- depends: 0001_schema
--
-- Roles are cluster-wide, so this migration must be safe when several databases on one server are
-- migrated, even at the same time: creation is IF NOT EXISTS and tolerates a concurrent creator.
-- The roles get LOGIN but no password: nobody can log in with a password until an operator sets one
-- (locally: `cruddur db role-password ROLE`). On RDS they get rds_iam and log in with IAM auth tokens.

DO $roles$
DECLARE
  role_name text;
BEGIN
  FOREACH role_name IN ARRAY ARRAY['cruddur_app', 'cruddur_confirmation'] LOOP
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', role_name);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;  -- created meanwhile by a migration of another database on this server
      END;
    END IF;
    -- rds_iam exists only on RDS: there the roles authenticate with IAM tokens.
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'rds_iam')
       AND NOT pg_catalog.pg_has_role(role_name, 'rds_iam', 'MEMBER') THEN
      BEGIN
        EXECUTE format('GRANT rds_iam TO %I', role_name);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
      END;
    END IF;
  END LOOP;
END
$roles$;

-- Nobody creates objects in public but the migrating owner (already the default on PostgreSQL 15+).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO cruddur_app, cruddur_confirmation;

-- The backend: read and write the app's rows; no DDL, no TRUNCATE, nothing else.
REVOKE ALL ON users, activities FROM cruddur_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, activities TO cruddur_app;

-- The confirmation trigger: INSERT ... ON CONFLICT (cognito_user_id) DO NOTHING / DO UPDATE on users only.
REVOKE ALL ON users, activities FROM cruddur_confirmation;
GRANT SELECT, INSERT, UPDATE ON users TO cruddur_confirmation;
