"""The HTTP API (``/api/...``, OpenAPI at ``/openapi.json``, ``/docs`` and ``/redoc``) and the dashboard pages, one
FastAPI app.

Every error is JSON with a ``detail`` sentence and a 4xx status: an unknown asset is 404, a malformed or future
time, a range backwards or a scenario move out of bounds 400 (422 for a parameter of the wrong type or out of
bounds). Nothing unexpected leaks a traceback: an internal error is a 500 with a one-line detail, and the traceback
goes to the server log.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from jinja2 import Environment, PackageLoader, select_autoescape

from levradar.analytics.scenario import check_move
from levradar.api import charts, metrics
from levradar.api.service import BadRequest, NotFound, RadarService
from levradar.jsonio import to_json_bytes

log = logging.getLogger("levradar.api")
TOKEN_COOKIE = "levradar_token"
# /docs and /redoc load only from this server: ReDoc's sidebar would fetch its logo from its vendor's CDN otherwise
DOCS_CSP = "default-src 'self' 'unsafe-inline' data: blob:"


class JsonBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else to_json_bytes(content)


def parse_when(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 time (a date alone means midnight UTC; no zone means UTC); anything else is a 400."""
    if value is None or value == "":
        return None
    try:
        ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name}: {value!r} is not an ISO 8601 time (e.g. 2025-10-10T21:00Z)") from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


ERRORS: dict[
    int | str, dict[str, Any]
] = {  # what /docs lists beside each read's 200 (every body: {"detail": "..."})
    400: {"description": "a malformed or future time, a range backwards, a scenario move out of bounds"},
    404: {
        "description": "an unknown asset (the detail names those the store has), or no data as of that time"
    },
}
AsOf = Annotated[str | None, Query(description="Point in time (ISO 8601, UTC); default: the newest hour.")]
Days = Annotated[int, Query(ge=1, le=365, description="History the heatmap model runs over, in days.")]


def create_app(service: RadarService, *, token: str | None = None) -> FastAPI:
    """The app over ``service``; with ``token`` every request must carry it (header, ?token= or cookie)."""
    app = FastAPIOffline(  # /docs and /redoc from the Swagger UI and ReDoc files the package ships (no CDN)
        title="levradar",
        summary="Crypto Leverage Radar: crowding, fragility and squeeze risk from perpetual-futures data.",
        version="0.1.0",
    )
    app.state.service = service
    charts.warm_dashboard(service)
    templates = Environment(loader=PackageLoader("levradar.web", "templates"), autoescape=select_autoescape())
    static = resources.files("levradar.web") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.middleware("http")
    async def docs_stay_local(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if request.url.path in ("/docs", "/redoc"):
            response.headers["Content-Security-Policy"] = DOCS_CSP
        return response

    if token:

        @app.middleware("http")
        async def require_token(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            given = (
                request.headers.get("authorization", "").removeprefix("Bearer ").strip()
                or request.query_params.get("token")
                or request.cookies.get(TOKEN_COOKIE)
                or ""
            )
            if not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse(
                    {"detail": "a token is required: Authorization: Bearer <LEVRADAR_TOKEN> or ?token="},
                    status_code=401,
                )
            response = await call_next(request)
            if request.query_params.get("token"):
                response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
            return response

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}" for e in exc.errors()
        )
        return JSONResponse({"detail": problems}, status_code=422)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s", request.url.path)
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}"}, status_code=500)

    # -- API ------------------------------------------------------------------------------------------------

    @app.get("/api/health", tags=["api"])
    def health(response: Response) -> dict[str, Any]:
        """Liveness, the newest data hour, the data version and the background jobs running; with ``serve
        --record``, each venue's stream and last sync — ``ok`` is false (HTTP 503) while any venue is failing."""
        body: dict[str, Any] = {"ok": True, "newest": service.newest(), "version": service.version}
        body["busy"] = service.busy
        if service.feed_status is not None:
            feed = service.feed_status()
            body["feed"] = feed
            if feed["failing"]:
                body["ok"] = False
                response.status_code = 503
        return body

    @app.get("/api/radar", tags=["api"], response_class=JsonBody, responses=ERRORS)
    def radar(as_of: AsOf = None) -> JsonBody:
        """Every asset's radar read (tag, LSI, scores, regimes, nearest pockets) as of the newest hour or
        ``as_of``, with the range of hours the store can replay."""
        return JsonBody(service.radar_json(parse_when(as_of, "as_of")))

    @app.get("/api/assets/{asset}", tags=["api"], response_class=JsonBody, responses=ERRORS)
    def asset(asset: str, as_of: AsOf = None) -> JsonBody:
        """One asset's full read: scores, regimes, evidence, playbook, contradictions, venues."""
        return JsonBody(service.asset(asset, parse_when(as_of, "as_of")))

    @app.get("/api/assets/{asset}/history", tags=["api"], response_class=JsonBody, responses=ERRORS)
    def asset_history(
        asset: str,
        start: Annotated[
            str | None, Query(alias="from", description="ISO 8601; default: 30 days back.")
        ] = None,
        end: Annotated[
            str | None, Query(alias="to", description="ISO 8601; default: the newest hour.")
        ] = None,
    ) -> JsonBody:
        """Hourly tags and scores, and funding (per settlement: 8h rate, APR) and OI (USD) per venue."""
        return JsonBody(service.history(asset, parse_when(start, "from"), parse_when(end, "to")))

    @app.get("/api/assets/{asset}/heatmap", tags=["api"], response_class=JsonBody, responses=ERRORS)
    def asset_heatmap(
        asset: str,
        as_of: AsOf = None,
        days: Days = 90,
        grid: Annotated[
            bool, Query(description="Include the price × time grid (USD per bucket per hour).")
        ] = False,
    ) -> JsonBody:
        """The modelled liquidation map: clusters, nearest pockets, cumulative USD by distance; optional grid."""
        return JsonBody(service.heatmap_json(asset, parse_when(as_of, "as_of"), days, grid))

    @app.get("/api/assets/{asset}/scenarios", tags=["api"], response_class=JsonBody, responses=ERRORS)
    def asset_scenarios(
        asset: str,
        as_of: AsOf = None,
        move: Annotated[
            list[float] | None,
            Query(description="Moves as fractions within ±0.5, e.g. -0.02 (repeatable); default ±1 %, ±2 %."),
        ] = None,
    ) -> JsonBody:
        """What each move liquidates, and whether the forced flow cascades into the next pockets."""
        when = parse_when(as_of, "as_of")
        try:
            moves = tuple(check_move(m) for m in move) if move else None
        except ValueError as exc:
            raise BadRequest(f"move: {exc}; moves are fractions, e.g. -0.02 for -2 %") from None
        return JsonBody(service.scenarios(asset, when, moves) if moves else service.scenarios(asset, when))

    @app.get("/api/assets/{asset}/memo", tags=["api"], response_class=JsonBody, responses=ERRORS)
    def asset_memo(asset: str, as_of: AsOf = None) -> JsonBody:
        """The trade memo: views{derivatives, structure, risk, execution} with their findings, and the text."""
        return JsonBody(service.memo(asset, parse_when(as_of, "as_of")))

    @app.get("/api/screener", tags=["api"], response_class=JsonBody, responses=ERRORS)
    def screener(as_of: AsOf = None) -> JsonBody:
        """Most crowded, most fragile and highest squeeze risk, vs the market and vs each asset's own past."""
        return JsonBody(service.screener(parse_when(as_of, "as_of")))

    @app.get(
        "/api/assets/{asset}/figures/{name}", tags=["dashboard"], response_class=JsonBody, responses=ERRORS
    )
    def figure(asset: str, name: str, as_of: AsOf = None, days: Days = 90) -> JsonBody:
        """A dashboard chart as a Plotly figure: heatmap, funding, oi or timeline."""
        return JsonBody(charts.figure(service, asset, name, parse_when(as_of, "as_of"), days))

    # -- pages ----------------------------------------------------------------------------------------------

    def page(name: str, **context: Any) -> HTMLResponse:
        """A dashboard page; every page gets the hours the store can replay (the as-of control) and the venue
        colours of the charts (for the tables)."""
        try:
            span = {k: v.strftime("%Y-%m-%dT%H:%M") if v else "" for k, v in service.data_range().items()}
        except NotFound:  # an empty store: the page says so through its API calls
            span = {"first": "", "newest": "", "latest": ""}
        colours = {v: charts.venue_colour(v) for v in service.venues()}
        return HTMLResponse(
            templates.get_template(name).render(
                span=span, venue_colours=colours, plotly_url=charts.plotly_url(), **context
            )
        )

    @app.get("/", include_in_schema=False)
    def radar_page() -> HTMLResponse:
        return page("radar.html", title="Radar")

    @app.get("/screener", include_in_schema=False)
    def screener_page() -> HTMLResponse:
        return page("screener.html", title="Screener")

    @app.get("/assets/{asset}", include_in_schema=False)
    def asset_page(asset: str) -> HTMLResponse:
        try:
            name = service.check_asset(asset)
        except NotFound as exc:
            response = page("missing.html", title="Not found", message=str(exc))
            response.status_code = 404
            return response
        return page("asset.html", title=name, asset=name)

    @app.get(charts.plotly_url(), include_in_schema=False)
    def plotly_js() -> Response:
        """plotly.js from this package (no CDN), at a URL named by its content: cached for good (immutable)."""
        return Response(
            charts.plotly_js(),
            media_type="application/javascript",
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    metrics.install(app, service)  # the outermost middleware: every request is measured, 401s too
    return app
