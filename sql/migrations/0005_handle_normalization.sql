-- Handles in one normal form (issue 16): NFKC, no surrounding spaces, no invisible characters, and unique
-- case-insensitively after that normalisation, so look-alikes (NFD vs NFC, full-width letters, ligatures, a
-- trailing space) cannot become a second user beside the first, whoever writes the row.
-- depends: 0002_roles
--
-- The post-confirmation Lambda and `cruddur users sync` already store handles in this form (normalize_handle in
-- lambda/post_confirmation/handler.py, which also refuses mixed-script handles: PostgreSQL's regular expressions
-- know no Unicode scripts, so that rule lives there only).
--
-- Existing rows are kept (same uuid, same everything) and their handle is rewritten to its normal form. If that
-- would make two users share a handle, leave one empty, or an existing handle holds an invisible character, the
-- migration stops before changing anything and says what to fix (the HINT is the query that lists them).
-- normalize() needs a UTF8 database (RDS and `cruddur local` create them so) and PostgreSQL 13+.

DO $check$
DECLARE
  clashes bigint;
  empties bigint;
  invisibles bigint;
BEGIN
  SELECT count(*) INTO clashes FROM (
    SELECT 1 FROM users GROUP BY lower(normalize(btrim(handle), NFKC)) HAVING count(*) > 1) AS shared;
  IF clashes > 0 THEN
    RAISE EXCEPTION '% handle(s) belong to more than one user once normalised (NFKC, spaces trimmed, any case); '
                    'rename all but one user of each, then migrate again', clashes
      USING HINT = 'SELECT lower(normalize(btrim(handle), NFKC)) AS handle, array_agg(cognito_user_id) FROM users '
                   'GROUP BY 1 HAVING count(*) > 1';
  END IF;
  SELECT count(*) INTO empties FROM users WHERE normalize(btrim(handle), NFKC) = '';
  IF empties > 0 THEN
    RAISE EXCEPTION '% handle(s) are only spaces; give those users a handle, then migrate again', empties
      USING HINT = 'SELECT cognito_user_id FROM users WHERE btrim(handle) = ''''';
  END IF;
  SELECT count(*) INTO invisibles FROM users
   WHERE handle ~ '[\x01-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb]';
  IF invisibles > 0 THEN
    RAISE EXCEPTION '% handle(s) hold an invisible or control character; rename those users, then migrate again',
                    invisibles
      USING HINT = 'SELECT cognito_user_id FROM users WHERE handle ~ ''[\x01-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2060-\u206f\ufeff]''';
  END IF;
END
$check$;

UPDATE users SET handle = normalize(btrim(handle), NFKC) WHERE handle <> normalize(btrim(handle), NFKC);

-- Uniqueness: with every handle equal to its own NFKC form, users_handle_lower_key (0001, lower(handle)) IS the
-- unique index on lower(normalize(handle, NFKC)); a second index on that expression would only cost writes.
ALTER TABLE users
  ADD CONSTRAINT users_handle_normalized CHECK (handle = normalize(btrim(handle), NFKC)),
  ADD CONSTRAINT users_handle_visible CHECK (handle !~ '[\x01-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb]');
