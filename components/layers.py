"""``Layers``: the stack's own Lambda layers (psycopg2, Powertools, yoyo), each created from its signed copy.

The zips are built from pinned wheels by ``components.psycopg2_layer`` (reproducible, cached by content). No public
layer is used: code signing is enforced, and a layer this stack's Signer profile did not sign would be refused.
Each layer is uploaded to the artifacts bucket and signed (``CodeSigning.sign``); ``source_code_hash`` (the unsigned
zip's) records which build it is, so a new build is a new layer version and an unchanged one is left alone.

The layers were first declared by the sign-up and migrator components; ``aliases`` keep those URNs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.code_signing import CodeSigning
from components.function import ARCHITECTURE, RUNTIME
from components.naming import Naming
from components.psycopg2_layer import LayerArchive


@dataclass(frozen=True)
class LayerSpec:
    key: str  # how functions ask for it: Platform.layer(key)
    what: str  # the package it carries, for the description
    archive: LayerArchive
    # (earlier resource name, earlier parent's type token, earlier parent's name): the URN to keep
    was: tuple[str, str, str]


@dataclass
class LayersArgs:
    naming: Naming
    code_signing: CodeSigning
    layers: tuple[LayerSpec, ...]


class Layers(pulumi.ComponentResource):
    arns: Mapping[str, pulumi.Output[str]]

    def __init__(self, name: str, args: LayersArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cruddur:layers:Layers", name, None, opts)
        stack, project = pulumi.get_stack(), pulumi.get_project()
        arns: dict[str, pulumi.Output[str]] = {}
        for spec in args.layers:
            old_name, old_parent_type, old_parent_name = spec.was
            old_parent = f"urn:pulumi:{stack}::{project}::{old_parent_type}::{old_parent_name}"
            signed = args.code_signing.sign(spec.key, pulumi.FileAsset(str(spec.archive.path)))  # byte for byte
            layer = aws.lambda_.LayerVersion(
                f"{name}-{spec.key}",
                layer_name=args.naming.physical_name(spec.key),
                description=f"{spec.what} for {RUNTIME} {ARCHITECTURE} (sha256 {spec.archive.sha256_hex[:12]})",
                s3_bucket=signed.bucket,
                s3_key=signed.key,
                source_code_hash=spec.archive.source_code_hash,
                compatible_runtimes=[RUNTIME],
                compatible_architectures=[ARCHITECTURE],
                opts=pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(name=old_name, parent=old_parent)]),
            )
            arns[spec.key] = layer.arn
        self.arns = arns
        self.register_outputs(dict(arns))
