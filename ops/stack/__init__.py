"""A deployed stack seen from outside: its outputs (``outputs``), the app's variables (``app_env``), and the
Cognito-to-``users`` repair (``cognito_sync``)."""
