"""The one shared mocks module: Pulumi's mock engine answering as AWS would, and recording what was declared.

``AwsMocks`` stands in for AWS only (resource creation and the provider's invokes); the Pulumi SDK and the program
run for real. Answers are realistic and deterministic: ARNs, ids and DNS names have AWS's shapes, the region is
the stack's pinned region, and ``getPolicyDocument`` renders the statements to the JSON AWS would receive.
``RecordingMonitor`` keeps every registered resource with its type, name, parent and inputs (secret-marked
inputs stay marked) so tests and ``cruddur plan`` can inspect the whole tree. Like the engine, it writes each URN
from the stack it evaluates (a program cannot rename its stack) and applies the program's transforms (a resource's
own, its parents', then the stack's) before recording what they return; what it cannot apply (a transform that
changes an option other than ``protect``, an invoke transform) it lists in ``unapplied``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks, rpc
from pulumi.runtime._callbacks import _CallbackServicer
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.sync_await import _sync_await

ACCOUNT_ID = "123456789012"
PARTITION = "aws"
SECRET_SIG = rpc._special_sig_key  # the key Pulumi uses to mark a secret-wrapped value
SECRET_MARK = rpc._special_secret_sig


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_MARK


def unwrap(value: Any) -> Any:
    """The value with every secret marker removed (the plain data a provider would receive)."""
    if is_secret(value):
        return unwrap(value["value"])
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def _digest(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def content_digest(value: Any) -> str:
    """A digest of an asset or archive's content (files read from disk), as S3 would see the uploaded bytes: the
    same content gives the same digest, any changed byte or file name another one."""
    digest = hashlib.sha256()

    def feed(item: Any) -> None:
        if isinstance(item, dict) and "assets" not in item:
            for key in sorted(item):
                digest.update(f"{key}\0".encode())
                feed(item[key])
            return
        assets = getattr(item, "assets", None)
        if assets is not None:
            feed(dict(assets))
            return
        path = getattr(item, "path", None)
        text = getattr(item, "text", None)
        if path is not None:
            with open(path, "rb") as handle:
                digest.update(handle.read())
        elif text is not None:
            digest.update(str(text).encode())
        else:
            digest.update(repr(item).encode())

    feed(value)
    return digest.hexdigest()


def mock_password(name: str, length: int) -> str:
    """A deterministic stand-in for a generated password: same charset classes pulumi-random would use."""
    body = hashlib.sha256(("password/" + name).encode()).hexdigest()
    raw = ("Pw" + body + body.upper() + "-_9")
    return raw[: max(length - 3, 1)] + "Z7-"


@dataclass
class RecordedResource:
    urn: str
    type: str
    name: str
    parent_urn: str
    custom: bool
    inputs: dict  # as the engine got them; secret values are still wrapped (see is_secret)
    state: dict = field(default_factory=dict)  # what the mocks answered (inputs + computed attributes)
    id: str = ""
    provider: str = ""  # "<provider urn>::<provider id>", empty for the default provider
    dependencies: list[str] = field(default_factory=list)  # URNs this resource explicitly depends on
    additional_secret_outputs: list[str] = field(default_factory=list)  # outputs kept secret in state
    protect: bool = False  # the `protect` resource option
    delete_before_replace: bool = False  # the `delete_before_replace` resource option
    custom_timeouts: dict = field(default_factory=dict)  # {"create"|"update"|"delete": "2h"}, only those set
    ignore_changes: list[str] = field(default_factory=list)  # the `ignore_changes` resource option
    aliases: list[str] = field(default_factory=list)  # the URNs the `aliases` option keeps (the resource's earlier ones)

    @property
    def props(self) -> dict:
        """Inputs with secret markers removed."""
        return unwrap(self.inputs)

    @property
    def outputs(self) -> dict:
        return unwrap(self.state)


# The options a transform may change that the recording applies (others make the plan refuse to judge).
_APPLIED_OPTIONS = ("protect",)
_COMPARED_OPTIONS = ("protect", "ignore_changes", "retain_on_delete", "delete_before_replace",
                     "additional_secret_outputs", "provider", "depends_on", "deleted_with")


def _callback(token: str):
    for servicer in _CallbackServicer._servicers:
        found = servicer._callbacks.get(token)
        if found is not None:
            return found
    return None


class RecordingMonitor(MockMonitor):
    """Pulumi's mock monitor, keeping each registration's parent and inputs in declaration order."""

    def __init__(self, mocks: Mocks, stack: str | None = None, project: str | None = None):
        super().__init__(mocks)
        self.recorded: list[RecordedResource] = []
        self.unapplied: list[str] = []  # what a transform did that the recording could not apply, one line each
        self._stack, self._project = stack, project
        self._transforms: dict[str, list] = {}  # URN -> its own transforms (callbacks), inherited by its children
        self._parents: dict[str, str] = {}
        self._stack_transforms_in_order: list = []  # register_resource_transform's callbacks

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The URN the engine writes: the stack and project are the deployment's, whatever the program calls them."""
        if self._stack is None or self._project is None:
            return super().make_urn(parent, type_, name)
        if parent != "":
            type_ = parent.split("::")[2].split("$").pop() + "$" + type_
        return "urn:pulumi:" + "::".join([self._stack, self._project, type_, name])

    def RegisterStackTransform(self, request):  # noqa: N802 - gRPC method name
        self._stack_transforms_in_order.append(request)
        return super().RegisterStackTransform(request)

    def RegisterStackInvokeTransform(self, request):  # noqa: N802 - gRPC method name
        self.unapplied.append("the program registers an invoke transform (register_invoke_transform), which the "
                              "mocks do not apply to the provider's functions")
        return super().RegisterStackInvokeTransform(request)

    def _transform(self, request) -> None:
        """Apply the transforms that apply to ``request`` (its own, its parents', the stack's), as the engine does."""
        urn = self.make_urn(request.parent, request.type, request.name)
        self._transforms[urn] = list(request.transforms)
        self._parents[urn] = request.parent
        chain, parent = list(request.transforms), request.parent
        while parent:
            chain += self._transforms.get(parent, [])
            parent = self._parents.get(parent, "")
        chain += self._stack_transforms_in_order
        if not chain:
            return
        options = resource_pb2.TransformResourceOptions(
            protect=request.protect, ignore_changes=list(request.ignoreChanges),
            retain_on_delete=request.retainOnDelete, provider=request.provider,
            additional_secret_outputs=list(request.additionalSecretOutputs), depends_on=list(request.dependencies))
        sent = resource_pb2.TransformResourceOptions()
        sent.CopyFrom(options)
        properties = request.object
        for callback in chain:
            function = _callback(callback.token)
            if function is None:
                self.unapplied.append(f"{request.type} '{request.name}': a transform the mocks cannot call")
                continue
            transform = resource_pb2.TransformRequest(type=request.type, name=request.name, custom=request.custom,
                                                      parent=request.parent, properties=properties, options=options)
            response = _sync_await(function(transform.SerializeToString()))
            properties = response.properties
            if response.HasField("options"):
                options = response.options
        if properties is not request.object:
            request.object.CopyFrom(properties)
        changed = [k for k in _COMPARED_OPTIONS
                   if k not in _APPLIED_OPTIONS and getattr(options, k) != getattr(sent, k)]
        if changed:
            self.unapplied.append(f"{request.type} '{request.name}': a transform changes its "
                                  f"{', '.join(changed)} option(s), which the mocks cannot apply")
        request.protect = options.protect

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        if request.type != "pulumi:pulumi:Stack":
            self._transform(request)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            urn = self.make_urn(request.parent, request.type, request.name)
            inputs = rpc.deserialize_properties(request.object, keep_internal=True)
            registration = self.resources.get(urn)
            self.recorded.append(RecordedResource(
                urn=urn, type=request.type, name=request.name, parent_urn=request.parent,
                custom=bool(request.custom), inputs=dict(inputs),
                state=dict(registration.state) if registration else {},
                id=registration.id if registration else "",
                provider=request.provider, dependencies=list(request.dependencies),
                additional_secret_outputs=list(request.additionalSecretOutputs),
                protect=bool(request.protect), delete_before_replace=bool(request.deleteBeforeReplace),
                ignore_changes=list(request.ignoreChanges),
                aliases=[self._alias_urn(alias, request) for alias in request.aliases],
                custom_timeouts={k: getattr(request.customTimeouts, k) for k in ("create", "update", "delete")
                                 if getattr(request.customTimeouts, k)},
            ))
        return response

    def _alias_urn(self, alias, request) -> str:
        """The earlier URN an alias names, computed as the engine computes it from the alias's spec."""
        if alias.urn:
            return alias.urn
        spec = alias.spec
        parent = "" if spec.noParent else (spec.parentUrn or request.parent)
        return self.make_urn(parent, spec.type or request.type, spec.name or request.name)


def render_policy(args: dict) -> str:
    """Render getPolicyDocument's statements as IAM JSON, the way the AWS provider does."""

    def one_or_many(values: list) -> Any:
        values = list(values)
        return values[0] if len(values) == 1 else values

    def principals(items: list[dict]) -> dict:
        out: dict[str, Any] = {}
        for p in items:
            ids = list(p.get("identifiers") or [])
            previous = out.get(p["type"])
            merged = ([previous] if isinstance(previous, str) else list(previous or [])) + ids
            out[p["type"]] = one_or_many(merged)
        return out

    statements = []
    for source in args.get("sourcePolicyDocuments") or []:
        statements.extend(json.loads(source).get("Statement", []))
    for st in args.get("statements") or []:
        if not st.get("actions") and not st.get("notActions"):
            # AWS rejects such a statement; it usually means a snake_case key (not_actions) that the SDK dropped.
            raise ValueError(f"policy statement without actions or notActions: {st}")
        rendered: dict[str, Any] = {}
        if st.get("sid"):
            rendered["Sid"] = st["sid"]
        rendered["Effect"] = st.get("effect") or "Allow"
        for key, name in (("actions", "Action"), ("notActions", "NotAction"),
                          ("resources", "Resource"), ("notResources", "NotResource")):
            if st.get(key):
                rendered[name] = one_or_many(st[key])
        if st.get("principals"):
            rendered["Principal"] = principals(st["principals"])
        if st.get("notPrincipals"):
            rendered["NotPrincipal"] = principals(st["notPrincipals"])
        if st.get("conditions"):
            conditions: dict[str, dict] = {}
            for c in st["conditions"]:
                conditions.setdefault(c["test"], {})[c["variable"]] = one_or_many(c["values"])
            rendered["Condition"] = conditions
        statements.append(rendered)
    return json.dumps({"Version": args.get("version") or "2012-10-17", "Statement": statements}, indent=2)


class AwsMocks(Mocks):
    """AWS as seen from one account (``ACCOUNT_ID``) in one region."""

    # The region's available zones as (name suffix, zone id), in the order AWS lists them. Names map to zone ids
    # differently in each account; a test may patch this to check that a layout depends on zone ids only.
    availability_zones: tuple[tuple[str, str], ...] = (("a", "euw1-az1"), ("b", "euw1-az2"), ("c", "euw1-az3"))

    def __init__(self, region: str):
        self.region = region

    # -- invokes ----------------------------------------------------------------------------------------------
    def call(self, args: MockCallArgs):
        token, inputs = args.token, unwrap(dict(args.args))
        region = self.region
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": f"arn:{PARTITION}:iam::{ACCOUNT_ID}:user/deployer",
                    "userId": "AIDAEXAMPLEDEPLOYER", "id": ACCOUNT_ID}
        if token == "aws:index/getRegion:getRegion":
            return {"name": region, "region": region, "id": region, "endpoint": f"ec2.{region}.amazonaws.com",
                    "description": f"Mock ({region})"}
        if token == "aws:index/getPartition:getPartition":
            return {"partition": PARTITION, "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws",
                    "id": PARTITION}
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            zones = self.availability_zones
            return {"names": [f"{region}{letter}" for letter, _ in zones],
                    "zoneIds": [zone_id for _, zone_id in zones],
                    "groupNames": [region], "state": inputs.get("state", "available"), "id": region}
        if token == "aws:iam/getPolicyDocument:getPolicyDocument":
            rendered = render_policy(inputs)
            return {"json": rendered, "minifiedJson": json.dumps(json.loads(rendered), separators=(",", ":")),
                    "id": _digest(rendered)}
        if token == "aws:ssm/getParameter:getParameter":
            name = inputs["name"]
            value = f"mock-parameter-value-of:{name}"
            return {"name": name, "value": value, "insecureValue": value, "type": "String", "version": 1,
                    "arn": f"arn:{PARTITION}:ssm:{region}::parameter{name}", "id": name, "withDecryption": True}
        if token == "aws:iam/getPolicy:getPolicy":
            name = inputs.get("name") or inputs.get("arn", "").rsplit("/", 1)[-1]
            return {"arn": inputs.get("arn") or f"arn:{PARTITION}:iam::aws:policy/{name}", "name": name,
                    "id": name}
        return {}

    # -- resources ----------------------------------------------------------------------------------------------
    def new_resource(self, args: MockResourceArgs):
        state = dict(args.inputs)
        if not args.custom:
            return "", {}
        typ, name = args.typ, args.name
        digest = _digest(typ, name)
        region, account = self.region, ACCOUNT_ID
        module = typ.split(":")[1].split("/")[0] if ":" in typ else ""

        def arn(service: str, resource: str, with_region: bool = True) -> str:
            return f"arn:{PARTITION}:{service}:{region if with_region else ''}:{account}:{resource}"

        physical = unwrap(state.get("name")) or f"{name}-{digest[:7]}"
        rid = f"{name}-{digest[:8]}"

        if typ == "random:index/randomPassword:RandomPassword":
            state["result"] = mock_password(name, int(state.get("length", 32)))
            state["bcryptHash"] = "$2a$10$" + _digest("bcrypt", name, length=53)
            rid = "none"
        elif typ == "random:index/randomId:RandomId":
            # pulumi-random draws new bytes whenever a keeper changes: the stand-in derives them from the keepers.
            raw = hashlib.sha256(("id/" + name + json.dumps(unwrap(state.get("keepers")) or {}, sort_keys=True))
                                 .encode()).digest()[: int(state.get("byteLength", 8))]
            prefix = unwrap(state.get("prefix")) or ""
            b64 = base64.urlsafe_b64encode(raw).decode().rstrip("=")
            state.update(hex=prefix + raw.hex(), dec=prefix + str(int.from_bytes(raw, "big")), b64Url=prefix + b64,
                         b64Std=prefix + base64.b64encode(raw).decode())
            rid = b64
        elif typ.startswith("pulumi:providers:"):
            rid = f"provider-{digest[:8]}"
        elif typ == "aws:kms/key:Key":
            rid = f"{digest[:8]}-{digest[8:12]}-4{digest[12:15]}-8{digest[:3]}-{digest[3:15]}"
            state.update(keyId=rid, arn=arn("kms", f"key/{rid}"))
        elif typ == "aws:kms/alias:Alias":
            rid = unwrap(state.get("name"))
            state.update(arn=arn("kms", rid))
        elif typ == "aws:ec2/vpc:Vpc":
            rid = f"vpc-{digest}"
            state.update(arn=arn("ec2", f"vpc/{rid}"), defaultSecurityGroupId=f"sg-{_digest('default', digest)}",
                         mainRouteTableId=f"rtb-{_digest('main', digest)}", ownerId=account)
        elif typ == "aws:ec2/subnet:Subnet":
            rid = f"subnet-{digest}"
            names = {zone_id: f"{region}{letter}" for letter, zone_id in self.availability_zones}
            state.update(arn=arn("ec2", f"subnet/{rid}"))
            zone = names.get(unwrap(state.get("availabilityZoneId")))
            if zone and not state.get("availabilityZone"):
                state["availabilityZone"] = zone
        elif typ in ("aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"):
            rid = f"sg-{digest}"
            state.update(arn=arn("ec2", f"security-group/{rid}"), ownerId=account)
        elif typ == "aws:ec2/routeTable:RouteTable":
            rid = f"rtb-{digest}"
        elif typ == "aws:ec2transitgateway/instanceConnectEndpoint:InstanceConnectEndpoint":
            rid = f"eice-{digest}"
            state.update(arn=arn("ec2", f"instance-connect-endpoint/{rid}"),
                         dnsName=f"{rid}.{_digest('eice', digest, length=8)}.ec2-instance-connect-endpoint."
                                 f"{region}.amazonaws.com")
        elif typ == "aws:ec2/flowLog:FlowLog":
            rid = f"fl-{digest}"
        elif typ in ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                     "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"):
            rid = f"sgr-{digest}"
            state.update(arn=arn("ec2", f"security-group-rule/{rid}"), securityGroupRuleId=rid)
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            rid = physical
            state.update(name=physical, arn=arn("logs", f"log-group:{physical}"))
        elif typ == "aws:iam/role:Role":
            rid = physical
            state.update(name=physical, arn=arn("iam", f"role/{physical}", with_region=False),
                         uniqueId=f"AROA{digest.upper()}")
        elif typ == "aws:iam/policy:Policy":
            state.update(name=physical, arn=arn("iam", f"policy/{physical}", with_region=False))
            rid = state["arn"]
        elif typ == "aws:secretsmanager/secret:Secret":
            state.update(name=physical, arn=arn("secretsmanager", f"secret:{physical}-{digest[:6]}"))
            rid = state["arn"]
        elif typ == "aws:secretsmanager/secretVersion:SecretVersion":
            rid = f"{unwrap(state.get('secretId'))}|{digest[:8]}"
            state.update(versionId=digest)
        elif typ in ("aws:rds/parameterGroup:ParameterGroup", "aws:rds/subnetGroup:SubnetGroup"):
            rid = physical
            kind = "pg" if "parameterGroup" in typ else "subgrp"
            state.update(name=physical, arn=arn("rds", f"{kind}:{physical}"))
        elif typ == "aws:rds/instance:Instance":
            identifier = unwrap(state.get("identifier")) or physical
            resource_id = "db-" + _digest("dbi", identifier, length=26).upper()
            address = f"{identifier}.c{_digest('host', account, length=11)}.{region}.rds.amazonaws.com"
            port = unwrap(state.get("port")) or 5432
            rid = resource_id
            state.update(identifier=identifier, address=address, endpoint=f"{address}:{port}", port=port,
                         resourceId=resource_id, arn=arn("rds", f"db:{identifier}"),
                         hostedZoneId="Z29XKXDKYMONMX", status="available")
            # RDS picks a zone when none is asked for: the region's first.
            state.setdefault("availabilityZone", f"{region}{self.availability_zones[0][0]}")
        elif typ == "aws:rds/proxy:Proxy":
            proxy = unwrap(state.get("name")) or physical
            rid = proxy
            state.update(name=proxy, arn=arn("rds", f"db-proxy:prx-{_digest('proxy', proxy)}"),
                         endpoint=f"{proxy}.proxy-c{_digest('host', account, length=11)}.{region}.rds.amazonaws.com")
        elif typ == "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup":
            rid = unwrap(state.get("dbProxyName")) or physical
            state.update(name="default", arn=arn("rds", f"target-group:prx-tg-{_digest('tg', rid)}"))
        elif typ == "aws:lambda/function:Function":
            state.update(name=physical, arn=arn("lambda", f"function:{physical}"),
                         invokeArn=f"arn:{PARTITION}:apigateway:{region}:lambda:path/2015-03-31/functions/"
                                   f"{arn('lambda', f'function:{physical}')}/invocations",
                         qualifiedArn=arn("lambda", f"function:{physical}:$LATEST"), version="$LATEST")
            if unwrap(state.get("publish")):  # a published function's first version, as Lambda numbers them
                state.update(qualifiedArn=arn("lambda", f"function:{physical}:1"), version="1")
            rid = physical
        elif typ == "aws:ec2/vpcEndpoint:VpcEndpoint":
            rid = f"vpce-{digest}"
            state.update(arn=arn("ec2", f"vpc-endpoint/{rid}"), ownerId=account, state="available",
                         dnsEntries=[{"dnsName": f"{rid}.{unwrap(state.get('serviceName', '')).split('.')[-1]}"
                                                 f".{region}.vpce.amazonaws.com", "hostedZoneId": "Z7HUB22UULQXV"}])
        elif typ == "aws:cognito/userPool:UserPool":
            rid = f"{region}_{_digest('pool', name, length=9)}"
            state.update(arn=arn("cognito-idp", f"userpool/{rid}"),
                         endpoint=f"cognito-idp.{region}.amazonaws.com/{rid}")
        elif typ == "aws:cognito/userPoolClient:UserPoolClient":
            rid = _digest("client", name, length=26)
        elif typ == "aws:s3/bucket:Bucket" or typ == "aws:s3/bucketV2:BucketV2":
            bucket = unwrap(state.get("bucket")) or f"{name}-{digest[:8]}"
            rid = bucket
            state.update(bucket=bucket, arn=f"arn:{PARTITION}:s3:::{bucket}",
                         bucketRegionalDomainName=f"{bucket}.s3.{region}.amazonaws.com")
        elif typ == "aws:cloudtrail/trail:Trail":
            state.update(name=physical, arn=arn("cloudtrail", f"trail/{physical}"))
            rid = state["arn"]
        elif typ == "aws:guardduty/detector:Detector":
            rid = _digest("detector", name, length=32)
            state.update(arn=arn("guardduty", f"detector/{rid}"), accountId=account)
        elif typ == "aws:lambda/layerVersion:LayerVersion":
            layer = unwrap(state.get("layerName")) or physical
            state.update(arn=arn("lambda", f"layer:{layer}:1"), layerArn=arn("lambda", f"layer:{layer}"),
                         version="1")
            rid = state["arn"]
        elif typ == "aws:s3/bucketObjectv2:BucketObjectv2":
            # A versioned bucket: each distinct content is a new object version (new upload, new signing job).
            content = content_digest(state.get("source")) if state.get("source") is not None else _digest(name)
            rid = unwrap(state.get("key")) or name
            state.update(versionId=f"v{content[:31]}", etag=content[:32],
                         arn=f"arn:{PARTITION}:s3:::{unwrap(state.get('bucket'))}/{rid}")
        elif typ == "aws:signer/signingProfile:SigningProfile":
            profile = unwrap(state.get("name")) or physical
            version = _digest("profile-version", profile, length=10)
            profile_arn = arn("signer", f"/signing-profiles/{profile}")
            state.update(name=profile, arn=profile_arn, version=version, versionArn=f"{profile_arn}/{version}",
                         status="Active", platformDisplayName="AWS Lambda",
                         revocationRecords=[])
            rid = profile
        elif typ == "aws:signer/signingJob:SigningJob":
            # Signer writes the signed copy as <prefix><job id>.zip. Every input of a job forces a new job, so the
            # stand-in id depends on them: a new upload version (or profile) gives a new signed key.
            source = unwrap(state.get("source")) or {}
            destination = unwrap(state.get("destination")) or {}
            s3 = source.get("s3") or {}
            job_id = _digest("signing-job", name, str(unwrap(state.get("profileName"))), str(s3.get("bucket")),
                             str(s3.get("key")), str(s3.get("version")), length=32)
            job_id = f"{job_id[:8]}-{job_id[8:12]}-{job_id[12:16]}-{job_id[16:20]}-{job_id[20:32]}"
            out = destination.get("s3") or {}
            signed_key = f"{out.get('prefix') or ''}{job_id}.zip"
            state.update(jobId=job_id, jobOwner=account, jobInvoker=account, status="Succeeded",
                         platformId="AWSLambda-SHA384-ECDSA", profileVersion=_digest(
                             "profile-version", str(unwrap(state.get("profileName"))), length=10),
                         signedObjects=[{"s3s": [{"bucket": out.get("bucket"), "key": signed_key}]}])
            rid = job_id
        elif typ == "aws:lambda/codeSigningConfig:CodeSigningConfig":
            config_id = f"csc-{_digest('csc', name)}"
            state.update(arn=arn("lambda", f"code-signing-config:{config_id}"), configId=config_id)
            rid = state["arn"]
        elif typ == "aws:sqs/queue:Queue":
            state.update(name=physical, arn=arn("sqs", physical),
                         url=f"https://sqs.{region}.amazonaws.com/{account}/{physical}")
            rid = state["url"]
        elif typ.startswith("aws:organizations/policy:"):
            rid = f"p-{digest[:8]}"
            state.update(arn=f"arn:{PARTITION}:organizations::{account}:policy/o-example/service_control_policy/{rid}")
        elif typ == "aws:organizations/policyAttachment:PolicyAttachment":
            rid = f"{unwrap(state.get('targetId'))}:{unwrap(state.get('policyId'))}"  # AWS's id: target:policy
        elif module:
            state.setdefault("arn", arn(module, f"{name}/{digest[:8]}"))
        return rid, state
