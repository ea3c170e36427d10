#!/usr/bin/python3
"""Runs tessera's whole test suite and ends with one line "N passed, N failed".

Steps, each counted case by case:
  1. formatting of every C file (clang-format --dry-run --Werror)
  2. release build with -Wall -Wextra -Werror (build-test/)
  3. the C unit suite (every test program prints one line per case); its
     S3 tests run s3rver from tests/s3 (npm, pinned), installed first
  4. the Python oracle / CLI tests (tests/oracle, against python3-opencv) and
     the service tests (tests/service, against a real `tessera serve`) and the
     fleet tests (tests/fleet: a real redis-server and `tessera worker`s)
      (the service and fleet tests run twice: on the files blob store, then
      with every server on an S3 store, tests/s3's s3rver behind a
      SigV4-checking front; the service tests a third time with every
      server's metadata in PostgreSQL, a throw-away cluster of
      tests/pg/pgcluster.py, TESSERA_TEST_DB=postgresql; and a fourth with
      every server three coordinators on PostgreSQL and S3 behind HAProxy,
      TESSERA_TEST_HA=3, skipping with its reason each test that looks at
      one process)
  4b. the browser test (tests/browser: playwright-core driving Debian's
     chromium against a real `tessera serve`: ui.test.mjs the user's path,
     ux.test.mjs errors, a restart mid-job and narrow screens, library.test.mjs
     the image library and the job history, versions.test.mjs saved
     pipelines and recorded versions, preview.test.mjs presets and the
     live preview, feedback.test.mjs rating a finished job, zoom.test.mjs the
     zoomable view, animation.test.mjs animated inputs; then over TLS against
     a test CA; skipped, with a message, only when chromium is not installed,
     the TLS part also when certutil is not)
  4c. the high-availability tests (tests/ha: PostgreSQL, s3rver, Redis, three
     coordinators and Debian's haproxy in front of them; an API walk and the
     browser tests that take an external server through the balancer, kill -9
     of a job's coordinator 20 times, a rolling restart under submissions)
  5. the C unit suite again under ASan + UBSan (build-asan/)
  6. the engine's and the fleet's unit tests under TSan (build-tsan/)

External programs (clang-format, git, chromium, node, npm, certutil, openssl)
come from tests/tools.py, as in the Python tests: each at its Debian path,
checked by its version banner; a wrong one is a failure with its message.
"""
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import tools  # noqa: E402
passed = 0
failed = 0
failures = []


def say(msg):
    print(msg, flush=True)


def record(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        failures.append(name + (": " + detail if detail else ""))


def run(cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, text=True, capture_output=True, **kw)


def step_format():
    git, _ = tools.check("git")
    files = run([git, "ls-files", "*.c", "*.h", "*.cpp"]).stdout.split() if git else []
    if not files:
        files = [os.path.relpath(os.path.join(d, f), ROOT)
                 for top in ("src", "include", "tests", "bench")
                 for d, _, fs in os.walk(os.path.join(ROOT, top))
                 for f in fs if f.endswith((".c", ".h", ".cpp"))]
    clang_format, error = tools.check("clang-format")
    if error:
        record("format", False, str(error))
        say(f"[format] {error}")
        return
    r = run([clang_format, "--dry-run", "--Werror"] + files)
    record("format", r.returncode == 0, r.stderr[-2000:])
    say(f"[format] {len(files)} files {'ok' if r.returncode == 0 else 'NOT FORMATTED'}")
    if r.returncode:
        say(r.stderr[-2000:])


def build(builddir, extra):
    if not os.path.exists(os.path.join(ROOT, builddir, "build.ninja")):
        r = run(["meson", "setup", builddir, "-Dwerror=true"] + extra)
        if r.returncode:
            say(r.stdout[-3000:] + r.stderr[-3000:])
            return False
    r = run(["ninja", "-C", builddir])
    if r.returncode:
        say(r.stdout[-5000:] + r.stderr[-3000:])
    return r.returncode == 0


def unit_suite(builddir, label, env_extra=None, suites=("unit",), timeout_multiplier=1):
    env = dict(os.environ, **(env_extra or {}))
    picks = [arg for s in suites for arg in ("--suite", s)]
    r = run(["meson", "test", "-C", builddir] + picks + ["--print-errorlogs",
             "--num-processes", "2", "--timeout-multiplier", str(timeout_multiplier)], env=env)
    log = os.path.join(ROOT, builddir, "meson-logs", "testlog.json")
    n = 0
    if os.path.exists(log):
        with open(log) as f:
            for line in f:
                t = json.loads(line)
                out = t.get("stdout", "") or ""
                cases_ok = re.findall(r"^ok   (\S+)", out, re.M)
                cases_bad = re.findall(r"^FAIL (\S+)", out + (t.get("stderr") or ""), re.M)
                for c in cases_ok:
                    record(f"{label}/{t['name']}/{c}", True)
                for c in cases_bad:
                    record(f"{label}/{t['name']}/{c}", False)
                n += len(cases_ok) + len(cases_bad)
                if t["result"] != "OK" and not cases_bad:
                    record(f"{label}/{t['name']}", False, t["result"])
                    n += 1
    say(f"[{label}] {n} cases, meson exit {r.returncode}")
    if r.returncode:
        say(r.stdout[-4000:])


def python_suite(builddir, folder="tests/oracle", label="oracle", env_extra=None):
    results = os.path.join(ROOT, builddir, f"{label}-results.txt")
    if os.path.exists(results):
        os.unlink(results)
    env = dict(os.environ, TESSERA_BIN=os.path.join(ROOT, builddir, "src", "cli", "tessera"),
               TESSERA_RESULTS=results, **(env_extra or {}))
    r = run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "unittest_runner.py"),
             os.path.join(ROOT, folder)], env=env)
    lines = open(results).read().split("\n") if os.path.exists(results) else []
    n = 0
    for line in lines:
        status, _, test_id = line.partition(" ")
        if status in ("ok", "FAIL"):
            record(f"{label}/{test_id}", status == "ok")
            n += 1
    say(f"[{label}] {n} test outcomes, exit {r.returncode}")
    if r.returncode:
        say(r.stderr[-6000:])
        if not any(line.startswith("FAIL ") for line in lines):
            record(f"{label}/suite", False, "unittest failed to run")


def npm_install(folder, package, label):
    """Installs FOLDER's pinned npm packages (package-lock.json) unless
    node_modules/PACKAGE is there; False, recorded as LABEL/npm install, when
    node, npm or the install fails."""
    if os.path.isdir(os.path.join(folder, "node_modules", package)):
        return True
    node, npm = browser_tool(label, "node"), browser_tool(label, "npm")
    if not (node and npm):
        return False
    r = subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=folder, text=True,
                       capture_output=True, timeout=600)
    if r.returncode:
        record(f"{label}/npm install", False, (r.stdout + r.stderr)[-2000:])
        say(f"[{label}] npm install failed:\n" + (r.stdout + r.stderr)[-2000:])
    return r.returncode == 0


def s3_install():
    """The S3 tests (tests/unit/service/test_s3_*, suite s3) run s3rver from
    tests/s3/node_modules: install it first. Without it they fail, with the
    message of tests/s3/s3server.py, rather than skip."""
    if npm_install(os.path.join(ROOT, "tests", "s3"), "s3rver", "s3"):
        say("[s3] s3rver installed in tests/s3")


def browser_tool(label, name, path=None):
    """tools.check(name, path); a wrong or missing tool is recorded as LABEL/NAME."""
    found, error = tools.check(name, path)
    if error:
        record(f"{label}/{name}", False, str(error))
        say(f"[{label}] {error}")
    return found


def browser_suite(builddir):
    folder = os.path.join(ROOT, "tests", "browser")
    _, error = tools.check("chromium", os.environ.get("CHROMIUM"))
    if error and error.missing:  # install-deps.sh lets chromium fail; anything else there fails
        say(f"[browser] SKIPPED: {error}; the web UI was not tested in a browser")
        return
    chromium = browser_tool("browser", "chromium", os.environ.get("CHROMIUM"))
    node = browser_tool("browser", "node")
    if not (chromium and node and npm_install(folder, "playwright-core", "browser")):
        return
    env = dict(os.environ, TESSERA_BIN=os.path.join(ROOT, builddir, "src", "cli", "tessera"),
               CHROMIUM=chromium)
    browser_file(folder, env, node, "ui.test.mjs", "browser")
    # errors where the user looks, a server restart mid-job, 390/1440 px, favicon
    browser_file(folder, env, node, "ux.test.mjs", "browser-ux")
    # the image library and the job history (issue 12)
    browser_file(folder, env, node, "library.test.mjs", "browser-library")
    # saved pipelines, versions and rollback, recorded versions, rerun (issue 14)
    browser_file(folder, env, node, "versions.test.mjs", "browser-versions")
    # presets and the live preview (issue 12, point 6)
    browser_file(folder, env, node, "preview.test.mjs", "browser-preview")
    # rating a finished job, kept after a reload (issue 14)
    browser_file(folder, env, node, "feedback.test.mjs", "browser-feedback")
    # the zoomable view of a large Deep Zoom result (issue 15 point 3)
    browser_file(folder, env, node, "zoom.test.mjs", "browser-zoom")
    # animated inputs: the frame field, an animation's preview, saved frames (issue 15)
    browser_file(folder, env, node, "animation.test.mjs", "browser-animation")
    # The same over TLS, trusting a test CA through an NSS database (certutil).
    _, error = tools.check("certutil")
    if error and error.missing:
        say(f"[browser-tls] SKIPPED: {error}; the web UI was not tested in a browser over TLS")
        return
    certutil = browser_tool("browser-tls", "certutil")
    openssl = browser_tool("browser-tls", "openssl")
    if not (certutil and openssl):
        return
    browser_file(folder, dict(env, CERTUTIL=certutil, OPENSSL=openssl), node, "tls.test.mjs",
                 "browser-tls")


def browser_file(folder, env, node, script, label):
    """Runs one browser test file; records each "ok"/"FAIL" case as LABEL/NAME."""
    try:
        r = subprocess.run([node, script], cwd=folder, env=env, text=True,
                           capture_output=True, timeout=300)
        out, code = r.stdout + r.stderr, r.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout or ""
        out, code = out + f"\nFAIL timeout: node {script} ran past 300 s", -1
    cases = re.findall(r"^(ok|FAIL) +([^:\n]+?)(?::.*)?$", out, re.M)
    for status, name in cases:
        record(f"{label}/{name}", status == "ok", "" if status == "ok" else out[-3000:])
    if code and not any(s == "FAIL" for s, _ in cases):
        record(f"{label}/suite", False, out[-3000:])
    say(f"[{label}] {len(cases)} cases, exit {code}")
    if code:
        say(out[-4000:])


def main():
    start = time.time()
    step_format()
    ok = build("build-test", ["--buildtype=release"])
    record("build -Werror", ok)
    say(f"[build] {'ok' if ok else 'FAILED'}")
    if ok:
        s3_install()
        unit_suite("build-test", "unit")
        python_suite("build-test")
        python_suite("build-test", "tests/service", "service")
        # the same service tests with every server on an S3 store (s3rver)
        python_suite("build-test", "tests/service", "service-s3", {"TESSERA_TEST_STORE": "s3"})
        # and with the metadata in PostgreSQL (one throw-away cluster, a database per folder)
        python_suite("build-test", "tests/service", "service-pg", {"TESSERA_TEST_DB": "postgresql"})
        # and every server as three coordinators on both behind HAProxy (tests/balancer.py)
        python_suite("build-test", "tests/service", "service-ha",
                     {"TESSERA_TEST_DB": "postgresql", "TESSERA_TEST_STORE": "s3",
                      "TESSERA_TEST_HA": "3"})
        python_suite("build-test", "tests/fleet", "fleet")
        python_suite("build-test", "tests/fleet", "fleet-s3", {"TESSERA_TEST_STORE": "s3"})
        browser_suite("build-test")
        python_suite("build-test", "tests/ha", "ha")  # after the browser's npm install
    ok = build("build-asan", ["--buildtype=debug", "-Db_sanitize=address,undefined",
                              "-Db_lundef=false"])
    record("build asan+ubsan", ok)
    if ok:
        unit_suite("build-asan", "asan", {
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
            "LSAN_OPTIONS": "suppressions=" + os.path.join(ROOT, "tests", "lsan.supp"),
            "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"})
    # The engine's thread pool and the fleet's threads under ThreadSanitizer.
    ok = build("build-tsan", ["--buildtype=debugoptimized", "-Db_sanitize=thread",
                              "-Db_lundef=false"])
    record("build tsan", ok)
    if ok:
        # TSan runs 5-15x slower: the heaviest engine tests need more than their timeout
        unit_suite("build-tsan", "tsan", {"TSAN_OPTIONS": "halt_on_error=1:second_deadlock_stack=1"},
                   suites=("engine", "fleet"), timeout_multiplier=4)
    say(f"\ntook {time.time() - start:.0f}s")
    if failures:
        say("failures:\n  " + "\n  ".join(failures[:200]))
    say(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
