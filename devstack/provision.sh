#!/usr/bin/env bash
# Installs what the engine needs and is missing: Debian packages, the virtualenv, language runtimes.
# Idempotent and quiet when everything is already there; called by `make up` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# chromium and chromium-driver: the playground's browser test (tests/e2e/test_playground.py).
apt_packages=(bubblewrap redis-server postgresql php-cli ruby maven libseccomp2 ca-certificates openssl
    chromium chromium-driver)
missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    if [[ $EUID -ne 0 ]]; then
        echo "error: need root (or sudo) to install ${missing[*]}" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian starts a system Redis/PostgreSQL on install; ours run on their own ports, these may stay.
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: Python >= 3.11 is required ($python is $("$python" --version 2>&1))" >&2
    exit 1
fi
stamp=.venv/.installed
if [[ ! -x .venv/bin/python ]]; then
    say "creating .venv"
    "$python" -m venv .venv
fi
# The stamp holds a digest of the lock and pyproject.toml, not a time: a fresh clone's mtimes say
# nothing, and a lock changed by a merge or checkout must reinstall the pinned versions.
wanted=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [[ ! -f $stamp || $(<"$stamp") != "$wanted" ]]; then
    say "installing the locked dependencies and the project into .venv"
    .venv/bin/python -m pip install -q -U pip
    # Exactly the versions that were tested (requirements.lock, `make lock`), checked by hash;
    # the project itself adds nothing, so a dependency missing from the lock fails the tests.
    .venv/bin/python -m pip install -q --require-hashes -r requirements.lock
    .venv/bin/python -m pip install -q --no-deps -e .
    echo "$wanted" >"$stamp"
fi

if [[ -x devstack/runtimes.sh ]]; then
    devstack/runtimes.sh
fi
