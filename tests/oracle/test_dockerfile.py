"""deploy/Dockerfile's runtime stage installs the package of every shared
library the tessera binary links (readelf NEEDED, found with ldd, owned per
dpkg -S; binutils comes with gcc, a build package), so the image runs: a
library added to the build (libpq, libheif, OpenCL) without its runtime
package fails here, not in a cluster."""
import os
import re
import subprocess
import unittest

from tessera_cli import BIN, ROOT, have_binary

# In debian:12-slim already (essential, or what apt itself needs).
BASE = {"libc6", "libgcc-s1", "libgnutls30", "libzstd1", "libstdc++6"}


def runtime_packages():
    text = open(os.path.join(ROOT, "deploy", "Dockerfile")).read()
    stage = text[text.rindex("\nFROM "):]
    install = re.search(r"apt-get install -y --no-install-recommends(.*?)&&", stage, re.S)
    return set(install.group(1).replace("\\", " ").split())


def owner(path):
    """The Debian package that owns `path` (tried as given and /usr-merged)."""
    real = os.path.realpath(path)
    for p in {real, real.replace("/usr/lib/", "/lib/", 1), real.replace("/lib/", "/usr/lib/", 1)}:
        r = subprocess.run(["/usr/bin/dpkg", "-S", p], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0]
    return None


@unittest.skipUnless(have_binary(), "tessera binary not built")
class DockerfileTest(unittest.TestCase):
    def test_runtime_stage_installs_every_linked_library(self):
        needed = re.findall(r"\(NEEDED\).*\[(.+)\]",
                            subprocess.run(["/usr/bin/readelf", "-d", BIN], capture_output=True,
                                           text=True, check=True).stdout)
        found = dict(re.findall(r"^\s*(\S+) => (/\S+)",
                                subprocess.run(["/usr/bin/ldd", BIN], capture_output=True,
                                               text=True, check=True).stdout, re.M))
        self.assertGreater(len(needed), 10, needed)
        have = runtime_packages() | BASE
        missing = []
        for lib in needed:
            if lib.startswith("ld-linux"):
                continue
            self.assertIn(lib, found, "ldd does not resolve " + lib)
            pkg = owner(found[lib])
            self.assertIsNotNone(pkg, "no package owns " + found[lib])
            if pkg not in have:
                missing.append("%s (%s)" % (pkg, lib))
        self.assertEqual(missing, [], "add to deploy/Dockerfile's runtime apt-get install")


if __name__ == "__main__":
    unittest.main()
