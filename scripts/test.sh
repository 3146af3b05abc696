#!/usr/bin/env bash
# The one test command, for a fresh Debian 12 machine as root (and for CI, through .ci/run):
#   1. installs the Debian packages the tests drive (skipped when all are installed already),
#   2. makes .venv (unless it exists) and installs dockyard with its test extras into it,
#   3. runs ruff, mypy and pytest; arguments to this script go to pytest.
# Examples:  bash scripts/test.sh                      # everything
#            bash scripts/test.sh tests/e2e -x         # the real-client end-to-end tests only
#            bash scripts/test.sh -m 'not slow'        # without the large-blob tests
set -euo pipefail
cd "$(dirname "$0")/.."

# Real clients and the reference registry. docker-registry is CNCF Distribution 2.8.2, the reference.
# podman/buildah/skopeo/umoci build and move test images locally (there is no internet to pull from);
# crun/conmon let `podman system service` run; uidmap, fuse-overlayfs and slirp4netns are
# podman's usual companions; redis-server serves the cache tests; nginx balances the replica tests;
# wrk and apache2-utils (ab) drive the benchmarks; util-linux's unshare and mount give each client a
# private blob info cache (see tests/support/clients.py).
packages=(
  ca-certificates git jq python3 python3-venv python3-pip
  docker-registry skopeo podman buildah umoci
  containers-storage golang-github-containers-common golang-github-containers-image
  crun conmon uidmap fuse-overlayfs slirp4netns iptables
  redis-server wrk apache2-utils curl util-linux mount nginx iproute2
)
# The docker CLI (client only is needed: the tests talk to `podman system service`). Debian ships it in
# docker.io; a machine that already has a docker client (e.g. /usr/local/bin/docker) keeps it.
if ! command -v docker >/dev/null 2>&1; then
  packages+=(docker.io)
fi

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "scripts/test.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Python environment: .venv with dockyard installed editable plus its test extras. Reinstalled only
# when pyproject.toml changes (the stamp holds its hash), so a second run starts the tests at once.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.dockyard-install-stamp
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
  echo "$want" > "$stamp"
fi

export PATH="$PWD/.venv/bin:$PATH"
ruff check dockyard tests
mypy
exec pytest -p no:cacheprovider -q "$@"
