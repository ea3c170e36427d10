"""Static checks of the web UI (src/server/web) and of docs/openapi.yaml.

No server is needed for most checks. The web UI must load nothing from
outside (the page is served with a CSP of default-src 'self'), have no
inline script or inline event handlers, and label every control. Its script
is ES modules: the entry app.js imports the modules in js/; every module it
reaches must exist, be embedded (src/server/meson.build) and, when the
tessera binary is built ($TESSERA_BIN, default build/src/cli/tessera), be
served by `tessera serve` as JavaScript. The OpenAPI file must list exactly
the v1 routes (the server's route test compares against `openapi_routes()`).
PyYAML (Debian python3-yaml) is used for the deeper checks when present; the
route list is read by a small line-based parser either way.
"""
import html.parser
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/
import tools  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEB = os.path.join(REPO, "src", "server", "web")
SPEC = os.path.join(REPO, "docs", "openapi.yaml")
MESON = os.path.join(REPO, "src", "server", "meson.build")
BIN = os.environ.get("TESSERA_BIN", os.path.join(REPO, "build", "src", "cli", "tessera"))
if not os.path.isabs(BIN):
    BIN = os.path.join(REPO, BIN)
ENTRY = "app.js"  # the page's <script type="module">; the modules are in js/
MAX_MODULE_LINES = 300

try:
    import yaml
except ImportError:  # the line-based checks still run
    yaml = None

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

# Every route of `tessera serve` (ARCHITECTURE.md section 8, issue 3 point 2).
EXPECTED_ROUTES = {
    ("POST", "/api/v1/images"), ("GET", "/api/v1/images"),
    ("GET", "/api/v1/images/{id}"), ("DELETE", "/api/v1/images/{id}"),
    ("GET", "/api/v1/images/{id}/content"),
    ("GET", "/api/v1/images/{id}/thumbnail"), ("POST", "/api/v1/images/delete"),
    ("POST", "/api/v1/images/{id}/preview"), ("GET", "/api/v1/presets"),
    ("POST", "/api/v1/jobs/{id}/rerun"),
    ("POST", "/api/v1/jobs/{id}/feedback"), ("GET", "/api/v1/feedback"),
    ("GET", "/api/v1/operations"),
    ("POST", "/api/v1/pipelines/validate"),
    ("GET", "/api/v1/pipelines/saved"), ("POST", "/api/v1/pipelines/saved"),
    ("GET", "/api/v1/pipelines/saved/{name}"), ("PUT", "/api/v1/pipelines/saved/{name}"),
    ("DELETE", "/api/v1/pipelines/saved/{name}"),
    ("GET", "/api/v1/pipelines/saved/{name}/versions"),
    ("GET", "/api/v1/pipelines/saved/{name}/versions/{version}"),
    ("POST", "/api/v1/pipelines/saved/{name}/rollback"),
    ("POST", "/api/v1/jobs"), ("GET", "/api/v1/jobs"),
    ("GET", "/api/v1/jobs/{id}"), ("DELETE", "/api/v1/jobs/{id}"),
    ("GET", "/api/v1/jobs/{id}/events"),
    ("GET", "/api/v1/jobs/{id}/result"), ("GET", "/api/v1/jobs/{id}/result/{image}"),
    ("GET", "/api/v1/jobs/{id}/result/{image}/dzi"),
    ("GET", "/api/v1/jobs/{id}/result/{image}/dzi/{level}/{tile}.{ext}"),
    ("GET", "/api/v1/workers"),
    ("GET", "/api/v1/usage"),
    ("POST", "/api/v1/transform"),
    ("POST", "/api/v1/users"), ("GET", "/api/v1/users"),
    ("GET", "/api/v1/users/{id}"), ("PATCH", "/api/v1/users/{id}"),
    ("POST", "/api/v1/tokens"), ("GET", "/api/v1/tokens"), ("DELETE", "/api/v1/tokens/{id}"),
    ("GET", "/metrics"), ("GET", "/healthz"), ("GET", "/readyz"),
    ("GET", "/"), ("GET", "/app.js"), ("GET", "/js/{name}.js"), ("GET", "/style.css"),
    ("GET", "/favicon.svg"), ("GET", "/favicon.ico"),
}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def openapi_routes(path=SPEC):
    """The (METHOD, path) pairs of the spec's `paths:` section, read line by line.

    Expects the layout of docs/openapi.yaml: paths at two spaces of indent,
    methods at four."""
    routes, current, in_paths = set(), None, False
    for line in read(path).splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            in_paths = line.rstrip() == "paths:"
            current = None
            continue
        if not in_paths:
            continue
        m = re.match(r"^  (/\S*):\s*$", line)
        if m:
            current = m.group(1).strip("'\"")
            continue
        m = re.match(r"^    ([a-z]+):", line)
        if m and current and m.group(1) in METHODS:
            routes.add((m.group(1).upper(), current))
    return routes


def strip_js_comments(src):
    """JavaScript with // and /* */ comments blanked (newlines kept).

    Strings, template literals (with nested ${...}) and regex literals are
    kept as they are, so a URL inside a string is still seen."""
    out, i, n = [], 0, len(src)
    stack = []  # open template literals: -1 in its text, else brace depth inside ${...}
    last = ""  # last significant code character, to tell regex from division

    def blank(text):
        return re.sub(r"[^\n]", " ", text)

    while i < n:
        c = src[i]
        if stack and stack[-1] == -1:  # inside a template literal's text
            if c == "\\":
                out.append(src[i:i + 2])
                i += 2
            elif c == "`":
                stack.pop()
                out.append(c)
                i += 1
                last = "`"
            elif src.startswith("${", i):
                stack[-1] = 0  # code of a ${...}, brace depth 0
                out.append("${")
                i += 2
                last = "{"
            else:
                out.append(c)
                i += 1
            continue
        if c in "'\"":
            j = i + 1
            while j < n and src[j] != c and src[j] != "\n":
                j += 2 if src[j] == "\\" else 1
            out.append(src[i:j + 1])
            i = j + 1
            last = c
        elif c == "`":
            stack.append(-1)
            out.append(c)
            i += 1
        elif src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(blank(src[i:j]))
            i = j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(blank(src[i:j]))
            i = j
        elif c == "/" and (last == "" or last in "(,=:[!&|?{};+-*%<>~^" or
                           re.search(r"\b(return|typeof|case|in|of)\s*$", "".join(out[-3:]))):
            j, in_class = i + 1, False
            while j < n and src[j] != "\n":
                if src[j] == "\\":
                    j += 2
                    continue
                if src[j] == "[":
                    in_class = True
                elif src[j] == "]":
                    in_class = False
                elif src[j] == "/" and not in_class:
                    break
                j += 1
            out.append(src[i:j + 1])
            i = j + 1
            last = "/"
        else:
            if stack and stack[-1] >= 0:
                if c == "{":
                    stack[-1] += 1
                elif c == "}":
                    if stack[-1] == 0:
                        stack[-1] = -1  # back to the template's text
                        out.append(c)
                        i += 1
                        continue
                    stack[-1] -= 1
            out.append(c)
            if not c.isspace():
                last = c
            i += 1
    return "".join(out)


IMPORT_RE = re.compile(r"""^\s*(?:import|export)\s+(?:([\w\s{},*]*?)\s+from\s+)?["']([^"']+)["']""",
                       re.M)


def js_imports(path):
    """(names, specifier) of each import / export ... from in a module, comments left out.
    names: the imported {a, b} names ([] for a bare import or a star)."""
    found = []
    for m in IMPORT_RE.finditer(strip_js_comments(read(path))):
        names = m.group(1) or ""
        braces = re.search(r"\{([^}]*)\}", names)
        listed = [n.split(" as ")[0].strip() for n in braces.group(1).split(",")] if braces else []
        found.append(([n for n in listed if n], m.group(2)))
    return found


def module_graph(entry=ENTRY):
    """{path under WEB: [paths it imports]} of every module the entry reaches."""
    graph, todo = {}, [entry]
    while todo:
        name = todo.pop()
        if name in graph:
            continue
        graph[name] = []
        for _, spec in js_imports(os.path.join(WEB, name)):
            if not spec.startswith(("./", "../")):
                raise AssertionError(f"{name}: import of {spec!r} is not a relative path")
            target = os.path.normpath(os.path.join(os.path.dirname(name), spec)).replace(os.sep, "/")
            graph[name].append(target)
            todo.append(target)
    return graph


def js_sources():
    """Every JavaScript file of the web UI, as paths under WEB."""
    mods = sorted(f"js/{n}" for n in os.listdir(os.path.join(WEB, "js")) if n.endswith(".js"))
    return [ENTRY] + mods


def embedded_files():
    """The web files src/server/meson.build embeds, as paths under WEB."""
    text = read(MESON)
    block = re.search(r"web_files\s*=\s*files\((.*?)\)", text, re.S).group(1)
    return set(re.findall(r"'web/([^']+)'", block))


def strip_css_comments(src):
    return re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), src, flags=re.S)


def strip_html_comments(src):
    return re.sub(r"<!--.*?-->", "", src, flags=re.S)


class PageScan(html.parser.HTMLParser):
    """Collects what the checks need from index.html."""

    CONTROLS = ("input", "select", "textarea", "button")

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids = []  # every id, in order
        self.label_for = set()  # ids named by <label for>
        self.controls = []  # (tag, attrs, inside a label, button text)
        self.scripts = []  # (attrs, inline text)
        self.links = []  # attrs of <link>
        self.bad_attrs = []  # (tag, attribute) that CSP or the rules forbid
        self.label_depth = 0
        self.script = None
        self.button = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.bad_attrs.append((tag, name))
            if value and value.strip().lower().startswith("javascript:"):
                self.bad_attrs.append((tag, name))
        if tag == "label":
            self.label_depth += 1
            if "for" in a:
                self.label_for.add(a["for"])
        elif tag == "script":
            self.script = [a, ""]
        elif tag == "link":
            self.links.append(a)
        if tag in self.CONTROLS:
            entry = [tag, a, self.label_depth > 0, ""]
            self.controls.append(entry)
            if tag == "button":
                self.button = entry

    def handle_endtag(self, tag):
        if tag == "label":
            self.label_depth = max(0, self.label_depth - 1)
        elif tag == "script" and self.script is not None:
            self.scripts.append(tuple(self.script))
            self.script = None
        elif tag == "button":
            self.button = None

    def handle_data(self, data):
        if self.script is not None:
            self.script[1] += data
        if self.button is not None:
            self.button[3] += data


def scan_page():
    page = PageScan()
    page.feed(read(os.path.join(WEB, "index.html")))
    page.close()
    return page


class WebUiStaticTest(unittest.TestCase):
    def test_files_exist(self):
        for name in ("index.html", "app.js", "style.css"):
            self.assertTrue(os.path.isfile(os.path.join(WEB, name)), name)
        self.assertGreater(len(js_sources()), 5, "the modules in js/")

    def test_no_external_urls(self):
        sources = {
            "index.html": strip_html_comments(read(os.path.join(WEB, "index.html"))),
            "style.css": strip_css_comments(read(os.path.join(WEB, "style.css"))),
        }
        for name in js_sources():
            sources[name] = strip_js_comments(read(os.path.join(WEB, name)))
        for name, text in sources.items():
            for m in re.finditer(r"(?i)\b(https?|wss?|ftp):", text):
                line = text.count("\n", 0, m.start()) + 1
                self.fail(f"{name}:{line}: external URL outside a comment")
            if name.endswith(".js"):
                self.assertIsNone(re.search(r"""["'`]//[^/\s]""", text),
                                  f"protocol-relative URL in {name}")
                self.assertIsNone(re.search(r"\beval\s*\(|\bnew\s+Function\s*\(|\bimport\s*\(", text),
                                  f"eval, new Function or a dynamic import in {name}")
        self.assertIsNone(re.search(r"""(?i)(src|href|action)\s*=\s*["']?//""", sources["index.html"]),
                          "protocol-relative URL in index.html")
        self.assertIsNone(re.search(r"""(?i)url\(\s*["']?//|@import""", sources["style.css"]),
                          "external url() or @import in style.css")

    def test_comment_stripper_keeps_strings(self):
        js = "const a = 'http://x'; // http://comment\nconst r = /\\/\\//g; /* https://c */ `${`h`}`"
        out = strip_js_comments(js)
        self.assertIn("'http://x'", out)
        self.assertNotIn("comment", out)
        self.assertNotIn("https://c", out)
        self.assertIn("/\\/\\//g", out)

    def test_no_inline_script_or_handlers(self):
        page = scan_page()
        self.assertEqual(page.bad_attrs, [], "on* / style / javascript: attributes break the CSP")
        self.assertTrue(page.scripts, "index.html loads app.js")
        for attrs, text in page.scripts:
            self.assertTrue(attrs.get("src"), "every <script> has src")
            self.assertEqual(attrs.get("type"), "module", "the script is an ES module")
            self.assertEqual(text.strip(), "", "no inline script content")
            self.assertNotRegex(attrs["src"], r"^(?i:[a-z]+:|//)", "scripts are same-origin files")
        sources = [a["src"] for a, _ in page.scripts] + [l.get("href", "") for l in page.links]
        for src in sources:
            if src and not re.match(r"(?i)^[a-z]+:", src):
                self.assertTrue(os.path.isfile(os.path.join(WEB, src)), f"{src} exists")
        self.assertIn("app.js", sources)
        self.assertIn("style.css", sources)

    def test_every_control_is_labelled(self):
        page = scan_page()
        ids = set(page.ids)
        self.assertEqual(len(page.ids), len(ids), "ids are unique")
        for tag, attrs, in_label, text in page.controls:
            if tag == "input" and attrs.get("type") == "hidden":
                continue
            what = f"<{tag} id={attrs.get('id')!r}>"
            if attrs.get("aria-label", "").strip():
                continue
            if attrs.get("aria-labelledby"):
                for ref in attrs["aria-labelledby"].split():
                    self.assertIn(ref, ids, f"{what}: aria-labelledby names a real id")
                continue
            if tag == "button" and text.strip():
                continue
            self.assertTrue(in_label or attrs.get("id") in page.label_for, f"{what} has no label")
        self.assertTrue(page.controls, "the page has controls")

    def test_generated_controls_are_labelled(self):
        # Controls made by the el() helper (js/dom.js) carry an id (paired
        # with a <label for>), an aria-label, or (buttons) text.
        found = 0
        for name in js_sources():
            js = strip_js_comments(read(os.path.join(WEB, name)))
            for m in re.finditer(r"\bel\('(input|select|button|textarea)',\s*\{", js):
                depth, j = 1, m.end()
                while depth and j < len(js):
                    depth += {"{": 1, "}": -1}.get(js[j], 0)
                    j += 1
                props = js[m.end():j]
                found += 1
                if m.group(1) == "input" and re.search(r"type:\s*'hidden'", props):
                    continue
                ok = re.search(r"(^|[\s,{])id\b|'aria-label'|\btext:", props)
                line = js.count("\n", 0, m.start()) + 1
                self.assertTrue(ok, f"{name}:{line}: generated <{m.group(1)}> has no id, aria-label or text")
        self.assertGreater(found, 5)

    def test_script_ids_exist_in_page(self):
        page_ids = set(scan_page().ids)
        used = set()
        for name in js_sources():
            used |= set(re.findall(r"byId\('([A-Za-z0-9_-]+)'\)", read(os.path.join(WEB, name))))
        self.assertTrue(used)
        self.assertEqual(sorted(used - page_ids), [], "the scripts use ids that index.html lacks")
        header = read(os.path.join(WEB, ENTRY)).split("*/", 1)[0]
        documented = set(re.findall(r"#([a-z][a-z0-9-]+)", header)) - {"token"}
        self.assertEqual(sorted(documented - page_ids), [], "documented ids missing from index.html")
        self.assertEqual(sorted(used - documented - {"signed-out-note", "app-main", "steps-empty",
                                                      "jobs-empty", "messages", "job-heading"}),
                         [], "ids the script uses are documented at the top of app.js")

    def test_progress_bar_is_accessible(self):
        bars = [a for a in self._all_attrs() if a.get("role") == "progressbar"]
        self.assertEqual(len(bars), 1)
        bar = bars[0]
        for key in ("aria-valuemin", "aria-valuemax", "aria-valuenow"):
            self.assertIn(key, bar)
        text = read(os.path.join(WEB, "index.html"))
        self.assertRegex(text, r'aria-live="polite"')
        self.assertRegex(text, r'role="alert"')

    @staticmethod
    def _all_attrs():
        found = []

        class All(html.parser.HTMLParser):
            def handle_starttag(self, tag, attrs):
                found.append(dict(attrs))

        All().feed(read(os.path.join(WEB, "index.html")))
        return found

    def test_script_parses(self):
        # as modules: node --check on a .mjs copy, whatever node's default
        with tempfile.TemporaryDirectory() as tmp:
            for name in js_sources():
                copy = os.path.join(tmp, name.replace("/", "_") + ".mjs")
                shutil.copyfile(os.path.join(WEB, name), copy)
                r = subprocess.run([tools.find("node"), "--check", copy], capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, f"{name}: {r.stderr}")


class WebUiModulesTest(unittest.TestCase):
    """The entry's module graph: complete, embedded, small, and served."""

    def test_every_module_is_reached_and_embedded(self):
        graph = module_graph()
        self.assertEqual(sorted(graph), js_sources(), "every js/ module is imported, none is missing")
        embedded = embedded_files()
        for name in graph:
            self.assertIn(name, embedded, f"{name} is not in web_files of src/server/meson.build")
            self.assertRegex(name, r"^(app|js/[A-Za-z0-9_-]+)\.js$",
                             f"{name}: modules are js/NAME.js (the /js/{{name}}.js route)")

    def test_imported_names_are_exported(self):
        exports = {}
        for name in js_sources():
            code = strip_js_comments(read(os.path.join(WEB, name)))
            exports[name] = set(re.findall(
                r"^export\s+(?:async\s+)?(?:function\*?|const|let|class)\s+(\w+)", code, re.M))
        for name in js_sources():
            for names, spec in js_imports(os.path.join(WEB, name)):
                target = os.path.normpath(os.path.join(os.path.dirname(name), spec)).replace(os.sep, "/")
                for imported in names:
                    self.assertIn(imported, exports[target], f"{name} imports {imported} from {target}")

    def test_no_import_cycles(self):
        # the modules form layers (dom, format, state, api below the screens,
        # the entry on top); a cycle means a screen reached back up
        graph, done = module_graph(), set()

        def visit(name, path):
            self.assertNotIn(name, path, "import cycle: " + " -> ".join(path + [name]))
            if name in done:
                return
            for target in graph[name]:
                visit(target, path + [name])
            done.add(name)

        visit(ENTRY, [])

    def test_module_size_and_header(self):
        for name in js_sources():
            text = read(os.path.join(WEB, name))
            self.assertLessEqual(text.count("\n"), MAX_MODULE_LINES, f"{name} is over {MAX_MODULE_LINES} lines")
            self.assertTrue(text.startswith("/*"), f"{name} starts with a comment saying what it does")

    @unittest.skipUnless(os.access(BIN, os.X_OK), "tessera binary not built (set TESSERA_BIN)")
    def test_modules_are_served(self):
        tmp = tempfile.mkdtemp(prefix="tessera-webui-")
        env = dict(os.environ, TESSERA_ADMIN_TOKEN="5e" * 32)
        proc = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--data", os.path.join(tmp, "data")],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
        try:
            port = None
            deadline = time.time() + 20
            while port is None and time.time() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
                port = int(m.group(1)) if m else None
            self.assertIsNotNone(port, "tessera serve did not start")
            self.check_served(port)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            shutil.rmtree(tmp, ignore_errors=True)

    def check_served(self, port):
        def get(path):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                return response.status, response.getheader("Content-Type") or "", response.read()
            finally:
                conn.close()

        for name in module_graph():
            status, ctype, body = get("/" + name)
            self.assertEqual(status, 200, name)
            self.assertTrue(ctype.startswith("text/javascript"), f"/{name}: Content-Type {ctype}")
            with open(os.path.join(WEB, name), "rb") as f:
                self.assertEqual(body, f.read(), f"/{name} is the file")
        for path in ("/js/nope.js", "/js/../app.js", "/js/%2e%2e/app.js", "/js/api.js/", "/js/a.b.js",
                     "/js/api", "/js/x/api.js", "/index.html", "/js/"):
            self.assertEqual(get(path)[0], 404, path)


class OpenApiTest(unittest.TestCase):
    def test_routes_match_exactly(self):
        routes = openapi_routes()
        self.assertEqual(sorted(routes - EXPECTED_ROUTES), [], "routes in the spec but not expected")
        self.assertEqual(sorted(EXPECTED_ROUTES - routes), [], "expected routes missing from the spec")

    def test_header(self):
        text = read(SPEC)
        self.assertRegex(text, r"(?m)^openapi: [\"']?3\.0\.\d+")
        self.assertRegex(text, r"(?m)^paths:\s*$")
        self.assertRegex(text, r"(?m)^components:\s*$")
        self.assertNotIn("\t", text, "YAML must not contain tabs")

    @unittest.skipUnless(yaml, "python3-yaml not installed")
    def test_structure(self):
        spec = yaml.safe_load(read(SPEC))
        self.assertTrue(str(spec["openapi"]).startswith("3.0."))
        parsed = {(m.upper(), p) for p, item in spec["paths"].items() for m in item if m in METHODS}
        self.assertEqual(parsed, openapi_routes(), "the line-based reader agrees with PyYAML")
        self.assertEqual(spec["security"], [{"bearerAuth": []}])
        self.assertEqual(spec["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer")

        def resolve(node):
            while isinstance(node, dict) and "$ref" in node:
                ref = node["$ref"]
                self.assertTrue(ref.startswith("#/"), ref)
                target = spec
                for part in ref[2:].split("/"):
                    self.assertIn(part, target, f"unresolved $ref {ref}")
                    target = target[part]
                node = target
            return node

        def walk(node):  # every $ref anywhere resolves
            if isinstance(node, dict):
                if "$ref" in node:
                    resolve(node)
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        walk(spec)
        error_schema = spec["components"]["schemas"]["Error"]
        op_ids = set()
        for path, item in spec["paths"].items():
            path_params = [resolve(p) for p in item.get("parameters", [])]
            for method, op in item.items():
                if method not in METHODS:
                    continue
                where = f"{method.upper()} {path}"
                self.assertNotIn(op["operationId"], op_ids, f"{where}: operationId is unique")
                op_ids.add(op["operationId"])
                params = path_params + [resolve(p) for p in op.get("parameters", [])]
                declared = {p["name"] for p in params if p["in"] == "path"}
                self.assertEqual(declared, set(re.findall(r"\{(\w+)\}", path)), f"{where}: path params")
                self.assertNotIn("token", {p["name"] for p in params if p["in"] == "query"},
                                 "tokens are never taken from the query string")
                if path.startswith("/api/"):
                    self.assertNotIn("security", op, f"{where} needs the bearer token")
                    self.assertIn("401", op["responses"], f"{where} documents 401")
                else:
                    self.assertEqual(op.get("security"), [], f"{where} needs no token")
                self.assertTrue(op["responses"], where)
                for code, response in op["responses"].items():
                    response = resolve(response)
                    self.assertTrue(response.get("description"), f"{where} {code}")
                    if int(code) >= 400:
                        schema = resolve(response["content"]["application/json"]["schema"])
                        self.assertIs(schema, error_schema, f"{where} {code}: the JSON error body")
                    if code in ("429", "503"):
                        self.assertIn("Retry-After", response.get("headers", {}), f"{where} {code}")

    @unittest.skipUnless(yaml, "python3-yaml not installed")
    def test_job_and_image_fields(self):
        schemas = yaml.safe_load(read(SPEC))["components"]["schemas"]
        self.assertEqual(set(schemas["Image"]["required"]),
                         {"id", "format", "width", "height", "bands", "frames", "bytes", "sha256",
                          "name"})
        self.assertEqual(set(schemas["Job"]["required"]),
                         {"id", "state", "percent", "tiles_done", "tiles_total", "eta_seconds",
                          "pipeline_text", "pipeline", "versions", "output", "saved_pipeline",
                          "created", "started", "finished", "error", "cpu_seconds", "items"})
        self.assertEqual(set(schemas["JobItem"]["required"]),
                         {"image", "state", "error", "width", "height", "bytes", "seconds"})
        self.assertEqual(schemas["JobState"]["enum"],
                         ["queued", "running", "succeeded", "failed", "cancelled"])
        self.assertEqual(set(schemas["UserCreated"]["required"]), {"id", "name", "role", "token"})


if __name__ == "__main__":
    unittest.main()
