"""The Lambda rules (who may invoke, supported runtimes, signed code, encrypted environment) and the Cognito user
pool the sign-up function serves."""

from __future__ import annotations

from .constants import (
    COGNITO_MAX_TEMPORARY_PASSWORD_DAYS,
    COGNITO_MIN_PASSWORD_LENGTH,
    COGNITO_USER_POOL,
    LAMBDA_CODE_SIGNING_CONFIG,
    LAMBDA_FUNCTION,
    LAMBDA_FUNCTION_URL,
    LAMBDA_LAYER_PERMISSION,
    LAMBDA_PERMISSION,
    SUPPORTED_RUNTIMES,
)
from .props import as_number, known, truthy
from .registry import Subject, resource_rule


@resource_rule("lambda-permission-source-arn", types=(LAMBDA_PERMISSION,),
               description="Lambda permissions name one principal and the one source (source_arn, no wildcard) that "
                           "may invoke.",
               practices=("least-privilege",))
def lambda_permission_source_arn(r: Subject) -> list[str]:
    principal = r.props.get("principal")
    if isinstance(principal, str) and principal.strip() == "*":
        return [f"{r.label} lets anyone (principal '*') invoke the function; set principal to the one service or "
                "account that may invoke it"]
    source = r.props.get("sourceArn")
    who = principal if known(principal) else "its principal"
    if known(source) and not source:
        return [f"{r.label} lets {who} invoke the function from any source; set source_arn to the one resource "
                "that may invoke it"]
    if isinstance(source, str) and ("*" in source or "?" in source):
        return [f"{r.label} lets {who} invoke the function from any source matching '{source}'; set source_arn to "
                "the one resource that may invoke it"]
    return []


@resource_rule("lambda-layer-permission-not-public", types=(LAMBDA_LAYER_PERMISSION,),
               description="Lambda layer version permissions never share a layer with everyone (principal '*' "
                           "without an organization_id).",
               practices=("no-public-access", "least-privilege"))
def lambda_layer_permission_not_public(r: Subject) -> list[str]:
    principal, organization = r.props.get("principal"), r.props.get("organizationId")
    if isinstance(principal, str) and principal.strip() == "*" and known(organization) and not organization:
        return [f"{r.label} shares the layer with every AWS account (principal '*'); name the account (or set "
                "organization_id to your organization)"]
    return []


@resource_rule("lambda-function-url-authenticated", types=(LAMBDA_FUNCTION_URL,),
               description="Lambda function URLs require IAM authorization (never authorization_type NONE).",
               practices=("no-public-access", "least-privilege"))
def lambda_function_url_authenticated(r: Subject) -> list[str]:
    kind = r.props.get("authorizationType")
    if isinstance(kind, str) and kind.strip().upper() == "NONE":
        return [f"{r.label} lets anyone on the internet invoke the function (authorization_type='NONE'); set "
                "authorization_type='AWS_IAM'"]
    return []


@resource_rule("lambda-supported-runtime", types=(LAMBDA_FUNCTION,),
               description="Lambda functions run a supported runtime (policy config supportedRuntimes, default "
                           f"{', '.join(SUPPORTED_RUNTIMES)}).",
               practices=("patched-runtimes",),
               config={"supportedRuntimes": {"type": "array", "items": {"type": "string"},
                                             "default": list(SUPPORTED_RUNTIMES)}})
def lambda_supported_runtime(r: Subject) -> list[str]:
    if r.props.get("packageType") == "Image":
        return []
    runtime = r.props.get("runtime")
    supported = tuple(r.config.get("supportedRuntimes") or SUPPORTED_RUNTIMES)
    if known(runtime) and runtime not in supported:
        return [f"{r.label} runs {runtime or 'no runtime'}, which is not a supported Lambda runtime; "
                f"use one of {', '.join(supported)}"]
    return []


@resource_rule("lambda-code-signing", types=(LAMBDA_FUNCTION,),
               description="Lambda functions (zip packages) carry a code signing config "
                           "(code_signing_config_arn), so Lambda checks every package and layer's signature.",
               practices=("signed-code",))
def lambda_code_signing(r: Subject) -> list[str]:
    if r.props.get("packageType") == "Image":
        return []  # Lambda code signing applies to zip packages only
    config = r.props.get("codeSigningConfigArn")
    if known(config) and not (isinstance(config, str) and config.strip()):
        return [f"{r.label} has no code signing config, so Lambda deploys unsigned code and layers; set "
                "code_signing_config_arn to the stack's (components/code_signing.py) and deploy the package from "
                "its signed copy (CodeSigning.sign)"]
    return []


@resource_rule("lambda-code-signing-enforced", types=(LAMBDA_CODE_SIGNING_CONFIG,),
               description="Lambda code signing configs reject untrusted code (untrusted_artifact_on_deployment "
                           "Enforce), not only warn (Warn, the default).",
               practices=("signed-code",))
def lambda_code_signing_enforced(r: Subject) -> list[str]:
    policies = r.props.get("policies")
    if not known(policies):
        return []
    action = policies.get("untrustedArtifactOnDeployment") if isinstance(policies, dict) else None
    if not known(action):
        return []
    if not (isinstance(action, str) and action.strip().lower() == "enforce"):
        shown = action if isinstance(action, str) and action else "Warn, the default"
        return [f"{r.label} deploys unsigned or untrusted code with only a warning (untrusted_artifact_on_deployment"
                f" is {shown}); set policies.untrusted_artifact_on_deployment='Enforce'"]
    return []


@resource_rule("lambda-environment-encrypted-with-cmk", types=(LAMBDA_FUNCTION,),
               description="Lambda functions with environment variables encrypt them with a customer-managed KMS "
                           "key (kms_key_arn), not the AWS-managed aws/lambda key.",
               practices=("encryption-at-rest",))
def lambda_environment_encrypted_with_cmk(r: Subject) -> list[str]:
    environment = r.props.get("environment")
    if not known(environment) or not isinstance(environment, dict):
        return []
    variables = environment.get("variables")
    if not variables:  # none (or unknown: judged when known)
        return []
    key = r.props.get("kmsKeyArn")
    if not known(key):
        return []
    if not (isinstance(key, str) and key.strip()):
        why = "kms_key_arn is unset"
    elif "alias/aws/" in key:
        why = f"kms_key_arn is {key.rsplit(':', 1)[-1]}"
    else:
        return []
    return [f"{r.label} encrypts its environment variables with the AWS-managed key ({why}); set kms_key_arn to "
            "the stack's customer-managed key"]


@resource_rule("cognito-password-policy", types=(COGNITO_USER_POOL,),
               description=f"Cognito user pools require passwords of at least {COGNITO_MIN_PASSWORD_LENGTH} "
                           "characters with lower- and upper-case letters, numbers and symbols, and temporary "
                           f"passwords that live at most {COGNITO_MAX_TEMPORARY_PASSWORD_DAYS} days.",
               practices=("strong-auth",))
def cognito_password_policy(r: Subject) -> list[str]:
    policy = r.props.get("passwordPolicy")
    if not known(policy):
        return []
    if policy is None:
        policy = {"minimumLength": 8, "requireLowercase": True, "requireNumbers": True, "requireSymbols": True,
                  "requireUppercase": True}  # what Cognito applies without a policy
    if not isinstance(policy, dict):
        return []
    problems = []
    length = policy.get("minimumLength", 8)
    if known(length):
        number = as_number(length)
        if number is None or number < COGNITO_MIN_PASSWORD_LENGTH:
            shown = repr(length) if number is None else (int(number) if number.is_integer() else number)
            problems.append(f"{r.label} accepts passwords of {shown} characters; set password_policy.minimum_length "
                            f">= {COGNITO_MIN_PASSWORD_LENGTH}")
    classes = ("lowercase", "numbers", "symbols", "uppercase")
    missing = [c for c in classes if known(policy.get(f"require{c.capitalize()}"))
               and not truthy(policy.get(f"require{c.capitalize()}"))]
    if missing:
        problems.append(f"{r.label} password policy does not require {', '.join(missing)}; set "
                        f"{', '.join('require_' + c for c in missing)}=True")
    days = policy.get("temporaryPasswordValidityDays", COGNITO_MAX_TEMPORARY_PASSWORD_DAYS)
    number = as_number(days) if known(days) else 0
    if number is None or number > COGNITO_MAX_TEMPORARY_PASSWORD_DAYS:
        shown = repr(days) if number is None else (int(number) if number.is_integer() else number)
        problems.append(f"{r.label} lets temporary passwords live {shown} days; set "
                        f"password_policy.temporary_password_validity_days <= {COGNITO_MAX_TEMPORARY_PASSWORD_DAYS}")
    return problems

