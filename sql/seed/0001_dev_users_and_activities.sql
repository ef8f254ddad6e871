-- Development seed: the Cruddur bootcamp's own examples. Idempotent: fixed keys + ON CONFLICT DO NOTHING,
-- so re-running inserts nothing new and never touches rows that already exist.
-- A seed user whose handle or email someone already holds (a developer who signed up locally as andrewbrown) is
-- skipped, and so are that user's activities and the replies to them: each activity is inserted only when its
-- author (and the activity it replies to) is there, so the seed never fails on a database people have used.
-- Never loaded into prod (the CLI refuses to seed a protected target without --force).

INSERT INTO users (uuid, display_name, handle, email, cognito_user_id) VALUES
  ('5b1a3b0e-6d4a-4c55-9a8e-0a1c2f3e4d51', 'Andrew Brown',  'andrewbrown', 'andrew@example.com', 'mock-andrewbrown'),
  ('8f2c6d1a-3b7e-4f90-8c21-1d2e3f4a5b62', 'Andrew Bayko',  'bayko',       'bayko@example.com',  'mock-bayko'),
  ('c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e73', 'Londo Mollari', 'londo',       'lmollari@example.com', 'mock-londo')
ON CONFLICT DO NOTHING;

INSERT INTO activities (uuid, user_uuid, message, expires_at)
SELECT seed.uuid, seed.user_uuid, seed.message, seed.expires_at
FROM (VALUES
  ('0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a01'::uuid, '5b1a3b0e-6d4a-4c55-9a8e-0a1c2f3e4d51'::uuid,
   'This was imported as seed data!', now() + interval '10 days'),
  ('0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a02', '8f2c6d1a-3b7e-4f90-8c21-1d2e3f4a5b62',
   'I am the other Andrew, also from the seed.', now() + interval '10 days'),
  ('0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a03', 'c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e73',
   'Lorem ipsum dolor sit amet, consectetur adipiscing elit.', NULL)
) AS seed (uuid, user_uuid, message, expires_at)
WHERE EXISTS (SELECT 1 FROM users WHERE users.uuid = seed.user_uuid)
ON CONFLICT DO NOTHING;

-- A reply, so the replies view has something to show.
INSERT INTO activities (uuid, user_uuid, message, reply_to_activity_uuid)
SELECT seed.uuid, seed.user_uuid, seed.message, seed.reply_to
FROM (VALUES
  ('0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a04'::uuid, '8f2c6d1a-3b7e-4f90-8c21-1d2e3f4a5b62'::uuid,
   'Replying to the seed data!', '0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a01'::uuid)
) AS seed (uuid, user_uuid, message, reply_to)
WHERE EXISTS (SELECT 1 FROM users WHERE users.uuid = seed.user_uuid)
  AND EXISTS (SELECT 1 FROM activities WHERE activities.uuid = seed.reply_to)
ON CONFLICT DO NOTHING;

UPDATE activities SET replies_count = (
  SELECT count(*) FROM activities AS reply WHERE reply.reply_to_activity_uuid = activities.uuid
)
WHERE uuid = '0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a01' AND replies_count = 0;
