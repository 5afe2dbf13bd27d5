"""The native clients' toolchains, installed on first use into a cache outside the checkout.

Kotlin: the compiler is the npm package `kotlin-compiler` (the whole distribution, with the coroutines
library), unpacked under ~/.cache/gradium-token-broker; the JDK and the libraries an Android app has or
brings (OkHttp 3, okio, Android's org.json, JUnit 4) come from Debian: `.ci/run` installs APT_PACKAGES
(`python3 tests/clients/toolchains.py --apt-packages`). ../shared/reference/native-toolchains.md says why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gradium-token-broker"
KOTLIN_VERSION = "2.4.20"
KOTLIN_HOME = CACHE / f"kotlin-{KOTLIN_VERSION}"
APT_PACKAGES = ("openjdk-17-jdk-headless", "libokhttp-java", "libokio-java", "libandroid-json-java", "junit4")
DEBIAN_JAVA = Path("/usr/share/java")
# What the module compiles against (OkHttp 3.x: the calls it uses read the same in 4 and 5), and what its
# tests add: JUnit 4, with kotlin.test's asserter for it.
MAIN_JARS = (DEBIAN_JAVA / "okhttp.jar", DEBIAN_JAVA / "okio.jar", DEBIAN_JAVA / "com.android.json.jar")
TEST_JARS = (DEBIAN_JAVA / "junit4.jar", DEBIAN_JAVA / "hamcrest-core.jar")


def java() -> str | None:
    return shutil.which("java")


class ToolchainMissing(Exception):
    """What is missing and the one command that installs it."""


def kotlin_home() -> Path:
    """The Kotlin distribution, fetched with `npm pack` (the registry's integrity check) the first time."""
    if (KOTLIN_HOME / "bin" / "kotlinc-jvm").exists():
        return KOTLIN_HOME
    npm = shutil.which("npm")
    if npm is None:
        raise ToolchainMissing("npm is needed to fetch the Kotlin compiler: apt-get install npm")
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
        subprocess.run(
            [npm, "pack", "--silent", f"kotlin-compiler@{KOTLIN_VERSION}", "--pack-destination", scratch],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        [archive] = Path(scratch).glob("*.tgz")
        unpacked = Path(scratch) / "unpacked"
        with tarfile.open(archive) as tar:
            tar.extractall(unpacked, filter="data")  # the data filter keeps every path inside `unpacked`
        (unpacked / "package").rename(KOTLIN_HOME)  # one rename: a half-unpacked cache is never seen
    return KOTLIN_HOME


def kotlin_classpath(*, tests: bool) -> list[Path]:
    """The jars the module (and, with `tests`, its tests) compile and run against."""
    missing = [jar for jar in (*MAIN_JARS, *TEST_JARS) if not jar.exists()]
    if missing or java() is None:
        install = " ".join(APT_PACKAGES)
        raise ToolchainMissing(f"a JDK and {len(missing)} Debian jars: apt-get install {install}")
    lib = kotlin_home() / "lib"
    jars = [*MAIN_JARS, lib / "kotlinx-coroutines-core-jvm.jar", lib / "kotlin-stdlib.jar"]
    if tests:
        jars += [*TEST_JARS, lib / "kotlin-test.jar", lib / "kotlin-test-junit.jar"]
    return jars


def compile_kotlin(module: Path, out: Path, *more_sources: Path) -> list[Path]:
    """kotlinc for JVM 17 (Android 8+ reads the same bytecode), warnings as errors, the module's main and
    test sources (and `more_sources`) into `out`; returns the classpath that runs them."""
    classpath = kotlin_classpath(tests=True)
    subprocess.run(
        [
            kotlin_home() / "bin" / "kotlinc-jvm",
            "-jvm-target",
            "17",
            "-Werror",
            "-cp",
            os.pathsep.join(map(str, classpath)),
            "-d",
            out,
            module / "src" / "main" / "kotlin",
            module / "src" / "test" / "kotlin",
            *more_sources,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return [out, *classpath]


if __name__ == "__main__":
    if sys.argv[1:] == ["--apt-packages"]:
        print(" ".join(APT_PACKAGES))
    else:
        sys.exit("usage: toolchains.py --apt-packages")
