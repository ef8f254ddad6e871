-- users.bio: the profile's free text, which the Cruddur backend reads (db/sql/users/show.sql) and writes
-- (db/sql/users/update.sql: UPDATE users SET bio = %(bio)s, display_name = %(display_name)s ...).
-- depends: 0001_schema
--
-- Nullable with no default, as the bootcamp's migration adds it (ALTER TABLE users ADD COLUMN bio text): no table
-- rewrite, existing rows read NULL, and the backend writes '' for "no bio". The check bounds its length in
-- characters. The roles' table-level grants on users (0002_roles) cover the new column: nothing to grant.
-- lock_timeout: on a busy database, fail (and roll back) rather than queue every query on users behind this ALTER.

SET LOCAL lock_timeout = '10s';

ALTER TABLE users ADD COLUMN bio text CONSTRAINT users_bio_length CHECK (char_length(bio) <= 1000);
