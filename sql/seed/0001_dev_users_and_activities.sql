-- Development seed: the Cruddur bootcamp's own examples. Idempotent: fixed keys + ON CONFLICT DO NOTHING,
-- so re-running inserts nothing new and never touches rows that already exist.
-- Never loaded into prod (the CLI refuses to seed a protected target without --force).

INSERT INTO users (uuid, display_name, handle, email, cognito_user_id) VALUES
  ('5b1a3b0e-6d4a-4c55-9a8e-0a1c2f3e4d51', 'Andrew Brown',  'andrewbrown', 'andrew@example.com', 'mock-andrewbrown'),
  ('8f2c6d1a-3b7e-4f90-8c21-1d2e3f4a5b62', 'Andrew Bayko',  'bayko',       'bayko@example.com',  'mock-bayko'),
  ('c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e73', 'Londo Mollari', 'londo',       'lmollari@example.com', 'mock-londo')
ON CONFLICT DO NOTHING;

INSERT INTO activities (uuid, user_uuid, message, expires_at) VALUES
  ('0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a01', '5b1a3b0e-6d4a-4c55-9a8e-0a1c2f3e4d51',
   'This was imported as seed data!', now() + interval '10 days'),
  ('0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a02', '8f2c6d1a-3b7e-4f90-8c21-1d2e3f4a5b62',
   'I am the other Andrew, also from the seed.', now() + interval '10 days'),
  ('0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a03', 'c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e73',
   'Lorem ipsum dolor sit amet, consectetur adipiscing elit.', NULL)
ON CONFLICT DO NOTHING;

-- A reply, so the replies view has something to show.
INSERT INTO activities (uuid, user_uuid, message, reply_to_activity_uuid) VALUES
  ('0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a04', '8f2c6d1a-3b7e-4f90-8c21-1d2e3f4a5b62',
   'Replying to the seed data!', '0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a01')
ON CONFLICT DO NOTHING;

UPDATE activities SET replies_count = (
  SELECT count(*) FROM activities AS reply WHERE reply.reply_to_activity_uuid = activities.uuid
)
WHERE uuid = '0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a01' AND replies_count = 0;
