"""What an AWS API refusal means for the operator, where every `cruddur stack`/`-s STACK` call reads it alike:
expired credentials, and a caller who is not allowed."""

from __future__ import annotations

# The codes AWS answers for a caller it does not accept (STS, IAM-signed calls of every service the CLI uses).
DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException",
          "InvalidClientTokenId", "SignatureDoesNotMatch")
EXPIRED = ("ExpiredToken", "ExpiredTokenException", "RequestExpired")


def refusal(exc) -> tuple[str, bool, str | None]:
    """``(code, denied, message)`` of a botocore ``ClientError``: its error code; whether the caller was refused
    (a denied code or HTTP 403), which the caller's own message explains; and the one-line message for expired
    credentials, or None."""
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    expired = (f"your AWS credentials have expired: sign in again (e.g. `aws sso login`) and re-run ({code})"
               if code in EXPIRED else None)
    return code, code in DENIED or status == 403, expired
