"""Request and response models of the registry API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from visualbox.schemas.common import Name, omitted_when_none
from visualbox.schemas.modules import ForkedFrom, Kind, Runtime

FieldType = Literal[
    "text", "password", "textarea", "number", "color", "switch", "slider", "select", "date"
]
"""``config_schema.FIELD_TYPES`` (``tests/schemas/test_registry.py`` keeps them equal)."""
Scalar = str | bool | int | float
Shape = Literal["number", "string", "boolean", "series", "table", "geo", "object"]
"""``output_contract.SHAPES`` (``tests/modules/test_output_contract.py`` keeps them equal)."""


class VersionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, max_length=64)
    changelog: str = Field("", max_length=20_000)


class ForkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field("latest", min_length=1, max_length=64)
    name: Name | None = None


class WithdrawCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="Why; shown to everyone.")
    confirm: bool = Field(False, description="Withdraw even though dashboards depend on it.")


class BlockCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=1, max_length=500, description="Why; shown to its author and its users."
    )


class VersionSummary(BaseModel):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    version: str
    yanked: bool
    created_at: datetime
    changelog: str
    withdrawn: bool = False
    """Its files are gone for good; ``withdrawn_reason`` says why."""
    withdrawn_reason: str | None = None
    withdrawn_at: datetime | None = None
    blocked: bool = False
    """An administrator blocked it: not served nor run; ``blocked_reason`` says why."""
    blocked_reason: str | None = None
    blocked_at: datetime | None = None


class SelectOptionPublic(BaseModel):
    label: str
    value: Scalar


class ConfigFieldPublic(BaseModel):
    """One normalised ``config.json`` entry (``modules/config_schema.py``, docs/modules.md);
    keys that do not apply to its type are absent."""

    type: FieldType
    name: str
    label: str
    default: Any
    required: bool
    description: str | None = omitted_when_none()
    placeholder: str | None = omitted_when_none()
    options: list[SelectOptionPublic] | None = omitted_when_none()
    min: int | float | None = omitted_when_none()
    max: int | float | None = omitted_when_none()
    step: int | float | None = omitted_when_none()


class ManifestPublic(BaseModel):
    """``visualbox.json`` as published (``modules/manifest.py``); empty once the version
    is withdrawn, and ``runtime``, ``version``, ``sample``, ``output`` and ``accepts`` are
    absent when not given."""

    name: str | None = omitted_when_none()
    kind: Kind | None = omitted_when_none()
    runtime: Runtime | None = omitted_when_none()
    description: str | None = omitted_when_none()
    tags: list[str] | None = omitted_when_none()
    version: str | None = omitted_when_none()
    sample: Any = omitted_when_none(
        "Example data: what a widget's preview shows, or what an integration outputs."
    )
    output: dict[str, Any] | bool | None = omitted_when_none(
        "An integration's declared output: a JSON Schema (read from its file when "
        "visualbox.json names one)."
    )
    accepts: list[Shape] | None = omitted_when_none(
        "The data shapes a widget draws (docs/modules.md, output contracts)."
    )


class VersionPublic(VersionSummary):
    module_id: str
    runtime: Runtime | None
    content_hash: str
    size: int
    readme: str
    config_schema: list[ConfigFieldPublic]
    manifest: ManifestPublic


class PublishWarning(BaseModel):
    """Something that looks like a secret in a published file (``modules/secrets_scan.py``)."""

    file: str
    line: int
    reason: str


class VersionPublished(VersionPublic):
    """The answer to a publication: the version and what its files seem to leak."""

    warnings: list[PublishWarning]


class Capabilities(BaseModel):
    network: Literal["none", "outbound"]
    runtime: Runtime | None


class FilesManifest(BaseModel):
    """What was published, as signed (docs/registry.md): verify the signature over this
    object as canonical JSON (sorted keys, no spaces, UTF-8)."""

    format: int
    module_id: str
    name: str
    version: str
    runtime: Runtime | None
    capabilities: Capabilities
    files: dict[str, str] = Field(description="Path → SHA-256 of the file (hex).")


class SignedManifestPublic(BaseModel):
    manifest: FilesManifest
    signature: str = Field(description="Ed25519 signature of the canonical manifest, base64.")
    algorithm: Literal["ed25519"] = "ed25519"
    key_id: str

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


class RegistryKeyPublic(BaseModel):
    """The server's registry public key: verifies every version's signed manifest."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    algorithm: Literal["ed25519"] = "ed25519"
    public_key: str = Field(description="The raw 32-byte Ed25519 public key, base64.")
    key_id: str = Field(description="The first 16 hex digits of the key's SHA-256.")


class SearchItem(BaseModel):
    id: str
    name: str
    description: str
    kind: Kind
    runtime: Runtime | None
    tags: list[str]
    cover: str | None
    owner_name: str
    latest_version: str | None
    published_at: datetime | None
    forks: int
    uses: int


class RegistryModulePublic(SearchItem):
    """A module as the registry shows it; ``versions`` lists yanked ones to managers only,
    withdrawn ones (with their reason) to everyone."""

    versions: list[VersionSummary]
    forked_from: ForkedFrom | None


class SearchPage(BaseModel):
    items: list[SearchItem]
    total: int
    page: int
    per_page: int
