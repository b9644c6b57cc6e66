"""create_app(): assembles routers, middleware, error handling, the database and workers."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import ModuleType

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles

from agora import __version__
from agora.api.page_door import PageDoor
from agora.api.routes import account_routes as accounts
from agora.api.routes import (
    admin,
    announcement_routes,
    assistant,
    data_reuse,
    datasets,
    discovery_routes,
    domain_block_routes,
    for_you_routes,
    instance,
    media,
    migration_routes,
    portability_routes,
    search,
    statuses,
    streaming,
)
from agora.api.routes import conversation_routes as conversations
from agora.api.routes import email_routes as emails
from agora.api.routes import filter_routes as filters
from agora.api.routes import list_routes as lists
from agora.api.routes import note_routes as notes
from agora.api.routes import notification_group_routes as notification_groups
from agora.api.routes import notification_routes as notifications
from agora.api.routes import oauth_routes as oauth
from agora.api.routes import operations_routes as operations
from agora.api.routes import poll_routes as polls
from agora.api.routes import push_routes as push
from agora.api.routes import report_routes as reports
from agora.api.routes import scheduled_routes as scheduled
from agora.api.routes import tag_routes as tags
from agora.api.routes import timeline_routes as timelines
from agora.api.stream_payloads import MASTODON_PAYLOADS
from agora.auth.token_cache import follow_revocations
from agora.config import Settings, get_settings
from agora.db.engine import Database, configured_database
from agora.db.id_nodes import claim_node
from agora.db.migrate import upgrade
from agora.db.start_wait import once_reachable
from agora.events.process_bus import get_bus
from agora.federation import actors as federation_actors
from agora.federation import routes as activitypub
from agora.http import log_redaction, ratelimit
from agora.http.cross_origin import CrossOrigin
from agora.http.cut_reads import CutReadRetry
from agora.http.error_responses import install_error_handlers
from agora.http.guard import RequestGuard
from agora.http.json import JSON
from agora.http.observability import Observability, answered_within
from agora.http.params import document_query_reads
from agora.http.remote_resolver import RESOLVER_KEY
from agora.http.render_cache import close_render_cache
from agora.http.signal_hook import SignalsHook
from agora.http.streaming.hub import start_hub, stop_hub
from agora.job_registry import register_all_jobs
from agora.jobs.worker import Worker
from agora.mail.smtp import NO_MAIL, mail_configured
from agora.social.reading import for_you_precompute, trends
from agora.social.reading.push_keys import vapid_keys
from agora.thread_turns import give_threads_their_turn
from agora.web import (
    about_pages,
    admin_console_pages,
    admin_moderation_pages,
    admin_trend_pages,
    announcement_pages,
    assistant_pages,
    deletion_pages,
    domain_block_pages,
    email_pages,
    emoji_pages,
    explore_pages,
    filter_pages,
    for_you_pages,
    list_pages,
    live,
    message_pages,
    migration_pages,
    note_pages,
    notification_pages,
    oauth_pages,
    pages,
    people,
    poll_actions,
    portability_pages,
    post_actions,
    push_settings,
    scheduled_pages,
    search_pages,
    settings_pages,
    sign_in,
    site_files,
    timeline_pages,
    two_factor_pages,
)
from agora.web.render import STATIC

log = logging.getLogger("agora")


def _lifespan(
    settings: Settings, migrate: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = configured_database(settings)
        if migrate:  # with migrate=False (tests) the caller migrates, maybe later
            # a database restarting as the server starts is waited for (db/start_wait.py)
            await once_reachable(lambda: _prepare(db), "agora serve")
        if not mail_configured(settings):
            log.warning(NO_MAIL)
        app.state.db = db
        db.listen_for_changes(settings.database_notices_url)  # api/page_cache.py
        app.state.hub = await start_hub(
            db, MASTODON_PAYLOADS, settings.stream_queue_size, settings.stream_heartbeat_seconds
        )
        revocations = asyncio.create_task(follow_revocations(get_bus().subscribe()))
        stop = asyncio.Event()
        workers = [
            asyncio.create_task(
                Worker(db, lease_seconds=settings.job_lease_seconds, busy=_answering).run_forever(
                    stop
                )
            )
            for _ in range(settings.inprocess_workers)
        ]
        if migrate:  # a started server (the tests start many apps and leave it out)
            settle_heap()
            give_threads_their_turn()
        try:
            yield
        finally:
            stop.set()
            revocations.cancel()
            await asyncio.gather(*workers, revocations, return_exceptions=True)
            await close_render_cache()
            await stop_hub(app.state.hub)
            await db.dispose()

    return lifespan


async def _prepare(db: Database) -> None:
    """What a started server does first: each step safe to run again from the top."""
    await upgrade(db.engine)
    await claim_node(db.engine)  # this process's ids are disjoint from others'
    await vapid_keys(db)  # Web Push: made on first start of an install from before it
    async with db.session(write=True) as session:  # the periodic jobs
        await trends.ensure_scheduled(session, delay=60.0)
        await for_you_precompute.ensure_scheduled(session, delay=60.0)
        await session.commit()


QUIET_SECONDS = 0.5  # a web process is idle (for background jobs) after this long unasked


def _answering() -> bool:
    """Whether this process answers requests now or did a moment ago: its own job workers
    leave background kinds for later, and stop one running early (jobs/courtesy.py)."""
    return answered_within(QUIET_SECONDS)


def settle_heap() -> None:
    """Take what the started application holds (modules, routes, compiled statements, pools)
    out of the garbage collector's rounds (`gc.freeze`, after one collection). CPython's full
    collections, which come every few hundred requests, then scan what requests made, not the
    ~180,000 objects of the application: about 90 ms of CPU each on a loaded 2-core machine,
    which was the For You feed's p99 (bench/ranking.py, docs/RANKING.md)."""
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    """The ASGI application. Migrations run at start unless `migrate=False`."""
    settings = settings or get_settings()
    log_redaction.install()  # no access token in uvicorn's logs, however the server was started
    register_all_jobs()  # the in-process workers (and `agora serve`'s) run every kind
    app = FastAPI(
        title="Agora",
        version=__version__,
        default_response_class=JSON,
        lifespan=_lifespan(settings, migrate),
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        # Agora configures no OpenTelemetry: without this FastAPI asks the OTel providers
        # whether any is configured on every request
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    # the web app asks federation for remote accounts through this (http/remote_resolver.py)
    setattr(app.state, RESOLVER_KEY, federation_actors.resolve_remote)
    app.add_middleware(CutReadRetry)  # innermost: a read whose connection was cut, again
    app.add_middleware(PageDoor)  # kept pages answered before routing
    app.add_middleware(activitypub.ActivityPubPaths)  # /@name asking for AP -> /users/name
    app.add_middleware(SignalsHook)  # AI-use signals of what each response holds
    app.add_middleware(  # inside CORS, so that browsers can read its 413s
        RequestGuard,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    # outside the guard, inside CORS (429s keep CORS headers)
    ratelimit.install(app, settings, oauth_pages.too_many_sign_ins)
    app.add_middleware(CrossOrigin)  # Starlette's CORS for requests with an Origin
    app.add_middleware(Observability)  # outermost: request id, request metrics
    install_error_handlers(app)

    @app.get("/api/v1/agora/ping", include_in_schema=False)
    async def ping() -> JSON:
        return JSON({"ok": True})

    # FastAPI matches a request against the routers in turn, each route by its pattern: the
    # most requested come first (their paths overlap no other router's)
    routers = (
        timelines,
        for_you_routes,
        statuses,
        oauth,
        search,  # before accounts: /accounts/search is not an account id
        discovery_routes,  # before accounts: /accounts/familiar_followers is not an id
        accounts,
        emails,
        polls,
        notes,
        tags,
        lists,
        notification_groups,
        notifications,
        conversations,
        scheduled,
        push,
        filters,
        reports,
        admin,
        domain_block_routes,
        announcement_routes,
        instance,
        streaming,
        data_reuse,
        migration_routes,
        portability_routes,
        datasets,
        activitypub,
        operations,  # /health/*, /metrics
    )
    web: tuple[ModuleType, ...] = (oauth_pages, sign_in, email_pages, timeline_pages)
    web += (assistant_pages, two_factor_pages, deletion_pages)
    web += (post_actions, people)
    web += (notification_pages, message_pages, scheduled_pages)
    web += (search_pages, list_pages, poll_actions)
    web += (
        domain_block_pages,
        emoji_pages,
        migration_pages,
        for_you_pages,
        note_pages,
        portability_pages,
    )
    web += (admin_moderation_pages, admin_console_pages, about_pages, announcement_pages)
    web += (admin_trend_pages, explore_pages)
    for module in (
        *routers,
        assistant,
        site_files,
        *web,
        settings_pages,
        push_settings,
        filter_pages,
        live,
        pages,
    ):
        document_query_reads(module.router)
        app.include_router(module.router)
    app.include_router(media.router)
    app.mount("/static", GZipMiddleware(StaticFiles(directory=STATIC)), name="static")
    return app
