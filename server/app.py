"""The MCP server: one tool, `extract_products`, on the mcp SDK's `MCPServer`."""

from __future__ import annotations

import inspect
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ValidationError

from product_extractor.server.backends import Backends
from product_extractor.server.jobs import (
    DEFAULT_PAGE_SIZE,
    JOB_URI_PREFIX,
    MAX_PAGE_SIZE,
    JobStore,
    fit_products,
    job_uri,
    page_of,
)
from product_extractor.server.settings import Settings, load_settings
from product_extractor.server.streaming import BatchStreamer
from product_extractor.server.summary import summarise
from product_extractor.server.traces import CallTrace, TraceWriter
from product_extractor.tools.arguments import (
    CallLimits,
    ExtractProductsArguments,
    arguments_schema,
    redact_user_info,
)
from product_extractor.tools.extract import extract_products, new_parse_limiter
from product_extractor.tools.results import ExtractionResult

logger = logging.getLogger(__name__)

SERVER_NAME = "product-extractor"
INSTRUCTIONS = (
    "Use extract_products to turn shop URLs (product pages or category/search listings) into structured "
    "product records. Pass all URLs in one call: they are fetched at the same time."
)
TOOL_DESCRIPTION = """Extract structured product data (name, brand, price, currency, availability, sku, gtin,
images, rating, variants, ...) from e-commerce pages.

Each URL may be a product page or a category/search/listing page. For a listing, the tool finds the
product links and opens up to max_products_per_url of them. All URLs are processed at the same time,
so one call with many URLs takes about as long as the slowest URL. A URL that fails is reported in
url_results with the reason, and never removes the products of the other URLs."""


@dataclass
class ServerState:
    """State that lives as long as the server process: the settings, the backends' clients, the tracer."""

    settings: Settings
    jobs: JobStore
    backends: Backends | None = None
    tracer: TraceWriter | None = None
    # Shared by all calls, so concurrent calls share the parse workers instead of each starting its own.
    parse_limiter: anyio.CapacityLimiter | None = None

    def secrets(self) -> list[str]:
        token = self.settings.brightdata_api_token
        return [token.get_secret_value()] if token is not None else []


def create_server(settings: Settings | None = None) -> MCPServer:
    """Build the MCP server with its one tool, `extract_products`."""
    settings = settings or load_settings()
    jobs = JobStore(ttl_s=settings.job_ttl_s, max_jobs=settings.max_jobs)
    state = ServerState(settings=settings, jobs=jobs)
    if settings.trace_dir is not None:
        state.tracer = TraceWriter(settings.trace_dir, secrets=state.secrets())

    @asynccontextmanager
    async def lifespan(_server: MCPServer) -> AsyncIterator[None]:
        state.backends = Backends.open(settings)
        state.parse_limiter = new_parse_limiter(settings.fan_out_options())
        try:
            yield
        finally:
            await state.backends.aclose()
            state.backends = None

    server = MCPServer(
        name=SERVER_NAME,
        title="Product extractor",
        instructions=INSTRUCTIONS,
        version=_version(),
        log_level=settings.log_level,
        lifespan=lifespan,
        tools=[_extract_tool(state)],
    )
    _add_job_resource(server, state)
    return server


def _add_job_resource(server: MCPServer, state: ServerState) -> None:
    @server.resource(
        "products://jobs",
        name="extract_products jobs",
        description="The extract_products jobs this server still keeps, newest first, cancelled ones too.",
        mime_type="application/json",
    )
    def list_jobs() -> str:
        return json.dumps({"jobs": state.jobs.summaries()}, ensure_ascii=False)

    @server.resource(
        JOB_URI_PREFIX + "{job_id}{?offset,limit}",
        name="extract_products job",
        description=(
            "The whole result of an extract_products call, in pages of products: "
            f"products://jobs/<job_id>?offset=0&limit={DEFAULT_PAGE_SIZE}. Kept in this server "
            f"process's memory for {state.settings.job_ttl_s:g} s after the call."
        ),
        mime_type="application/json",
    )
    def read_job(job_id: str, offset: int = 0, limit: int = DEFAULT_PAGE_SIZE) -> str:
        result = state.jobs.get(job_id)
        if result is None:
            raise ResourceNotFoundError(
                f"job {job_id!r} is unknown or expired. Jobs live in the memory of the server process "
                f"that ran them, for {state.settings.job_ttl_s:g} s, and a new process starts with none "
                "(each MCP Inspector --cli invocation starts one). Run extract_products again and read "
                "its result_uri from the same server process."
            )
        if offset < 0 or not 1 <= limit <= MAX_PAGE_SIZE:
            raise ResourceError(
                f"offset must be 0 or more and limit 1 to {MAX_PAGE_SIZE} "
                f"(got offset {offset}, limit {limit})"
            )
        return json.dumps(page_of(result, job_id, offset=offset, limit=limit), ensure_ascii=False)


def _extract_tool(state: ServerState) -> Tool:
    tool = Tool.from_function(
        _make_extract_function(state),
        name="extract_products",
        title="Extract products from shop URLs",
        description=TOOL_DESCRIPTION,
        annotations=ToolAnnotations(
            title="Extract products from shop URLs",
            read_only_hint=True,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=True,
        ),
    )
    # The function accepts any value for every argument, so the published schema comes from
    # the argument model, which alone validates and words the errors an agent reads.
    return tool.model_copy(update={"parameters": arguments_schema(state.settings.call_limits())})


def _make_extract_function(state: ServerState) -> Callable[..., Any]:
    async def extract_products_tool(ctx: Context, **parsed_arguments: Any) -> CallToolResult:
        job_id = uuid.uuid4().hex[:16]
        if state.tracer is None:
            return await _run_extract(state, ctx, parsed_arguments, job_id)

        params = ctx.request_context.params or {}
        trace = CallTrace(
            tool="extract_products",
            job_id=job_id,
            arguments=_redact_user_info_in(params.get("arguments")),
            secrets=state.secrets(),
        )
        try:
            reply = await _run_extract(state, ctx, parsed_arguments, job_id, trace)
        except anyio.get_cancelled_exc_class():
            state.tracer.write(trace.finish(outcome="cancelled"))
            raise
        except Exception as error:
            state.tracer.write(trace.finish(outcome="error", error=error))
            raise
        state.tracer.write(trace.finish(outcome="ok", result=trace.result))
        return reply

    _adopt_model_signature(extract_products_tool, ExtractProductsArguments)
    return extract_products_tool


async def _run_extract(
    state: ServerState,
    ctx: Context,
    parsed_arguments: dict[str, Any],
    job_id: str,
    trace: CallTrace | None = None,
) -> CallToolResult:
    """Validate the arguments, run the fan-out on the call's backend, and shape the MCP result."""
    arguments = _validate_arguments(ctx, parsed_arguments, state.settings.call_limits())
    if state.backends is None:
        raise ToolError("the server is shutting down; call extract_products again")
    backend = state.backends.for_call(
        arguments.backend, max_cost_usd=arguments.max_cost_usd, no_cache=arguments.no_cache
    )

    streamer = BatchStreamer(
        ctx,
        batch_size=state.settings.batch_size,
        interval_s=state.settings.batch_interval_ms / 1000,
        fields=list(arguments.fields) if arguments.fields is not None else None,
    )

    def keep_cancelled(partial: ExtractionResult) -> None:
        # The client cancelled the call; what it found stays readable from the job's resource.
        partial.job_id = job_id
        partial.result_uri = job_uri(job_id)
        state.jobs.put(job_id, partial.model_dump(mode="json"))

    async with anyio.create_task_group() as group:
        group.start_soon(streamer.send_periodically)
        result = await extract_products(
            arguments,
            backend.fetcher,
            collector=backend.collector,
            pricing=state.backends.pricing(),
            backend=backend.name,
            options=state.settings.fan_out_options(),
            on_products=streamer.add,
            on_cancelled=keep_cancelled,
            job_id=job_id,
            parse_limiter=state.parse_limiter,
        )
        group.cancel_scope.cancel()
    await streamer.flush()
    if trace is not None:
        trace.result = result

    # The whole result stays readable as a resource; the reply carries what fits the budget.
    result.job_id = job_id
    result.result_uri = job_uri(job_id)
    whole = result.model_dump(mode="json")
    state.jobs.put(job_id, whole)
    reply, omitted = fit_products(whole, budget_bytes=state.settings.result_budget_bytes)
    reply["products_omitted"] = omitted
    return CallToolResult(
        content=[TextContent(type="text", text=summarise(result, omitted=omitted))],
        structured_content=reply,
    )


def _adopt_model_signature(function: Callable[..., Any], model: type[BaseModel]) -> None:
    """Give `function` the context plus one optional keyword parameter of any type per field of `model`."""
    parameters = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Context)]
    annotations: dict[str, Any] = {"ctx": Context}
    for name in model.model_fields:
        parameters.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Any, default=None)
        )
        annotations[name] = Any

    returns = Annotated[CallToolResult, ExtractionResult]
    annotations["return"] = returns
    function.__signature__ = inspect.Signature(parameters, return_annotation=returns)  # type: ignore[attr-defined]
    function.__annotations__ = annotations


def _validate_arguments(
    ctx: Context, parsed_arguments: dict[str, Any], limits: CallLimits
) -> ExtractProductsArguments:
    """Validate the arguments the caller sent against `limits`, naming unknown and missing ones.

    The SDK has already decoded arguments that arrived as JSON text (some hosts send
    lists that way) but dropped names the tool does not know, so the names come
    from the raw request.
    """
    params = ctx.request_context.params or {}
    given = params.get("arguments") or {}
    values = {name: parsed_arguments.get(name, value) for name, value in given.items()}
    try:
        return ExtractProductsArguments.model_validate(values, context={"limits": limits})
    except ValidationError as error:
        message = describe_validation_error(error)
    # Raised outside the except block so that the ToolError carries no context, because traces
    # record an error's context and the ValidationError repeats every input unredacted.
    raise ToolError(message)


def describe_validation_error(error: ValidationError) -> str:
    """Return one line per invalid argument: its name (and item index), the reason, and the value given.

    Values are shown with the user-info of URLs redacted, as `normalise_url` quotes them.
    """
    lines = ["invalid arguments:"]
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"]) or "arguments"
        reason = str(problem["msg"]).removeprefix("Value error, ")
        given = problem.get("input")
        shown = repr(redact_user_info(given) if isinstance(given, str) else given)
        # A URL error already quotes the URL; other errors get the value appended.
        if isinstance(given, (bool, int, float, str)) and not (isinstance(given, str) and shown in reason):
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            reason += f" (got {shown})"
        lines.append(f"- {location}: {reason}")
    return "\n".join(lines)


def _redact_user_info_in(arguments: Any) -> Any:
    """Return the JSON `arguments` of a call with the user-info of each URL in their strings redacted."""
    if isinstance(arguments, str):
        return redact_user_info(arguments)
    if isinstance(arguments, list):
        return [_redact_user_info_in(item) for item in arguments]
    if isinstance(arguments, dict):
        return {key: _redact_user_info_in(value) for key, value in arguments.items()}
    return arguments


def _version() -> str:
    try:
        return version("product-extractor-mcp")
    except PackageNotFoundError:
        return "0+unknown"
