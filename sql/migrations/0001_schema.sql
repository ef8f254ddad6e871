-- Cruddur's schema with the app's table and column names (forward-only; never drops data).
-- Applied by yoyo in one transaction. gen_random_uuid() is core PostgreSQL (13+): no extension needed.

CREATE TABLE users (
  uuid            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  display_name    text        NOT NULL CONSTRAINT users_display_name_not_empty CHECK (display_name <> ''),
  handle          text        NOT NULL CONSTRAINT users_handle_not_empty CHECK (handle <> ''),
  email           text        NOT NULL CONSTRAINT users_email_not_empty CHECK (email <> ''),
  cognito_user_id text        NOT NULL CONSTRAINT users_cognito_user_id_key UNIQUE
                              CONSTRAINT users_cognito_user_id_not_empty CHECK (cognito_user_id <> ''),
  created_at      timestamptz NOT NULL DEFAULT now()
);

-- Handles are unique regardless of case ("AndrewBrown" and "andrewbrown" are the same person);
-- also serves the app's lookups by handle (WHERE lower(handle) = lower(%s)).
CREATE UNIQUE INDEX users_handle_lower_key ON users (lower(handle));

CREATE TABLE activities (
  uuid                   uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  user_uuid              uuid        NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
  message                text        NOT NULL CONSTRAINT activities_message_not_empty CHECK (message ~ '[^[:space:]]'),
  replies_count          integer     NOT NULL DEFAULT 0 CONSTRAINT activities_replies_count_non_negative CHECK (replies_count >= 0),
  reposts_count          integer     NOT NULL DEFAULT 0 CONSTRAINT activities_reposts_count_non_negative CHECK (reposts_count >= 0),
  likes_count            integer     NOT NULL DEFAULT 0 CONSTRAINT activities_likes_count_non_negative CHECK (likes_count >= 0),
  reply_to_activity_uuid uuid        REFERENCES activities (uuid) ON DELETE CASCADE
                                     CONSTRAINT activities_not_a_reply_to_itself CHECK (reply_to_activity_uuid <> uuid),
  expires_at             timestamptz,
  created_at             timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT activities_expires_after_created CHECK (expires_at IS NULL OR expires_at > created_at)
);

-- Home feed: ORDER BY created_at DESC LIMIT n.
CREATE INDEX activities_created_at_idx ON activities (created_at DESC);
-- Per-user timeline: WHERE user_uuid = ? ORDER BY created_at DESC (also serves the cascade from users).
CREATE INDEX activities_user_uuid_created_at_idx ON activities (user_uuid, created_at DESC);
-- Replies of an activity, oldest first (also serves the cascade from the replied-to activity).
CREATE INDEX activities_reply_to_created_at_idx ON activities (reply_to_activity_uuid, created_at)
  WHERE reply_to_activity_uuid IS NOT NULL;
