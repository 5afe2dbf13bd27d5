#!/usr/bin/env bash
# A registry-free stand-in for public.ecr.aws/lambda/python:3.13-<arch>: the base image SAM CLI 1.170 builds
# its invoke image on for `Runtime: python3.13` (samcli/local/docker/lambda_image.py: Runtime.get_image_name_tag).
# ARCH=arm64 (default, as the template's Architectures) or ARCH=x86_64 (native here, no emulation). SAM adds the RIE (/var/rapid) and the layers (/opt) on top and runs
# `/var/rapid/aws-lambda-rie --log-level error` with no command, so the RIE starts /var/runtime/bootstrap.
# arm64 runs under qemu-user-static via binfmt_misc (what Docker Desktop does on x86_64): about 15 s a cold
# invoke here, against the template's 25 s timeout; x86_64 runs natively.
# Idempotent: builds and tags the image only if missing; prints the tag. Needs root and a running dockerd.
# From the team's shared tools (sam-docker). Where the real image exists already, it is used as is.
# Not AWS's image: Debian's python3.13 and glibc, awslambdaric and boto3 from PyPI, the search path from AWS's
# docs. It tests what SAM and the project do around the function, not Amazon Linux itself.
set -euo pipefail
ARCH=${ARCH:-arm64}
case "$ARCH" in
  arm64) DEB_ARCH=arm64 PLATFORM=manylinux2014_aarch64 OCI_ARCH=arm64 VARIANT=v8 ;;
  x86_64) DEB_ARCH=amd64 PLATFORM=manylinux2014_x86_64 OCI_ARCH=amd64 VARIANT= ;;
  *) echo "ARCH must be arm64 or x86_64" >&2; exit 2 ;;
esac
TAG=public.ecr.aws/lambda/python:3.13-$ARCH
SUITE=trixie  # bookworm has no python3.13; trixie's is a CPython 3.13 built by Debian
# The emulated runtime's pins, the ones `make invoke` runs the function with (one place for them).
mapfile -t PINS < <(grep -E '^[A-Za-z0-9_.-]+==' "$(dirname "$0")/../../local/requirements-runtime.txt")
read -r -a PIP <<<"${PIP:-python3 -m pip}"

# 1. arm64 emulation (the kernel's, global to this machine; undo: echo -1 > /proc/sys/fs/binfmt_misc/qemu-aarch64)
if [ "$ARCH" = arm64 ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  command -v qemu-aarch64-static >/dev/null ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static >&2
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  cat /usr/lib/binfmt.d/qemu-aarch64.conf >/proc/sys/fs/binfmt_misc/register  # flags OPF: works in containers
fi
if docker image inspect "$TAG" >/dev/null 2>&1; then echo "$TAG"; exit 0; fi

# 2. Debian minbase for $ARCH with python3.13, from the mirror apt already uses
command -v debootstrap >/dev/null ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2
mirror=$(awk '$1 == "URIs:" {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
work=$(mktemp -d -t lambda-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
debootstrap --arch="$DEB_ARCH" --variant=minbase --include=python3.13,ca-certificates "$SUITE" "$root" "$mirror" >&2
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/{doc,man,info,locale}

# 3. The runtime as the real image lays it out: /var/lang/bin/python3.13, /var/runtime (bootstrap,
#    bootstrap.py, awslambdaric, boto3 and its dependencies), /var/task, /opt
mkdir -p "$root"/var/{lang/bin,runtime,task} "$root/opt"
ln -s /usr/bin/python3.13 "$root/var/lang/bin/python3.13"
"${PIP[@]}" install -q --target "$root/var/runtime" --platform "$PLATFORM" --implementation cp \
  --python-version 3.13 --only-binary=:all: "${PINS[@]}" >&2
rm -rf "$root"/var/runtime/bin
cat >"$root/var/runtime/bootstrap" <<'EOF'
#!/bin/sh
export AWS_EXECUTION_ENV=AWS_Lambda_python3.13
exec $AWS_LAMBDA_EXEC_WRAPPER /var/lang/bin/python3.13 /var/runtime/bootstrap.py
EOF
cat >"$root/var/runtime/bootstrap.py" <<'EOF'
# Lambda's documented search path: the function, then its layers, then the runtime's own libraries.
import os
import sys

front = [os.environ.get("LAMBDA_TASK_ROOT", "/var/task"), "/opt/python/lib/python3.13/site-packages",
         "/opt/python", "/var/runtime"]
sys.path[:] = front + [path for path in sys.path if path not in front]
from awslambdaric.__main__ import main  # noqa: E402

main([sys.argv[0], os.environ["_HANDLER"]])
EOF
chmod 755 "$root/var/runtime/bootstrap"

# 4. One layer, loaded as a docker-archive (this dockerd's `import --platform` keeps the host's architecture)
tar --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -C "$root" -cf "$work/layer.tar" .
python3 - "$work" "$TAG" "$OCI_ARCH" "$VARIANT" <<'EOF'
import hashlib, json, pathlib, sys
work, tag, arch, variant = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
digest = hashlib.sha256()
with open(work / "layer.tar", "rb") as layer:
    for chunk in iter(lambda: layer.read(1 << 20), b""):
        digest.update(chunk)
env = ["LANG=en_US.UTF-8", "TZ=:/etc/localtime", "PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
       "LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
       "LAMBDA_TASK_ROOT=/var/task", "LAMBDA_RUNTIME_DIR=/var/runtime"]
config = {"architecture": arch, **({"variant": variant} if variant else {}), "os": "linux",
          "config": {"Env": env, "WorkingDir": "/var/task", "Entrypoint": ["/var/runtime/bootstrap"]},
          "rootfs": {"type": "layers", "diff_ids": ["sha256:" + digest.hexdigest()]}}
(work / "config.json").write_text(json.dumps(config))
(work / "manifest.json").write_text(json.dumps([{"Config": "config.json", "RepoTags": [tag], "Layers": ["layer.tar"]}]))
EOF
tar -C "$work" -c manifest.json config.json layer.tar | docker load >&2
echo "$TAG"
