"""What an AWS API refusal means for the operator, where every `cruddur stack`/`-s STACK` call reads it alike:
expired credentials, and a caller who is not allowed."""

from __future__ import annotations

# The codes AWS answers for a caller it does not accept (STS, IAM-signed calls of every service the CLI uses).
DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException",
          "InvalidClientTokenId", "SignatureDoesNotMatch")
EXPIRED = ("ExpiredToken", "ExpiredTokenException", "RequestExpired")


def error_code(exc) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def refusal(exc, denied: str, needs: str) -> str | None:
    """The one-line message for a botocore ``ClientError`` that refuses the caller, or None for any other error:
    expired credentials, or a denied caller (a denied code or HTTP 403), told what was ``denied`` and what the
    caller ``needs`` (two permissions, granted to the operator role)."""
    code = error_code(exc)
    if code in EXPIRED:
        return f"your AWS credentials have expired: sign in again (e.g. `aws sso login`) and re-run ({code})"
    if code in DENIED or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 403:
        return (f"access denied {denied}: the caller needs {needs}: grant both to your operator role "
                f"(docs/operations.md, 'Operator access') ({code})")
    return None
