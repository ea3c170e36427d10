"""The external programs the tests run, each found by the absolute path its
Debian 12 package installs it at and accepted only when its version banner
says it is that program.

Nothing is looked up through $PATH: a `convert` that is not ImageMagick's (or a
`curl` wrapper, ...) may come first there. A path is accepted when running it
with the tool's version arguments prints a banner matching the tool's pattern
(`convert -version`: "Version: ImageMagick ...", `redis-server --version`:
"Redis server v=7...", `curl -V`: "curl ...", `openssl version`: "OpenSSL ...").
The answer, good or bad, is cached for the process.

A missing or wrong tool raises ToolError, an AssertionError, so unittest counts
a failure (never a skip) whose message is one line naming the tool, what was
found instead and the Debian package to install. No test runs an impostor.

    sys.path.insert(0, TESTS)  # the tests/ folder; see tests/oracle/test_codecs.py
    import tools
    subprocess.run([tools.find("convert"), src, dst], check=True)

docs/internals/test-tools.md says more; scripts/install-deps.sh installs every
package named here (its `test` group).
"""
import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

BANNER_TIMEOUT_S = 30


@dataclass(frozen=True)
class Tool:
    name: str  # its command name
    package: str  # the Debian 12 package that installs it
    paths: tuple  # the absolute paths that package installs it at, tried in order
    args: tuple  # the arguments that make it print its banner
    banner: str  # a regular expression (multi-line) the banner must match
    what: str  # what the banner must show, for messages


IMAGEMAGICK = r"^Version: ImageMagick \d"
TOOLS = {t.name: t for t in (
    Tool("convert", "imagemagick", ("/usr/bin/convert-im6.q16", "/usr/bin/convert"),
         ("-version",), IMAGEMAGICK, "ImageMagick"),
    Tool("identify", "imagemagick", ("/usr/bin/identify-im6.q16", "/usr/bin/identify"),
         ("-version",), IMAGEMAGICK, "ImageMagick"),
    Tool("webpmux", "webp", ("/usr/bin/webpmux",), ("-help",), r"^Usage: webpmux ",
         "libwebp's webpmux"),
    Tool("img2webp", "webp", ("/usr/bin/img2webp",), ("-version",), r"^WebP Encoder version: \d",
         "libwebp's img2webp"),
    Tool("redis-server", "redis-server", ("/usr/bin/redis-server",), ("--version",),
         r"^Redis server v=([7-9]|\d\d+)\.", "Redis server v=7 or later"),
    Tool("redis-cli", "redis-tools", ("/usr/bin/redis-cli",), ("--version",),
         r"^redis-cli ([7-9]|\d\d+)\.", "redis-cli 7 or later"),
    Tool("curl", "curl", ("/usr/bin/curl",), ("-V",), r"^curl \d", "curl"),
    Tool("openssl", "openssl", ("/usr/bin/openssl",), ("version",), r"^OpenSSL \d", "OpenSSL"),
    Tool("ip", "iproute2", ("/usr/bin/ip", "/usr/sbin/ip", "/bin/ip", "/sbin/ip"), ("-V",),
         r"^ip utility, iproute2-", "iproute2's ip"),
    Tool("time", "time", ("/usr/bin/time",), ("--version",), r"^time \(GNU Time\)", "GNU time"),
    Tool("git", "git", ("/usr/bin/git",), ("--version",), r"^git version \d", "git"),
    Tool("clang-format", "clang-format", ("/usr/bin/clang-format",), ("--version",),
         r"clang-format version \d", "clang-format"),
    Tool("clang", "clang", ("/usr/bin/clang",), ("--version",), r"clang version \d",
         "clang (the arm64 build check of the NEON kernels)"),
    Tool("node", "nodejs", ("/usr/bin/node",), ("-p", "process.release.name"), r"^node$",
         "Node.js"),
    Tool("npm", "npm", ("/usr/bin/npm",), ("help",), r"^npm@\d", "npm"),
    Tool("chromium", "chromium", ("/usr/bin/chromium",), ("--version",), r"^Chromium \d",
         "Chromium"),
    Tool("certutil", "libnss3-tools", ("/usr/bin/certutil",), (),
         r"^certutil - Utility to manipulate NSS", "NSS's certutil"),
    Tool("tiffinfo", "libtiff-tools", ("/usr/bin/tiffinfo",), ("-h",), r"^LIBTIFF, Version \d",
         "libtiff's tiffinfo"),
    Tool("tiffdump", "libtiff-tools", ("/usr/bin/tiffdump",), ("-h",), r"^usage: \S*tiffdump ",
         "libtiff's tiffdump"),
    Tool("promtool", "prometheus", ("/usr/bin/promtool",), ("--version",),
         r"^promtool, version \d", "Prometheus's promtool"),
    # libheif's example programs print their banner on stderr for -h.
    Tool("heif-enc", "libheif-examples", ("/usr/bin/heif-enc",), ("-h",),
         r"^ ?heif-enc\s+libheif version: 1\.", "libheif's heif-enc"),
    Tool("heif-convert", "libheif-examples", ("/usr/bin/heif-convert",), ("-h",),
         r"^ ?heif-convert\s+libheif version: 1\.", "libheif's heif-convert"),
    Tool("avifdec", "libavif-bin", ("/usr/bin/avifdec",), ("--version",),
         r"^Version: \d+\.\d+\.\d+ \(.*\[dec\]", "libavif's avifdec"),
    Tool("avifenc", "libavif-bin", ("/usr/bin/avifenc",), ("--version",),
         r"^Version: \d+\.\d+\.\d+ \(.*\[enc", "libavif's avifenc"),
    # the load balancer in front of several coordinators (tests/ha)
    Tool("haproxy", "haproxy", ("/usr/sbin/haproxy",), ("-v",), r"^HAProxy version 2\.",
         "HAProxy 2"),
    # PostgreSQL 15 (Debian 12's postgresql-15, from the `postgresql` package): the throw-away
    # clusters of tests/pg/pgcluster.py and the PostgreSQL metadata backups
    *(Tool(name, "postgresql", ("/usr/lib/postgresql/15/bin/" + name,), ("--version",),
           r"^%s \(PostgreSQL\) 15\." % name, "PostgreSQL 15's " + name)
      for name in ("initdb", "postgres", "psql", "pg_dump", "pg_restore")),
)}


class ToolError(AssertionError):
    """A tool is missing (missing=True) or is not the right program."""

    def __init__(self, message, missing):
        super().__init__(message)
        self.missing = missing


_cache = {}  # (tool, path) -> (found path, None) or (MISSING or None, message)
MISSING = object()


def find(name, path=None):
    """The absolute path of the real NAME (a key of TOOLS), checked by its
    banner; raises ToolError otherwise. path: check that file only (e.g.
    $CHROMIUM) instead of the package's paths."""
    tool = TOOLS[name]
    key = (tool, path)
    if key not in _cache:
        _cache[key] = _look(tool, path)
    found, message = _cache[key]
    if message:
        raise ToolError(message, missing=found is MISSING)
    return found


def check(name, path=None):
    """(path, None) for the real NAME, or (None, ToolError) without raising."""
    try:
        return find(name, path), None
    except ToolError as e:
        return None, e


def needs(*names):
    """Decorates a test method: it fails at once, with find's one message,
    unless every named tool is there (instead of once per subTest)."""
    def wrap(test):
        @functools.wraps(test)
        def checked(*args, **kw):
            for name in names:
                find(name)
            return test(*args, **kw)
        return checked
    return wrap


def banner(tool, path):
    """(matches, first line of what PATH printed for the tool's version arguments)."""
    try:
        r = subprocess.run([path, *tool.args], stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=BANNER_TIMEOUT_S, env=dict(os.environ, LC_ALL="C"))
    except subprocess.TimeoutExpired:
        return False, "no answer in %d s" % BANNER_TIMEOUT_S
    except OSError as e:
        return False, "cannot run: %s" % (e.strerror or e)
    out = r.stdout.decode(errors="replace")
    err = r.stderr.decode(errors="replace")
    if re.search(tool.banner, out, re.M) or re.search(tool.banner, err, re.M):
        return True, ""
    first = next((line.strip() for line in (out + "\n" + err).splitlines() if line.strip()), "")
    return False, "%r" % (first[:120] if first else "nothing (exit %d)" % r.returncode)


def _describe(tool, path):
    """How PATH answered, for a message: path (-> its target), and what it said."""
    real = os.path.realpath(path)
    shown = path if real == path else "%s (-> %s)" % (path, real)
    ok, said = banner(tool, path)
    if ok:
        return ok, "%s, which answers as %s but is not where Debian's %s puts it" % (
            shown, tool.what, tool.package)
    return ok, "%s, whose `%s` says %s" % (shown, " ".join((tool.name, *tool.args)), said)


def _look(tool, only=None):
    found_instead = []
    for path in (only,) if only else tool.paths:
        if not os.path.exists(path):
            continue
        ok, described = _describe(tool, path)
        if ok:
            return path, None
        found_instead.append(described)
    if not only:
        on_path = shutil.which(tool.name)
        if on_path and not any(os.path.samefile(on_path, p) for p in tool.paths
                               if os.path.exists(p)):
            found_instead.append("first on PATH " + _describe(tool, on_path)[1])
    where = only or " or ".join(tool.paths)
    message = "%s: needs %s (Debian package %s: run scripts/install-deps.sh test); " % (
        tool.name, tool.what, tool.package)
    if found_instead:
        message += "found instead " + "; ".join(found_instead)
    else:
        message += "not installed: no %s%s" % (
            where, "" if only else ", and no %s on PATH" % tool.name)
    return (None if found_instead else MISSING), message
