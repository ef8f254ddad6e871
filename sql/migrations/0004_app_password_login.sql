-- cruddur_app logs in with its password (the stack's Secrets Manager secret, set by the migrator Lambda as a SCRAM
-- verifier) instead of IAM auth tokens.
-- depends: 0002_roles
--
-- On RDS a member of rds_iam can log in ONLY with an IAM token, so the app role leaves rds_iam;
-- cruddur_confirmation keeps it (the sign-up trigger signs IAM tokens). rds_iam exists only on RDS: elsewhere this
-- changes nothing. Roles are cluster-wide: when another database on the server already did it, this is a no-op.
-- A membership this migrator cannot revoke (granted by another role, or held through another role) stops the
-- migration with a message rather than leaving an app that cannot log in.

DO $app_login$
BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'rds_iam') THEN
    IF pg_catalog.pg_has_role('cruddur_app', 'rds_iam', 'MEMBER') THEN
      EXECUTE 'REVOKE rds_iam FROM cruddur_app';
      IF pg_catalog.pg_has_role('cruddur_app', 'rds_iam', 'MEMBER') THEN
        RAISE EXCEPTION 'cruddur_app is still a member of rds_iam after REVOKE rds_iam FROM cruddur_app, so it cannot log in with its password'
          USING HINT = 'find the grant (\drg cruddur_app in psql), revoke it as the master user (REVOKE rds_iam FROM cruddur_app GRANTED BY <grantor>, or from the role it comes through), then migrate again';
      END IF;
    END IF;
  END IF;
END
$app_login$;
