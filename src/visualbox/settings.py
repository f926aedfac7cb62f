"""All of VisualBox's settings: one pydantic-settings root with nested groups.

Every setting can be given as an environment variable with the ``VISUALBOX_``
prefix and ``__`` between group and field, for example
``VISUALBOX_DATABASE__URL=postgresql+psycopg://...`` or
``VISUALBOX_SANDBOX__MEMORY_MB=256``. ``docs/settings.md`` documents every one
of them; ``tests/test_settings.py`` fails when one is missing there.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path.cwd() / ".visualbox"


class _Group(BaseModel):
    """A group of settings. Unknown names are refused, so a misspelt variable such as
    ``VISUALBOX_SERVER__ENVIRONEMNT=production`` stops the start instead of being
    silently ignored (which would skip the production checks)."""

    model_config = ConfigDict(extra="forbid")


_ORIGIN_RE = re.compile(
    r"https?://[A-Za-z0-9.-]+(:\d{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?"
)


class ServerSettings(_Group):
    host: str = Field("127.0.0.1", description="Interface `visualbox serve` listens on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port `visualbox serve` listens on.")
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Server processes `visualbox serve` runs on the same ports (one per "
        "core). More than one needs a shared hub (`HUB__URL`).",
    )
    public_url: str | None = Field(
        None,
        description="URL users reach the server at, used in mailed links. "
        "Defaults to http://HOST:PORT.",
    )
    environment: Literal["development", "production"] = Field(
        "development",
        description="`production` refuses insecure defaults (for example an "
        "unsandboxed runner or a non-HTTPS public URL for cookies).",
    )


class DatabaseSettings(_Group):
    url: str | None = Field(
        None,
        description="SQLAlchemy URL. Empty means SQLite at DATA_DIR/visualbox.db; "
        "for PostgreSQL use `postgresql+psycopg://user:pass@host/db`.",
    )
    echo: bool = Field(False, description="Log every SQL statement (debugging only).")


class SandboxSettings(_Group):
    backend: Literal["bwrap", "runsc", "none"] = Field(
        "bwrap",
        description="`bwrap` (bubblewrap, the default), `runsc` (gVisor, hardened) or "
        "`none` (no isolation; refused unless ALLOW_UNSANDBOXED is true).",
    )
    allow_unsandboxed: bool = Field(
        False,
        description="Explicit opt-in to run integrations without a sandbox "
        "(development only; never in production).",
    )
    memory_mb: int = Field(256, ge=16, description="Memory limit per integration, MiB.")
    cpu: float = Field(0.5, gt=0, le=64, description="CPU share per integration, in cores.")
    pids: int = Field(64, ge=4, description="Maximum processes/threads per integration.")
    disk_mb: int = Field(64, ge=1, description="Size cap of an integration's writable dirs, MiB.")
    nofile: int = Field(256, ge=16, description="Maximum open files per integration.")
    prepare_timeout_s: float = Field(
        300, gt=0, description="Time limit of a prepare step (dependency install), seconds."
    )
    prepare_memory_mb: int = Field(1024, ge=64, description="Memory limit while preparing, MiB.")
    prepare_disk_mb: int = Field(
        1024,
        ge=8,
        description="Size cap of what a prepare may write (its /deps and its /tmp, each a "
        "tmpfs in memory), MiB; a prepare that writes more fails and nothing is cached.",
    )
    cache_max_mb: int = Field(
        4096,
        ge=1,
        description="Total size of the prepared-dependency cache, MiB; past it, the least "
        "recently used entries that no running integration uses are deleted.",
    )
    output_max_bytes: int = Field(
        1 << 20, ge=1024, description="Largest accepted output() message, bytes."
    )
    output_rate: float = Field(
        200, gt=0, description="Sustained output() messages per second per integration."
    )
    output_burst: int = Field(400, ge=1, description="Burst of output() messages allowed.")
    network: Literal["outbound", "none"] = Field(
        "outbound", description="Default network of a run: `outbound` (slirp4netns) or `none`."
    )
    allow_host_ports: list[int] = Field(
        default_factory=list,
        description="Host loopback TCP ports integrations may reach (as 10.0.2.2:PORT). "
        "JSON list, e.g. `[1883, 8080]`.",
    )
    allow_networks: list[str] = Field(
        default_factory=list,
        description="LAN hosts or IPv4 subnets integrations may reach besides the internet "
        '(private ranges are blocked otherwise), e.g. `["192.168.1.0/24"]`. The host\'s own '
        "addresses stay blocked; loopback, link-local and 10.0.2.0/24 are refused.",
    )

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        from visualbox.runtime.sandbox.network import parse_allowed_network

        return [str(parse_allowed_network(text)) for text in value]

    cache_dir: Path | None = Field(
        None, description="Prepared-dependency cache. Defaults to DATA_DIR/cache."
    )
    host_uid: int = Field(
        65534,
        ge=1,
        lt=1 << 32,
        description="Host uid the `bwrap` sandbox runs as when VisualBox runs as root "
        "(never root itself). Default 65534 (`nobody`); a dedicated uid that no other host "
        "process uses is better. Ignored when VisualBox is not root.",
    )
    host_gid: int = Field(
        65534,
        ge=1,
        lt=1 << 32,
        description="Host gid the `bwrap` sandbox runs as when VisualBox runs as root "
        "(never root itself). Default 65534 (`nogroup`).",
    )
    runsc_platform: Literal["ptrace", "kvm", "systrap"] = Field(
        "ptrace",
        description="gVisor platform of the `runsc` backend (`ptrace` works everywhere; "
        "`systrap` needs a newer runsc than Debian 12's).",
    )
    log_rate: float = Field(
        100, gt=0, description="Sustained log lines (stdout/stderr) per second per integration."
    )
    log_burst: int = Field(200, ge=1, description="Burst of log lines allowed.")
    python_index_url: str | None = Field(
        None,
        description="Python package index used when preparing requirements.txt "
        "(a PEP 503 simple URL). Empty: uv's default (PyPI).",
    )
    npm_registry: str | None = Field(
        None, description="npm registry used when preparing package.json. Empty: npm's default."
    )
    ca_bundle: Path | None = Field(
        None,
        description="PEM file of extra certificate authorities that integrations and their "
        "prepare step trust besides the host's system store (a TLS-inspecting proxy's CA, "
        "an internal package registry's). Empty: the system store only.",
    )

    @field_validator("ca_bundle")
    @classmethod
    def _ca_bundle(cls, value: Path | None) -> Path | None:
        from visualbox.runtime.sandbox.certificates import read_bundle

        if value is not None:
            value = value.expanduser().resolve()
            read_bundle(value)
        return value


class RunnerSettings(_Group):
    """Where integrations run (docs/kubernetes.md): this machine's sandbox, or pods."""

    backend: Literal["local", "kubernetes"] = Field(
        "local",
        description="`local`: in this node's sandbox (SANDBOX__BACKEND). `kubernetes`: one "
        "pod per instance in RUNNER__NAMESPACE (docs/kubernetes.md).",
    )
    namespace: str = Field(
        "visualbox-integrations", description="Kubernetes namespace the integration pods run in."
    )
    images: dict[str, str] = Field(
        default_factory=lambda: {
            "python": "visualbox/runtime-python:1",
            "node": "visualbox/runtime-node:1",
            "go": "visualbox/runtime-go:1",
        },
        description="Container image per runtime (`python`, `node`, `go`), JSON object.",
    )
    runtime_class: str = Field(
        "gvisor",
        description="`runtimeClassName` of integration pods (a RuntimeClass of gVisor's "
        "`runsc` is recommended); empty for the cluster's default runtime.",
    )
    warm_pool: int = Field(
        0,
        ge=0,
        le=50,
        description="Idle pods per runtime this node keeps waiting for work, so that an "
        "instance starts without scheduling and pulling an image.",
    )
    callback_url: str | None = Field(
        None,
        description="`ws://` or `wss://` URL at which pods reach *this* node "
        "(each node its own, e.g. its pod's DNS name); required with `kubernetes`.",
    )
    kubeconfig: Path | None = Field(
        None,
        description="Kubeconfig file of the cluster; empty: the in-cluster service account "
        "when the server runs in a pod, else $KUBECONFIG or ~/.kube/config.",
    )
    node_name: str | None = Field(
        None,
        description="Label of this node's pods (stable across restarts: a restarted node "
        "deletes the pods of its previous run). Empty: the host name.",
    )
    pod_start_timeout_s: float = Field(
        180,
        gt=0,
        description="A pod that has not connected back within this many seconds is "
        "deleted and its run counts as crashed (then restarted with back-off).",
    )

    @field_validator("callback_url")
    @classmethod
    def _ws_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("ws://", "wss://")):
            raise ValueError("must be a ws:// or wss:// URL, or empty")
        return value.rstrip("/") or None if value else None


class MailSettings(_Group):
    smtp_host: str | None = Field(
        None, description="SMTP server. Empty: links are written to the server log instead."
    )
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port.")
    smtp_username: str | None = Field(None, description="SMTP user name.")
    smtp_password: str | None = Field(None, description="SMTP password.")
    smtp_starttls: bool = Field(True, description="Use STARTTLS.")
    sender: str = Field("VisualBox <visualbox@localhost>", description="From address of mail.")
    smtp_timeout_s: float = Field(
        10, gt=0, description="Time limit of one mail delivery (connect to QUIT), seconds."
    )


class AccountSettings(_Group):
    signup_open: bool = Field(True, description="Anyone may sign up.")
    session_days: int = Field(30, ge=1, description="Lifetime of a sign-in session, days.")
    signin_attempts: int = Field(
        5,
        ge=1,
        description="Failed sign-ins (or two-factor codes) from one client address for one "
        "account before each further try must wait SIGNIN_DELAY_S, doubling up to "
        "SIGNIN_MAX_DELAY_S. Other addresses are not slowed down.",
    )
    signin_client_attempts: int = Field(
        30,
        ge=1,
        description="Failed sign-ins from one client address across all accounts before its "
        "tries must wait (password spraying).",
    )
    signin_account_attempts: int = Field(
        100,
        ge=1,
        description="Failed sign-ins for one account from all addresses together before its "
        "tries must wait (distributed guessing); never a lock, only growing waits.",
    )
    signin_delay_s: float = Field(
        1, gt=0, description="First wait once the free failures are used, seconds."
    )
    signin_max_delay_s: float = Field(
        60, gt=0, description="Longest wait between sign-in tries, seconds."
    )
    signin_window_s: float = Field(
        900, gt=0, description="Failed sign-ins older than this are forgotten, seconds."
    )
    require_2fa_for_admins: bool = Field(
        False,
        description="Administrators must use two-factor sign-in: one without it may sign in "
        "but only reach their account page until they set it up (API tokens still work).",
    )
    sample_dashboard: bool = Field(
        True,
        description="The first account gets a live sample dashboard (a simulated device "
        "shown by the built-in widgets).",
    )


class SecuritySettings(_Group):
    secrets_key: str | None = Field(
        None,
        description="Key that encrypts secret config values (Fernet, urlsafe base64). "
        "Empty: generated once into DATA_DIR/secrets.key. Every node of a multi-node "
        "deployment must use the same key.",
    )
    old_secrets_keys: list[str] = Field(
        default_factory=list,
        description="Earlier keys, still accepted for decryption while values are "
        "re-encrypted with SECRETS_KEY (key rotation). JSON list.",
    )
    registry_key: str | None = Field(
        None,
        description="Ed25519 private key (32 bytes, base64) that signs the manifest of "
        "every published version. Empty: generated once into DATA_DIR/registry.key. Every "
        "node must use the same key; a lost key makes published versions refuse to start.",
    )


class LiveSettings(_Group):
    idle_timeout_s: float = Field(
        60,
        gt=0,
        description="A dashboard's integrations stop this long after its last viewer "
        "left or stopped ticking (unless an instance is set to keep running).",
    )
    viewer_queue: int = Field(
        256,
        ge=8,
        description="Messages waiting for one slow viewer before its log lines are "
        "dropped (outputs are coalesced to the latest value per instance instead).",
    )
    log_lines: int = Field(
        200, ge=0, description="Recent log lines kept per instance for owners who join."
    )
    dev_log_lines: int = Field(
        1000, ge=0, description="Log lines kept per development-console run."
    )
    run_token_ttl_s: int = Field(
        600, ge=10, description="Lifetime of a run token (the right to fetch a source)."
    )
    flush_interval_s: float = Field(
        1.0, gt=0, description="How often the last values are written to the database."
    )
    client_message_bytes: int = Field(
        65536, ge=1024, description="Largest message a WebSocket client may send."
    )
    restart_backoff_max_s: float = Field(
        60, gt=0, description="Longest wait before restarting a crashed instance."
    )
    lease_ttl_s: float = Field(
        10,
        ge=2,
        le=300,
        description="With a shared hub: how long a node's lease on a dashboard lasts "
        "unless renewed (every third of it). A node that dies loses its dashboards to "
        "another node with viewers after at most this long plus one renewal.",
    )


class HubSettings(_Group):
    """Where live rooms live (docs/deployment.md, "The Redis hub")."""

    url: str | None = Field(
        None,
        description="Empty: rooms live in this server process (one process). A Redis URL "
        "(`redis://host:6379/0`, `rediss://` for TLS, `unix:///run/redis/redis.sock`): rooms "
        "are shared by every server process and node using that Redis.",
    )

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL, or empty")
        return value or None


class HistorySettings(_Group):
    """What integrations output, kept as time series (docs/history.md)."""

    enabled: bool = Field(
        True, description="Record the values widgets bind to (and whole outputs where asked)."
    )
    raw_days: float = Field(10, ge=0, description="Days every recorded value is kept (0: forever).")
    minute_days: float = Field(
        90, ge=0, description="Days the 1-minute min/max/mean/last rollups are kept (0: forever)."
    )
    hour_days: float = Field(0, ge=0, description="Days the 1-hour rollups are kept (0: forever).")
    flush_interval_s: float = Field(
        1.0, gt=0, description="How often recorded values are written, in one transaction."
    )
    max_rate: float = Field(
        100,
        ge=0,
        description="Outputs of one instance recorded per second at most (0: every one). "
        "Of a faster burst the last output of each 1/max_rate s is recorded; the live view "
        "still shows every output.",
    )
    buffer: int = Field(
        100_000,
        ge=1,
        description="Outputs waiting to be recorded at most; beyond it (a slow disk) new "
        "ones are not recorded (they are still relayed) and the owner's log says so.",
    )
    value_bytes: int = Field(
        4096,
        ge=16,
        le=1 << 20,
        description="Largest value recorded, as JSON text (strings, objects, arrays, a whole "
        "output); larger ones are skipped.",
    )
    prune_interval_s: float = Field(
        3600, gt=0, description="How often values older than their retention are deleted."
    )


class DashboardGroupSettings(_Group):
    """Dashboards (docs/dashboards.md)."""

    versions_kept: int = Field(
        100,
        ge=1,
        description="Versions kept per dashboard (every save makes one); the oldest beyond "
        "this are deleted at the next save.",
    )


class AlertSettings(_Group):
    """Alert rules on a dashboard's data (docs/alerts.md)."""

    interval_s: float = Field(
        5.0,
        gt=0,
        description="How often rules are checked for a `for` duration that has passed, data "
        "that stopped coming, and changed rules; also how often pending notifications are "
        "looked for.",
    )
    rules_per_dashboard: int = Field(20, ge=0, description="Alert rules per dashboard.")
    notifications_per_hour: int = Field(
        20,
        ge=0,
        description="Times one rule may notify (fires or resolves, each telling all its "
        "addresses and its webhook) per hour; beyond it the rule's history still records "
        "its changes, marked not notified.",
    )
    delivery_attempts: int = Field(
        12, ge=1, description="Tries to deliver a notification before it is given up (logged)."
    )
    retry_s: float = Field(
        5.0,
        gt=0,
        description="Wait before the first retry of a failed delivery; it doubles with every "
        "try, to at most an hour.",
    )
    webhook_timeout_s: float = Field(
        10.0, gt=0, le=120, description="Deadline of one webhook request, seconds."
    )
    webhook_allow_private: bool = Field(
        False,
        description="Allow webhooks to private and loopback addresses (a webhook on your own "
        "network). Link-local and cloud metadata addresses are always refused.",
    )


MIB = 1 << 20


class QuotaSettings(_Group):
    """What one account may have and use; an administrator may override any of them per
    account (``PUT /api/users/{id}/quotas``). The system account (built-in modules) is
    exempt. See docs/quotas.md."""

    dashboards: int = Field(100, ge=0, description="Dashboards per account.")
    modules: int = Field(200, ge=0, description="Modules (working copies) per account.")
    instances_per_dashboard: int = Field(
        20, ge=0, le=100, description="Integration instances on one dashboard (at most 100)."
    )
    keep_running: int = Field(
        5,
        ge=0,
        description="Integration instances set to keep running, over all of an account's "
        "dashboards.",
    )
    sandboxes: int = Field(
        10,
        ge=0,
        description="Integration instances of one account running at once (dashboards and "
        "development console); the next ones do not start and say why.",
    )
    output_bytes_per_s: int = Field(
        MIB,
        ge=1024,
        description="Output bytes per second of all of an account's integrations; beyond it "
        "their outputs are slowed down (read no faster), never anyone else's.",
    )
    module_bytes: int = Field(
        200 * MIB,
        ge=0,
        description="Bytes of module files and published versions stored per account.",
    )
    snapshots: int = Field(
        50, ge=0, description="Dashboard snapshots (frozen copies over a time range) per account."
    )
    snapshot_bytes: int = Field(
        50 * MIB,
        ge=0,
        description="Bytes of all of an account's dashboard snapshots together (their layout "
        "and recorded series).",
    )
    history_bytes: int = Field(
        1 << 30,
        ge=0,
        description="Bytes of recorded history (raw values) of all of an account's dashboards; "
        "beyond it their values are no longer recorded (still relayed) and the owner's log "
        "says so.",
    )


class FrameSettings(_Group):
    origin: str | None = Field(
        None,
        description="Origin widget frames and module files are served from, never the app's "
        "own: `http(s)://host[:port]`, for example `https://frames.example.org` behind a "
        "reverse proxy (docs/deployment.md). Empty means the public URL's host on "
        "FRAMES__PORT.",
    )
    port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Second port `visualbox serve` listens on, for the frames origin. "
        "Empty means SERVER__PORT + 1.",
    )
    img_sources: list[str] = Field(
        default_factory=list,
        description="Origins widgets may load images from besides VisualBox itself, for "
        'example map tiles: JSON list such as `["https://tile.openstreetmap.org"]`. '
        "Each is `http(s)://host[:port]`. Images can carry data out, so list only "
        "servers you trust with what your widgets show.",
    )

    @field_validator("origin")
    @classmethod
    def _origin(cls, value: str | None) -> str | None:
        if value is not None:
            value = value.rstrip("/")
            if not _ORIGIN_RE.fullmatch(value):
                raise ValueError(f"{value!r} is not an origin such as https://frames.example.org")
        return value or None

    @field_validator("img_sources")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not _ORIGIN_RE.fullmatch(origin):
                raise ValueError(f"{origin!r} is not an origin such as https://tiles.example.org")
        return value


class TeamSettings(_Group):
    """Teams (docs/teams.md). The counts are quotas, the same for every account."""

    per_user: int = Field(20, ge=0, description="Teams one account may belong to.")
    members: int = Field(50, ge=1, description="Members of one team, pending invitations included.")
    invitation_hours: int = Field(
        168, ge=1, description="How long an invitation link works, in hours."
    )


class Settings(BaseSettings):
    """The root of every setting."""

    model_config = SettingsConfigDict(
        env_prefix="VISUALBOX_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where VisualBox keeps its database, keys and caches.",
    )
    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    runner: RunnerSettings = Field(default_factory=RunnerSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    accounts: AccountSettings = Field(default_factory=AccountSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    live: LiveSettings = Field(default_factory=LiveSettings)
    hub: HubSettings = Field(default_factory=HubSettings)
    frames: FrameSettings = Field(default_factory=FrameSettings)
    quotas: QuotaSettings = Field(default_factory=QuotaSettings)
    history: HistorySettings = Field(default_factory=HistorySettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    dashboards: DashboardGroupSettings = Field(default_factory=DashboardGroupSettings)
    teams: TeamSettings = Field(default_factory=TeamSettings)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'visualbox.db'}"

    @property
    def cache_dir(self) -> Path:
        return self.sandbox.cache_dir or self.data_dir / "cache"

    @property
    def public_url(self) -> str:
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        host = "localhost" if self.server.host in ("0.0.0.0", "::") else self.server.host
        return f"http://{host}:{self.server.port}"

    @property
    def frames_port(self) -> int:
        return self.frames.port or self.server.port + 1

    @property
    def frames_origin(self) -> str:
        """Where widget frames and module files are served from (docs/web.md)."""
        if self.frames.origin:
            return self.frames.origin
        public = urlsplit(self.public_url)
        host = public.hostname or "localhost"
        return f"{public.scheme}://{f'[{host}]' if ':' in host else host}:{self.frames_port}"


def settings_reference() -> str:
    """The Markdown table of every setting, as kept in ``docs/settings.md``.

    ``scripts/settings-doc`` rewrites the doc from this; a test fails when the
    two differ, so a new setting cannot ship undocumented.
    """
    rows = ["| Environment variable | Type | Default | Description |", "|---|---|---|---|"]

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            annotation = info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, f"{prefix}{name.upper()}__")
                continue
            if name == "data_dir":
                default = "`./.visualbox`"
            else:
                default = repr(info.get_default(call_default_factory=True, validated_data={}))
            if not default.startswith("`"):
                default = f"`{default}`"
            kind = str(annotation).replace("typing.", "").replace("pathlib.", "")
            kind = kind.replace("<class '", "").replace("'>", "").replace("|", "or")
            description = (info.description or "").replace("|", "\\|")
            rows.append(f"| `{prefix}{name.upper()}` | {kind} | {default} | {description} |")

    walk(Settings, "VISUALBOX_")
    return "\n".join(rows) + "\n"
