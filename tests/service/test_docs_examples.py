"""The examples of docs/api.md, docs/cli.md and docs/formats.md against the
real server and CLI (issue 12 point 8), so the docs and the code cannot
disagree again:

- api.md: every id in an example has the form of the ids the server hands
  out; each example command followed by its documented answer
  (`# 200 {...}`) is run with curl (documented ids replaced by the real
  ones as they appear) and every literal `"key":value` of the answer must
  be in the real one;
- cli.md: the synopsis of process and the client commands names exactly the options
  their usage message names; the `tessera submit` transcript is run and its
  lines match; the `tessera user quota` transcript is run as written;
- formats.md: each limit of the table is what the CLI and the server
  enforce (files over it are refused with that number in the message), and
  the output formats (the "write" column, api.md's `output.format`, cli.md's
  `--format`) are what the API and the CLI accept.
"""
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import unittest
import zlib

from harness import ADMIN_TOKEN, BIN, DATA, ROOT, Server, unique_bytes, with_db

DOCS = os.path.join(ROOT, "docs")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
FORMATS = ["jpeg", "png", "gif", "webp", "tiff", "bmp", "pnm"]


def doc(name):
    with open(os.path.join(DOCS, name)) as f:
        return f.read()


def fenced(text):
    """The fenced code blocks of a Markdown text, as strings."""
    return re.findall(r"^ *```[a-z]*\n(.*?)^ *```", text, re.M | re.S)


def png_header(width, height):
    """A PNG that declares width x height (gray) and holds almost nothing."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


def units_pair(value, limit, pixels=False):
    """A value and its limit as the server and the CLI write them (src/util/units.c):
    decimal units at the smaller one's scale, with as few decimals as make them differ."""
    names = ["pixels", "", "MP", "GP", "TP"] if pixels else ["bytes", "kB", "MB", "GB", "TB"]
    scale, v = 0, min(value, limit)
    while v >= 1000 and scale < 4:
        v //= 1000
        scale += 1
    if pixels and scale == 1:
        scale = 0

    def text(x, decimals):
        if scale == 0:
            return "%d %s" % (x, names[0])
        return "%.*f %s" % (decimals, x / 1000.0 ** scale, names[scale])
    for decimals in range(7):
        a, b = text(value, decimals), text(limit, decimals)
        if value == limit or a != b:
            break
    return a, b


def gif_frames(n, width=1, height=1):
    """A GIF of n 1x1 frames on a width x height screen."""
    head = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return head + frame * n + b"\x3b"


def documented_pairs(text):
    """Every "key":literal of a documented answer whose literal is complete
    (a number, true/false/null or a string without "...")."""
    pairs = []
    for key, value in re.findall(r'"([a-z_]+)":\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null)',
                                 text):
        if "..." not in value:
            pairs.append((key, json.loads(value)))
    return pairs


def all_pairs(value, out):
    """Every (key, scalar) pair anywhere in a decoded JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(v, (dict, list)):
                out.append((k, v))
            all_pairs(v, out)
    elif isinstance(value, list):
        for v in value:
            all_pairs(v, out)
    return out


# A job's live fields: the documented answer shows a job just queued; on a
# fast (or idle) server it may already be running when the answer is built.
LIVE = {"state", "percent", "tiles_done", "tiles_total", "eta_seconds", "started"}


class DocsExamplesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server()
        cls.url = "http://127.0.0.1:%d" % cls.srv.port
        cls.tmp = tempfile.mkdtemp(prefix="tessera-docs-")
        for name in ("chelsea.png", "rocket.jpg"):
            shutil.copy(os.path.join(DATA, name), cls.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tessera(self, *args, cwd=None, env=None):
        return subprocess.run([BIN, *with_db(args)], capture_output=True, text=True, timeout=120,
                              cwd=cwd or self.tmp, env=dict(os.environ, **(env or {})))

    # ---------- api.md ----------

    def test_api_ids_have_the_real_form(self):
        status, image, _ = self.srv.upload(os.path.join(DATA, "chelsea.png"))
        self.assertIn(status, (200, 201), image)  # 200: another test stored it first
        body = {"images": [image["id"]], "pipeline": "grayscale"}
        status, job, _ = self.srv.json("POST", "/api/v1/jobs", body)
        self.assertEqual(status, 201, job)
        self.assertRegex(image["id"], HEX32)
        self.assertRegex(job["id"], HEX32)
        text = "\n".join(fenced(doc("api.md")))
        ids = re.findall(r'"(?:id|image)":\s*"([^"]+)"', text)
        ids += re.findall(r"/(?:images|jobs)/([^/\"?\s]+)", text)
        ids += re.findall(r'"images":\s*\[([^\]]*)\]', text)
        found = []
        for value in ids:
            value = re.sub(r"\{[^}]*\}", "", value)  # objects in a list: sizes, not ids
            found += re.findall(r'[A-Za-z0-9_.]+', value) if "," in value or '"' in value else [value]
        found = [v for v in found if v not in ("...",)]
        self.assertTrue(found, "api.md shows no ids")
        _, presets, _ = self.srv.json("GET", "/api/v1/presets")
        for value in found:
            if value in ("delete",):
                continue  # a route (POST /images/delete), not an id
            if value in [p["id"] for p in presets]:
                continue  # a preset's id is its short name (edge-detection), as the server has it
            if value.isdigit() or re.search(r"\.(png|jpe?g|webp|tiff?|gif|bmp)$", value):
                continue  # users and tokens; a file name given with its size
            self.assertRegex(value, HEX32, "api.md shows an id the server never hands out: %s" % value)

    def api_examples(self):
        """(command, documented answer) of api.md's examples with a `# 2xx {` answer."""
        out = []
        for block in fenced(doc("api.md")):
            lines = block.split("\n")
            i = 0
            while i < len(lines):
                command = lines[i]
                while (command.endswith("\\") or command.count("'") % 2) and i + 1 < len(lines):
                    i += 1
                    command = (command[:-1] if command.endswith("\\") else command) + " " + lines[i].strip()
                inline = re.search(r"\s+# (2\d\d) (\{.*)$", command)
                answer = ""
                if inline:
                    command, answer = command[:inline.start()], inline.group(2)
                elif i + 2 < len(lines) and re.match(r"# 2\d\d, .*:$", lines[i + 1]) \
                        and lines[i + 2].startswith("# {"):
                    i += 1  # "# 201, Location: ..., the job object:" then the object
                    answer = lines[i + 1][2:]
                    while i + 2 < len(lines) and re.match(r"#\s", lines[i + 2]):
                        answer += lines[i + 2][1:]
                        i += 1
                    i += 1
                elif i + 1 < len(lines) and re.match(r"# 2\d\d(,.*?:)? \{", lines[i + 1]):
                    answer = re.sub(r"^# 2\d\d(,.*?:)? ", "", lines[i + 1])
                    while i + 2 < len(lines) and re.match(r"#\s", lines[i + 2]) \
                            and not re.match(r"# 2\d\d", lines[i + 2]):
                        answer += lines[i + 2][1:]
                        i += 1
                    i += 1
                if answer and command.startswith("curl"):
                    out.append((command, answer))
                i += 1
        return out

    def test_api_examples_answer_as_documented(self):
        examples = self.api_examples()
        self.assertGreaterEqual(len(examples), 4, examples)
        env = dict(os.environ, T=ADMIN_TOKEN, S=self.url)
        real = {}  # documented id -> the server's
        ran = 0
        for command, answer in examples:
            if "/users" in command or "/tokens" in command:
                continue  # about other accounts than the admin's
            for fake in re.findall(r"[0-9a-f]{32}", command):
                if fake not in real:  # another image the examples uploaded
                    with open(os.path.join(DATA, "rocket.jpg"), "rb") as f:  # a new image each
                        data = unique_bytes(f.read(), len(real) + 1000)
                    status, image, _ = self.srv.upload_bytes(data, "rocket.jpg")
                    self.assertEqual(status, 201, image)
                    real[fake] = image["id"]
                command = command.replace(fake, real[fake])
                answer = answer.replace(fake, real[fake])  # the answer names it too
            for job in re.findall(r"/jobs/([0-9a-f]{32})/feedback", command):
                self.srv.wait_job(job)  # feedback is taken once a job has finished
            script = 'auth=(-H "Authorization: Bearer $T")\n' + command
            r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                               cwd=self.tmp, env=env)
            self.assertEqual(r.returncode, 0, "%s: %s" % (command, r.stderr))
            got = json.loads(r.stdout)
            pairs = all_pairs(got, [])
            for key, value in documented_pairs(answer):
                if key == "id" and isinstance(value, str) and HEX32.match(value):
                    if "id" in got:
                        real[value] = got["id"]
                    continue
                if key in ("image",):
                    continue
                if key in LIVE and "/jobs" in command:
                    continue  # a new job may have started by the time it answers
                self.assertIn((key, value), pairs, "%s answers %s; api.md says %s" % (command, r.stdout, answer))
            ran += 1
        self.assertGreaterEqual(ran, 4)

    def test_api_error_example(self):
        m = re.search(r'(\{"error":\{"code":"bad_pipeline".*?\}\})', doc("api.md"))
        self.assertIsNotNone(m)
        documented = json.loads(m.group(1))["error"]
        got = re.search(r"\(got ([^)]+)\)", documented["message"]).group(1)
        steps = [{"op": "grayscale"}, {"op": "gaussian-blur", "sigma": float(got)}]
        status, body, _ = self.srv.json("POST", "/api/v1/pipelines/validate", {"pipeline": steps})
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"]["code"], documented["code"])
        self.assertEqual(body["error"]["step"], documented["step"])
        self.assertEqual(body["error"]["param"], documented["param"])
        self.assertIn("between 0 and 100", body["error"]["message"])
        self.assertIn("sigma", body["error"]["message"])

    # ---------- cli.md ----------

    def test_cli_synopsis_matches_usage(self):
        text = doc("cli.md")
        for command in ("process", "submit", "status", "fetch"):
            m = re.search(r"^tessera %s\b.*?(?=^tessera |^```)" % command, text, re.M | re.S)
            self.assertIsNotNone(m, command)
            documented = set(re.findall(r"--[a-z-]+", m.group(0)))
            r = self.tessera(command, "--no-such-option")
            usage = r.stderr[r.stderr.find("usage:"):]
            self.assertIn("usage: tessera %s" % command, usage)
            self.assertEqual(documented, set(re.findall(r"--[a-z-]+", usage)),
                             "cli.md's synopsis of %s differs from its usage" % command)

    def check_transcript(self, command, expected, cwd=None):
        """Runs `tessera ...` (command, as written in a doc) against the server
        and matches its stdout to the documented lines: an id shown as
        "7a05dfec..." stands for 32 hex digits, times and saved sizes vary."""
        args = [a.strip("'") for a in re.findall(r"'[^']*'|\S+", command)[1:]]
        r = self.tessera(*args, cwd=cwd, env={"TESSERA_SERVER": self.url, "TESSERA_TOKEN": ADMIN_TOKEN})
        self.assertEqual(r.returncode, 0, r.stderr)
        got = r.stdout.strip().split("\n")
        self.assertEqual(len(got), len(expected), r.stdout)
        for want, line in zip(expected, got):
            want = re.sub(r"\b[0-9a-f]{8}\.\.\.", "\0ID\0", want)               # 7a05dfec...
            want = re.sub(r"\b\d+\.\d+s\b", "\0TIME\0", want)                    # 0.71s
            want = re.sub(r"\((\d+ bytes|\.\.\.)\)$", "(\0SIZE\0)", want)        # (12787 bytes)
            pattern = re.escape(want).replace("\0ID\0", "[0-9a-f]{32}")
            pattern = pattern.replace("\0TIME\0", r"\d+\.\d+s").replace("\0SIZE\0", r"\d+ bytes")
            # the shared server may hold the file already: the same line, marked
            self.assertRegex(line, "^" + pattern + r"( \(already stored\))?$")

    def test_cli_submit_transcript(self):
        block = next(b for b in fenced(doc("cli.md")) if "$ tessera submit" in b)
        lines = block.strip().split("\n")
        command = next(ln for ln in lines if ln.startswith("$ tessera submit"))[2:]
        self.check_transcript(command, lines[lines.index("$ " + command) + 1:])

    def test_quickstart_submit(self):
        block = next(b for b in fenced(doc("quickstart.md")) if "tessera submit" in b)
        lines = block.strip().split("\n")
        at = next(i for i, ln in enumerate(lines) if "tessera submit" in ln)
        expected = []
        for ln in lines[at + 1:]:
            if not ln.startswith("# "):
                break
            expected.append(ln[2:])
        command = lines[at].replace("build/src/cli/tessera", "tessera")
        self.check_transcript(command, expected, cwd=self.quick_root())

    def quick_root(self):
        """A folder with tests/data/chelsea.png in it, as the repository has."""
        folder = os.path.join(self.tmp, "quick")
        os.makedirs(os.path.join(folder, "tests", "data"), exist_ok=True)
        shutil.copy(os.path.join(DATA, "chelsea.png"), os.path.join(folder, "tests", "data"))
        return folder

    def test_cli_user_quota_transcript(self):
        text = doc("cli.md")
        block = next(b for b in fenced(text) if "$ tessera user quota" in b)
        data = os.path.join(self.tmp, "offline-data")
        r = self.tessera("user", "add", "admin", "--role", "admin", "--data", data)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.tessera("user", "add", "alice", "--role", "user", "--data", data)
        self.assertEqual(r.returncode, 0, r.stderr)
        for part in block.strip().split("$ ")[1:]:
            command, *want = part.strip().split("\n")
            args = command.split()[1:]
            args[args.index("--data") + 1] = data
            r = self.tessera(*args)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip().split("\n"), want, command)

    # ---------- formats.md ----------

    def limits_table(self):
        rows = {}
        for line in doc("formats.md").split("\n"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 3 and cells[0] and not cells[0].startswith("-") and cells[0] != "limit":
                rows[cells[0]] = cells[1:]
        return rows

    def upload(self, data, name):
        return self.srv.upload_bytes(data, name)

    def cli_info(self, data, name):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return self.tessera("info", path)

    def test_formats_pixel_limits(self):
        cli, serve = self.limits_table()["pixels (width x height)"]
        cli_px, serve_px = (int(re.match(r"(\d+) GP", c).group(1)) * 10**9 for c in (cli, serve))
        self.assertEqual((cli_px, serve_px), (4 * 10**9, 2 * 10**9))
        side = int((cli_px * 1.05) ** 0.5)  # just over the CLI's cap, within the side caps
        r = self.cli_info(png_header(side, side), "huge.png")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("%s is more than the limit of %s" % units_pair(side * side, cli_px, True),
                      r.stderr)
        big = self.cli_info(png_header(40000, 40000), "big.png")  # 1.6 GP: under both
        self.assertEqual(big.returncode, 0, big.stderr)
        status, body, _ = self.upload(png_header(60000, 50000), "huge.png")  # 3 GP
        self.assertEqual(status, 413, body)
        self.assertEqual(body["error"]["message"], "huge.png: png: %s is more than the limit of %s"
                         % units_pair(60000 * 50000, serve_px, True))

    def test_formats_dimension_limits(self):
        cli, serve = self.limits_table()["width, height"]
        for column in (cli, serve):
            side = int(re.match(r"(\d+) px each", column).group(1))
            self.assertEqual(side, 65500)
        r = self.cli_info(png_header(65501, 1), "wide.png")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("the limit of 65500x65500", r.stderr)
        status, body, _ = self.upload(png_header(1, 65501), "tall.png")
        self.assertEqual(status, 413, body)
        self.assertIn("the limit of 65500x65500", body["error"]["message"])

    def test_formats_frame_limits(self):
        cli, serve = self.limits_table()["frames an animated file may declare"]
        cli_n, serve_n = int(cli.split()[0]), int(serve.split()[0])
        r = self.cli_info(gif_frames(cli_n), "many.gif")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.cli_info(gif_frames(cli_n + 1), "toomany.gif")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("limit of %d frames" % cli_n, r.stderr)
        status, body, _ = self.upload(gif_frames(serve_n), "many.gif")
        self.assertEqual(status, 201, body)
        status, body, _ = self.upload(gif_frames(serve_n + 1), "toomany.gif")
        self.assertEqual(status, 413, body)
        self.assertIn("limit of %d frames" % serve_n, body["error"]["message"])

    def test_formats_all_frames_limits(self):
        cli, serve = self.limits_table()["pixels of all frames of an animation (width x height x frames)"]
        cli_gp, serve_gp = (float(re.match(r"([\d.]+) GP", c).group(1)) for c in (cli, serve))
        self.assertIn("`--max-total-pixels`", serve)
        # 257 frames of 4096x4096 (4.31 GP) and of 2048x2048 (1.08 GP): just over each
        r = self.cli_info(gif_frames(257, 4096, 4096), "bomb.gif")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertRegex(r.stderr, r"limit of %s\d* GP for all frames" % re.escape("%.2f" % cli_gp))
        r = self.cli_info(gif_frames(255, 4096, 4096), "fine.gif")
        self.assertEqual(r.returncode, 0, r.stderr)
        status, body, _ = self.upload(gif_frames(257, 2048, 2048), "bomb.gif")
        self.assertEqual(status, 413, body)
        self.assertRegex(body["error"]["message"],
                         r"limit of %s\d* GP for all frames" % re.escape("%.2f" % serve_gp))

    def test_formats_file_size_limits(self):
        cli, serve = self.limits_table()["encoded file size"]
        cli_cap, serve_cap = (int(re.search(r"\((\d+) GiB", c).group(1)) << 30 for c in (cli, serve))
        path = os.path.join(self.tmp, "big.tif")
        size = cli_cap + 10**9
        with open(path, "wb") as f:  # sparse: takes no disk
            f.truncate(size)
        try:
            r = self.tessera("info", path)
        finally:
            os.unlink(path)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("%s is more than the limit of %s" % units_pair(size, cli_cap), r.stderr)
        size = serve_cap + 10**9
        c = self.srv.conn()
        try:
            c.putrequest("POST", "/api/v1/images?name=big.tif")
            c.putheader("Authorization", "Bearer " + ADMIN_TOKEN)
            c.putheader("Content-Type", "application/octet-stream")
            c.putheader("Content-Length", str(size))
            c.endheaders()
            resp = c.getresponse()
            body = json.loads(resp.read())
        finally:
            c.close()
        self.assertEqual(resp.status, 413, body)
        self.assertIn("%s, more than the limit of %s" % units_pair(size, serve_cap),
                      body["error"]["message"])

    def test_formats_outputs(self):
        rows = {}
        for line in doc("formats.md").split("\n"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 4 and cells[0].lower() in FORMATS + ["jpeg"]:
                rows[cells[0].lower()] = cells[2]
        self.assertEqual(set(rows), set(FORMATS))
        api_doc = re.search(r"`output\.format` is one of (.*?);", doc("api.md"), re.S).group(1)
        api_listed = set(re.findall(r"`([a-z]+)`", api_doc))
        cli_doc = re.search(r"- `--format`:(.*?);", doc("cli.md"), re.S).group(1)
        cli_listed = set(re.findall(r"`([a-z]+)`", cli_doc)) - {"jpg"}
        status, image, _ = self.srv.upload(os.path.join(DATA, "chelsea.png"))
        self.assertIn(status, (200, 201), image)
        for fmt, write in rows.items():
            api_only_not = "`tessera process` only" in write
            body = {"images": [image["id"]], "pipeline": "grayscale", "output": {"format": fmt}}
            status, job, _ = self.srv.json("POST", "/api/v1/jobs", body)
            self.assertEqual(status, 400 if api_only_not else 201, "%s: %s" % (fmt, job))
            self.assertEqual(fmt in api_listed, not api_only_not, "api.md's output.format and %s" % fmt)
            self.assertEqual(fmt in cli_listed, not api_only_not, "cli.md's --format and %s" % fmt)
            out = os.path.join(self.tmp, "out." + fmt)
            r = self.tessera("process", "-p", "grayscale", os.path.join(DATA, "chelsea.png"),
                             "-o", out, "--format", fmt)
            self.assertEqual(r.returncode, 0, "%s: %s" % (fmt, r.stderr))


if __name__ == "__main__":
    unittest.main()
