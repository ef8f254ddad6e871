"""Database work with psycopg2 and yoyo (no Typer, no Rich): every function takes one ``DbTarget``
(``ops.db.target``) and raises ``CruddurError`` with a password-free message."""
