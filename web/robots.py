"""robots.txt for direct fetching: RFC 9309 parsing and matching, fetched once per origin and cached.

The matcher is written here rather than taken from `urllib.robotparser`.
That module applies the first matching rule instead of the longest one, does
not read the `*` and `$` wildcards, and does not normalise percent-encoding as
RFC 9309 requires, so it would allow pages that a site disallows.

How a robots.txt response counts (RFC 9309 section 2.3.1):

| response | meaning |
| --- | --- |
| 2xx | parse the body; only the first 500 KiB count, the minimum the RFC says a crawler must parse |
| 3xx | follow up to five redirects, each through the URL-safety check |
| 4xx other than 429 | "unavailable": every page may be fetched |
| 429, 5xx, no response | "unreachable": every page counts as disallowed until a later fetch succeeds |

An unreachable robots.txt fails the page with `RobotsTxtUnreachable` after a
429 or 5xx response. When no response came back at all, the page fails with the
connection's own error (`ConnectFailed` or `FetchTimeout`), because the site
itself is then out of reach and a later retry may succeed.

A 429 counts as unreachable, not unavailable (Google's crawler does the same),
so a server that is shedding load is not then sent every page. A redirect that
the URL-safety check rejects, or a sixth redirect, makes robots.txt
unavailable, as the RFC allows for redirects that cannot be followed.
"""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import httpx2 as httpx

from product_extractor.web.fetcher import ConnectFailed, FetchError, FetchTimeout
from product_extractor.web.url_safety import UnsafeURL

logger = logging.getLogger(__name__)

ROBOTS_MAX_BYTES = 500 * 1024
MAX_ROBOTS_REDIRECTS = 5
# Seconds an unreachable robots.txt keeps its site's pages disallowed before the next try.
# The pages of one listing, fetched at once, then share one failed fetch, and a retry of a
# page a few seconds later fetches robots.txt again.
UNREACHABLE_RETRY_S = 10.0
MAX_CACHED_ORIGINS = 1024
RESPECT_ROBOTS_VARIABLE = "PRODUCT_EXTRACTOR_RESPECT_ROBOTS_TXT"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

# The characters RFC 3986 lets a URI carry unencoded without special meaning.
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_PRODUCT_TOKEN = re.compile(r"[A-Za-z_-]+")


@dataclass(frozen=True, slots=True)
class RobotsOptions:
    """Options for robots.txt in direct fetching."""

    enabled: bool = True
    product_token: str = "product-extractor"  # the user-agent name robots.txt groups are matched against
    ttl_s: float = 3600.0  # seconds a fetched robots.txt is used before it is fetched again

    def __post_init__(self) -> None:
        if not _PRODUCT_TOKEN.fullmatch(self.product_token):
            raise ValueError(
                f"robots.txt product token {self.product_token!r} is invalid; "
                "use letters, '_' and '-' only (RFC 9309)"
            )


@dataclass(frozen=True, slots=True)
class RobotsRule:
    """One Allow or Disallow line, with its path pattern in the normalised form used for matching."""

    allow: bool
    pattern: str
    line: int  # 1-based line number in robots.txt

    def __str__(self) -> str:
        return f"{'Allow' if self.allow else 'Disallow'}: {self.pattern}"

    def matches(self, path: str) -> bool:
        """Return whether the pattern matches a prefix of `path` (all of it when the pattern ends in `$`)."""
        if self.pattern.endswith("$"):
            return wildcard_match(self.pattern[:-1], path)
        return wildcard_match(self.pattern + "*", path)


@dataclass(frozen=True, slots=True)
class RobotsGroup:
    """The rules under one run of User-agent lines."""

    user_agents: tuple[str, ...]  # lower-case product tokens, or "*"
    rules: tuple[RobotsRule, ...]


@dataclass(frozen=True, slots=True)
class RobotsDecision:
    """Whether a path may be fetched, and the rule and group that decided it (None: no rule matched)."""

    allowed: bool
    rule: RobotsRule | None
    group: str | None  # the user agent whose group applied: the product token, "*", or None for no group


@dataclass(frozen=True, slots=True)
class RobotsTxt:
    """A parsed robots.txt."""

    groups: tuple[RobotsGroup, ...] = ()

    @classmethod
    def parse(cls, text: str) -> RobotsTxt:
        """Parse robots.txt `text`; lines that are not User-agent, Allow or Disallow records are skipped.

        >>> RobotsTxt.parse("User-agent: *\\nDisallow: /cart").decide("/cart/1", "bot").allowed
        False
        """
        groups: list[RobotsGroup] = []
        agents: list[str] = []
        rules: list[RobotsRule] = []
        for number, raw_line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
            line = raw_line.split("#", 1)[0].strip()
            key, separator, value = line.partition(":")
            if not separator:
                continue
            key = key.strip().lower()
            value = value.strip()

            if key == "user-agent":
                if rules:  # a User-agent line after rules starts the next group
                    groups.append(RobotsGroup(tuple(agents), tuple(rules)))
                    agents, rules = [], []
                agents.append(_agent_token(value))
            elif key in ("allow", "disallow") and agents:
                # An empty Disallow allows everything and an empty Allow changes nothing, so neither
                # is a rule, but both still end the run of User-agent lines.
                rules.append(RobotsRule(key == "allow", normalise_path(value), number))
        if agents:
            groups.append(RobotsGroup(tuple(agents), tuple(rules)))
        return cls(tuple(groups))

    def decide(self, path: str, product_token: str) -> RobotsDecision:
        """Decide whether `path` (path and query of a URL) may be fetched by `product_token`.

        The groups naming the product token apply (case-insensitively), all of them
        combined; without one, the `*` groups apply. Of the rules that match, the
        longest pattern wins, and Allow wins a tie.
        """
        if path == "/robots.txt":
            return RobotsDecision(True, None, None)

        token = product_token.lower()
        group_name: str | None = token
        rules = [rule for group in self.groups if token in group.user_agents for rule in group.rules]
        if not any(token in group.user_agents for group in self.groups):
            group_name = "*" if any("*" in group.user_agents for group in self.groups) else None
            rules = [rule for group in self.groups if "*" in group.user_agents for rule in group.rules]

        normalised = normalise_path(path)
        best: RobotsRule | None = None
        for rule in rules:
            if not rule.pattern or not rule.matches(normalised):
                continue
            if best is None or _outranks(rule, best):
                best = rule
        return RobotsDecision(best is None or best.allow, best, group_name)


def _agent_token(value: str) -> str:
    """Return the lower-case product token of a User-agent value such as `ExampleBot/2.1 (+url)`."""
    if value.startswith("*"):
        return "*"
    token = _PRODUCT_TOKEN.match(value)
    return token.group(0).lower() if token else ""


def _outranks(rule: RobotsRule, best: RobotsRule) -> bool:
    if len(rule.pattern) != len(best.pattern):
        return len(rule.pattern) > len(best.pattern)
    return rule.allow and not best.allow


def wildcard_match(pattern: str, text: str) -> bool:
    """Return whether `pattern`, in which `*` matches any run of characters, matches all of `text`.

    It backtracks only to the last `*`, so the time is at most proportional to
    len(pattern) * len(text) for any pattern a site writes.
    """
    p = t = 0
    star = -1  # index of the last * seen in pattern
    resume = 0  # index in text where that * currently ends
    while t < len(text):
        if p < len(pattern) and pattern[p] == "*":
            star, resume = p, t
            p += 1
        elif p < len(pattern) and pattern[p] == text[t]:
            p += 1
            t += 1
        elif star >= 0:
            resume += 1
            p, t = star + 1, resume
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def normalise_path(text: str) -> str:
    """Return `text` in the form RFC 9309 compares: non-ASCII percent-encoded as UTF-8, escapes of
    unreserved characters decoded, other escapes in upper case.

    >>> normalise_path("/caf%c3%a9/%7Euser/ü")
    '/caf%C3%A9/~user/%C3%BC'
    """

    def escape(match: re.Match[str]) -> str:
        character = chr(int(match.group(1), 16))
        return character if character in _UNRESERVED else "%" + match.group(1).upper()

    decoded = _PERCENT_ESCAPE.sub(escape, text)
    return "".join(
        character if character.isascii() else "".join(f"%{byte:02X}" for byte in character.encode("utf-8"))
        for character in decoded
    )


class RobotsDisallowed(FetchError):
    """The site's robots.txt disallows the URL for this crawler; retrying cannot help."""


class RobotsTxtUnreachable(FetchError):
    """The site's robots.txt could not be fetched, so RFC 9309 treats all its pages as disallowed for now."""


@dataclass(frozen=True, slots=True)
class RobotsResponse:
    """One HTTP response to a robots.txt request, its body cut at `ROBOTS_MAX_BYTES`."""

    status: int
    location: str | None  # the Location header of a redirect, resolved against the request URL
    body: bytes


# Sends one GET without following redirects. Raises UnsafeURL when URL safety rejects the
# URL and another FetchError when no response comes back.
RobotsGetter = Callable[[str], Awaitable[RobotsResponse]]


@dataclass(frozen=True, slots=True)
class _SiteRobots:
    """The robots.txt verdict for one origin, valid until `expires` (a `clock()` reading)."""

    robots_url: str
    rules: RobotsTxt  # empty when robots.txt is unavailable or unreachable
    expires: float
    # Set when robots.txt is unreachable, which disallows every page: why, naming its URL,
    # and the error class the pages fail with.
    unreachable: str | None = None
    error_class: type[FetchError] = RobotsTxtUnreachable


class RobotsTxtCache:
    """Checks URLs against their site's robots.txt, fetching it once per origin and keeping it `ttl_s`.

    An origin is scheme, host and port. Concurrent checks on one origin wait for
    one fetch. The cache lives as long as the direct fetcher, normally the server
    process, and keeps at most `MAX_CACHED_ORIGINS` origins.
    """

    def __init__(
        self, get: RobotsGetter, options: RobotsOptions, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._get = get
        self.options = options
        self._clock = clock
        self._sites: OrderedDict[str, _SiteRobots] = OrderedDict()
        self._locks: dict[str, anyio.Lock] = {}

    async def check(self, url: str, *, requested_url: str | None = None, requests: int = 0) -> None:
        """Raise RobotsDisallowed, RobotsTxtUnreachable, ConnectFailed or FetchTimeout unless robots.txt
        lets `url` be fetched.

        `requested_url` is the URL the caller requested when `url` is a redirect
        target. `requests` counts the requests already made for it. The error carries both.
        """
        parsed = httpx.URL(url)
        origin = f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"
        site = await self._site_robots(origin)
        requested_url = requested_url or url
        shown = url if requested_url == url else f"{requested_url} redirected to {url}, which"

        if site.unreachable is not None:
            if site.error_class is RobotsTxtUnreachable:
                message = (
                    f"{shown} was not fetched: {site.unreachable}. RFC 9309 treats every page of a site "
                    f"as disallowed while its robots.txt is unreachable; retry in {UNREACHABLE_RETRY_S:g} "
                    f"s, or set {RESPECT_ROBOTS_VARIABLE}=false if you may ignore robots.txt"
                )
            else:
                message = (
                    f"{shown} was not fetched, because its site's robots.txt failed first: {site.unreachable}"
                )
            raise site.error_class(requested_url, message, requests=requests)

        path = parsed.raw_path.decode("ascii") or "/"
        decision = site.rules.decide(path, self.options.product_token)
        if decision.allowed or decision.rule is None:
            return
        logger.debug("%s is disallowed by %s (%s)", url, site.robots_url, decision.rule)
        raise RobotsDisallowed(
            requested_url,
            f"{shown} is disallowed by {site.robots_url}: rule '{decision.rule}' on line "
            f"{decision.rule.line}, in the group for user-agent '{decision.group}'. The site asks "
            f"crawlers not to fetch it; set {RESPECT_ROBOTS_VARIABLE}=false only if you may ignore "
            "robots.txt",
            requests=requests,
        )

    async def _site_robots(self, origin: str) -> _SiteRobots:
        cached = self._fresh(origin)
        if cached is not None:
            return cached

        lock = self._locks.setdefault(origin, anyio.Lock())
        try:
            async with lock:
                cached = self._fresh(origin)
                if cached is not None:
                    return cached
                site = await self._fetch(origin)
                self._store(origin, site)
                return site
        finally:
            if not lock.statistics().tasks_waiting and self._locks.get(origin) is lock:
                del self._locks[origin]

    def _fresh(self, origin: str) -> _SiteRobots | None:
        site = self._sites.get(origin)
        if site is None or site.expires <= self._clock():
            return None
        self._sites.move_to_end(origin)
        return site

    def _store(self, origin: str, site: _SiteRobots) -> None:
        self._sites[origin] = site
        self._sites.move_to_end(origin)
        while len(self._sites) > MAX_CACHED_ORIGINS:
            self._sites.popitem(last=False)

    async def _fetch(self, origin: str) -> _SiteRobots:
        """Fetch `origin`'s robots.txt and interpret the response by the table in the module docstring."""
        robots_url = f"{origin}/robots.txt"
        current = robots_url
        for _hop in range(MAX_ROBOTS_REDIRECTS + 1):
            try:
                response = await self._get(current)
            except UnsafeURL as error:
                return self._unavailable(robots_url, str(error))
            except FetchError as error:
                error_class = FetchTimeout if isinstance(error, FetchTimeout) else ConnectFailed
                return self._unreachable(robots_url, str(error), error_class)

            if response.status in REDIRECT_STATUSES and response.location:
                current = response.location
                continue
            if 200 <= response.status < 300:
                rules = RobotsTxt.parse(response.body.decode("utf-8", errors="replace"))
                logger.info("read %s: %d groups", robots_url, len(rules.groups))
                return _SiteRobots(robots_url, rules, self._clock() + self.options.ttl_s)
            if response.status == 429 or response.status >= 500:
                why = f"{current} answered HTTP {response.status}"
                return self._unreachable(robots_url, why, RobotsTxtUnreachable)
            return self._unavailable(robots_url, f"HTTP {response.status}")
        return self._unavailable(robots_url, f"more than {MAX_ROBOTS_REDIRECTS} redirects")

    def _unavailable(self, robots_url: str, why: str) -> _SiteRobots:
        logger.info("%s is unavailable (%s); every page of the site may be fetched", robots_url, why)
        return _SiteRobots(robots_url, RobotsTxt(), self._clock() + self.options.ttl_s)

    def _unreachable(self, robots_url: str, why: str, error_class: type[FetchError]) -> _SiteRobots:
        logger.warning("%s is unreachable (%s); the site's pages count as disallowed", robots_url, why)
        expires = self._clock() + min(UNREACHABLE_RETRY_S, self.options.ttl_s)
        return _SiteRobots(robots_url, RobotsTxt(), expires, unreachable=why, error_class=error_class)
