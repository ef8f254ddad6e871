"""``cruddur stack check -s STACK``: read-only checks, on the real account, that each promise of a deployed stack
holds. One module per group (database, credentials, schema, signup, audit, alarms, backups, network); each check
is a function of the ``context.Context`` returning ok / FAIL with the fix / not checked with why (``result``);
``runner`` runs them and ``report`` prints them."""
