"""One cold start of the post-confirmation handler, in this fresh process (run by bench/trigger.py cold).

Prints one JSON line (exits right after: nothing else is timed): import_ms (load the handler module: psycopg2,
Powertools), first_invoke_ms (the first invocation: connect with scram-sha-256 over TCP + insert), in_process_ms
(both), and with ``--iam`` iam_path_ms: what the IAM-auth path adds on AWS (import boto3, create the RDS client, sign
an auth token: local, fake credentials, no network). TLS to RDS is not included (see bench/README.md)."""

import time

_start = time.perf_counter()

import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

HANDLER = Path(__file__).resolve().parents[1] / "lambda" / "post_confirmation" / "handler.py"


class Context:
    function_name = "cruddur-bench-post-confirmation"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:cruddur-bench-post-confirmation"
    aws_request_id = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self):
        return 5000


spec = importlib.util.spec_from_file_location("handler", HANDLER)
handler = importlib.util.module_from_spec(spec)
sys.modules["handler"] = handler
spec.loader.exec_module(handler)
handler.logger.registered_handler.stream = open(os.devnull, "w")
_imported = time.perf_counter()

sub = str(uuid.uuid4())
handle = f"cold_{sub.replace('-', '')[:16]}"
event = {
    "version": "1", "region": "eu-west-1", "userPoolId": "eu-west-1_BENCH0000", "userName": sub,
    "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "benchclient"},
    "triggerSource": "PostConfirmation_ConfirmSignUp",
    "request": {"userAttributes": {"sub": sub, "name": "Cold Start", "preferred_username": handle,
                                   "email": f"{handle}@example.com", "email_verified": "true"}},
    "response": {},
}
handler.handler(event, Context())
_invoked = time.perf_counter()

# With --iam: the IAM path's extra work on AWS (not needed with CONNECTION_URL): boto3 and a locally signed token.
if "--iam" not in sys.argv:
    print(json.dumps({"import_ms": (_imported - _start) * 1000, "first_invoke_ms": (_invoked - _imported) * 1000,
                      "in_process_ms": (_invoked - _start) * 1000, "iam_path_ms": 0.0}))
    raise SystemExit(0)
os.environ.update(AWS_ACCESS_KEY_ID="AKIABENCHBENCHBENCH0", AWS_SECRET_ACCESS_KEY="bench/secret/not/real",
                  AWS_REGION="eu-west-1")
_iam_start = time.perf_counter()
import boto3  # noqa: E402

token = boto3.client("rds", region_name="eu-west-1").generate_db_auth_token(
    DBHostname="cruddur-dev-db.abcdefghijkl.eu-west-1.rds.amazonaws.com", Port=5432,
    DBUsername="cruddur_confirmation", Region="eu-west-1")
assert token
_iam_end = time.perf_counter()

print(json.dumps({
    "import_ms": (_imported - _start) * 1000,
    "first_invoke_ms": (_invoked - _imported) * 1000,
    "in_process_ms": (_invoked - _start) * 1000,
    "iam_path_ms": (_iam_end - _iam_start) * 1000,
}))
