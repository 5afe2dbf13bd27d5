"""The native clients' toolchains, installed on first use into a cache outside the checkout.

Swift: Debian 12 has none, Debian 13 (trixie) has `swiftlang` 6.0: a minimal trixie root made with
debootstrap (as root, about a minute) under the same cache, where the package is built and its tests run
with the host's network (so they reach `make serve` on 127.0.0.1). `.ci/run` installs debootstrap.

Kotlin: the compiler is the npm package `kotlin-compiler` (the whole distribution, with the coroutines
library), unpacked under ~/.cache/gradium-token-broker; the JDK and the libraries an Android app has or
brings (OkHttp 3, okio, Android's org.json, JUnit 4) come from Debian: `.ci/run` installs APT_PACKAGES
(`python3 tests/clients/toolchains.py --apt-packages`). ../shared/reference/native-toolchains.md says why.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gradium-token-broker"
KOTLIN_VERSION = "2.4.20"
KOTLIN_HOME = CACHE / f"kotlin-{KOTLIN_VERSION}"
APT_PACKAGES = (
    *("openjdk-17-jdk-headless", "libokhttp-java", "libokio-java", "libandroid-json-java", "junit4"),
    "debootstrap",
)
SWIFT_ROOT = CACHE / "swift-trixie"
SWIFT_BUILD = Path("/build/gradium-broker")  # inside SWIFT_ROOT
STRICT = ("-Xswiftc", "-warnings-as-errors")
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"
MOUNT, UMOUNT = shutil.which("mount") or "/usr/bin/mount", shutil.which("umount") or "/usr/bin/umount"
DEBIAN_JAVA = Path("/usr/share/java")
# What the module compiles against (OkHttp 3.x: the calls it uses read the same in 4 and 5), and what its
# tests add: JUnit 4, with kotlin.test's asserter for it.
MAIN_JARS = (DEBIAN_JAVA / "okhttp.jar", DEBIAN_JAVA / "okio.jar", DEBIAN_JAVA / "com.android.json.jar")
TEST_JARS = (DEBIAN_JAVA / "junit4.jar", DEBIAN_JAVA / "hamcrest-core.jar")


def java() -> str | None:
    return shutil.which("java")


class ToolchainMissing(Exception):
    """What is missing and the one command that installs it."""


class NotRoot(Exception):
    """The Swift root needs root (.ci/run's machines; a GitHub runner's user is not)."""


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


def kotlin_classpath() -> list[Path]:
    """The jars the module and its tests compile and run against."""
    missing = [jar for jar in (*MAIN_JARS, *TEST_JARS) if not jar.exists()]
    if missing or java() is None:
        install = " ".join(APT_PACKAGES)
        raise ToolchainMissing(f"a JDK and {len(missing)} Debian jars: apt-get install {install}")
    lib = kotlin_home() / "lib"
    main = [*MAIN_JARS, lib / "kotlinx-coroutines-core-jvm.jar", lib / "kotlin-stdlib.jar"]
    return [*main, *TEST_JARS, lib / "kotlin-test.jar", lib / "kotlin-test-junit.jar"]


def compile_kotlin(module: Path, out: Path, *more_sources: Path) -> list[Path]:
    """kotlinc for JVM 17 (Android 8+ reads the same bytecode), warnings as errors, the module's main and
    test sources (and `more_sources`) into `out`; returns the classpath that runs them."""
    classpath = kotlin_classpath()
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


def swift_root() -> Path:
    """A Debian 13 root with swiftlang (and, by its recommends, libc6-dev and clang's linker), made once."""
    if os.path.lexists(SWIFT_ROOT / "usr" / "bin" / "swift"):  # a link to /usr/libexec, inside the root
        return SWIFT_ROOT
    if os.geteuid() != 0:
        raise NotRoot("the Swift root is made and entered with debootstrap, chroot and mount: as root")
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).exists():
        raise ToolchainMissing("a Swift root needs debootstrap: apt-get install debootstrap")
    CACHE.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="swift-", dir=CACHE))
    quiet = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    try:
        subprocess.run([debootstrap, "--variant=minbase", "trixie", scratch, debian_mirror()], **quiet)
        install = "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq swiftlang"
        subprocess.run([CHROOT, scratch, "/bin/sh", "-c", install], **quiet)
        scratch.rename(SWIFT_ROOT)  # one rename: a half-made root is never taken for a finished one
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # gone after the rename; a failed attempt's 2 GB too
    return SWIFT_ROOT


def debian_mirror() -> str:
    """The host's Debian mirror (its package registry), else Debian's own."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:"):
                return line.split()[1]
    return "http://deb.debian.org/debian"


@contextlib.contextmanager
def swift_package(package: Path, more_tests: Path) -> Iterator[Path]:
    """`package` copied into the Swift root, the files in `more_tests` added to its test target, and built
    with its tests (warnings as errors), /proc mounted for the block (swift needs it); yields the tests'
    xctest executable, as a path inside the root."""
    root = swift_root()
    build = root / SWIFT_BUILD.relative_to("/")
    for stale in ("Sources", "Tests", "Package.swift"):  # .build stays: the next build is incremental
        target = build / stale
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    shutil.copytree(package, build, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".build"))
    shutil.copytree(more_tests, build / "Tests" / "GradiumBrokerTests", dirs_exist_ok=True)  # the test target
    subprocess.run([MOUNT, "--bind", "/proc", root / "proc"], check=True)
    try:
        subprocess.run(
            [*in_swift_root(), "swift", "build", "--package-path", SWIFT_BUILD, "--build-tests", *STRICT],
            check=True,
            capture_output=True,
            text=True,
        )
        yield SWIFT_BUILD / ".build" / "debug" / "GradiumBrokerPackageTests.xctest"
    finally:
        subprocess.run([UMOUNT, root / "proc"], check=False)


def in_swift_root() -> list[str | Path]:
    """The command prefix that runs a program inside the Swift root, with this process's environment."""
    return [CHROOT, SWIFT_ROOT]


if __name__ == "__main__":
    if sys.argv[1:] == ["--apt-packages"]:
        print(" ".join(APT_PACKAGES))
    else:
        sys.exit("usage: toolchains.py --apt-packages")
