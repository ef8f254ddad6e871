-- The Cruddur bootcamp's week-4 schema (the seed project's backend-flask/db/schema.sql), for benchmark 4 only.
-- No indexes besides the primary keys, no foreign keys, no checks. One change: uuid_generate_v4() (extension
-- uuid-ossp, not in the embedded PostgreSQL build) is replaced by the core gen_random_uuid(); same type and values.

DROP TABLE IF EXISTS public.users;
DROP TABLE IF EXISTS public.activities;

CREATE TABLE public.users (
  uuid UUID DEFAULT gen_random_uuid() PRIMARY KEY,
  display_name text,
  handle text,
  cognito_user_id text,
  created_at TIMESTAMP default current_timestamp NOT NULL
);

CREATE TABLE public.activities (
  uuid UUID DEFAULT gen_random_uuid() PRIMARY KEY,
  user_uuid UUID NOT NULL,
  message text NOT NULL,
  replies_count integer DEFAULT 0,
  reposts_count integer DEFAULT 0,
  likes_count integer DEFAULT 0,
  reply_to_activity_uuid integer,
  expires_at TIMESTAMP,
  created_at TIMESTAMP default current_timestamp NOT NULL
);
