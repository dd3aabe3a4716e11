#!/usr/bin/env bash
# Installs the language runtimes the sandbox runs programs with, where the sandbox users (one per
# slot, never root) can reach them: TypeScript under /opt/typescript, a Rust toolchain under
# /opt/rust, a warm Go build cache; and the playground's editor under /opt/codemirror.
# Idempotent and quick when everything is there; run as root by `make up`/`make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
[[ $EUID -eq 0 ]] || { echo "error: runtimes.sh must run as root" >&2; exit 1; }

# Debian packages: the sandbox itself and the runtimes Debian provides.
need=()
for pkg in bubblewrap gcc g++ php-cli ruby bash; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
command -v javac >/dev/null || need+=(default-jdk-headless)
command -v node >/dev/null || need+=(nodejs npm)
if ((${#need[@]})); then
    say "installing Debian packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# TypeScript: tsc and Node's type definitions, outside /root and /usr/local/lib of the host's npm.
ts=/opt/typescript/lib/node_modules
if [[ ! -f $ts/typescript/bin/tsc || ! -d $ts/@types/node ]]; then
    say "installing TypeScript under /opt/typescript"
    npm install -g --silent --no-fund --no-audit --prefix /opt/typescript typescript@5 @types/node@20 >/dev/null
fi

# The playground page's code editor: CodeMirror 5 (MIT) from npm, served by the API itself
# (PLAYGROUND_EDITOR_DIR), so that the page loads nothing from another host.
cm=/opt/codemirror/lib/node_modules/codemirror
if [[ $(node -p "require('$cm/package.json').version" 2>/dev/null) != 5.65.21 ]]; then
    say "installing CodeMirror 5 under /opt/codemirror"
    npm install -g --silent --no-fund --no-audit --prefix /opt/codemirror codemirror@5.65.21 >/dev/null
fi

# Rust: rustup keeps its toolchain under /root, which the sandbox users cannot enter; hard-link a copy
# (same filesystem: instant, no space) or copy it to /opt/rust. Without rustup, Debian's rustc.
rustc_bin=""
if [[ -x /root/.cargo/bin/rustc ]]; then
    rustc_bin=/root/.cargo/bin/rustc
elif command -v rustc >/dev/null; then
    rustc_bin=$(command -v rustc)
fi
if [[ -z $rustc_bin ]]; then
    say "installing Debian's rustc"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rustc >/dev/null
    rustc_bin=/usr/bin/rustc
fi
want=$("$rustc_bin" --version)
have=$(/opt/rust/bin/rustc --version 2>/dev/null || true)
if [[ $want != "$have" ]]; then
    say "making $want reachable by the sandbox under /opt/rust"
    sysroot=$("$rustc_bin" --print sysroot)
    rm -rf /opt/rust.new
    if [[ $sysroot == /usr ]]; then
        mkdir -p /opt/rust.new/bin && ln -s /usr/bin/rustc /opt/rust.new/bin/rustc
    else
        mkdir -p /opt/rust.new
        for part in bin lib; do
            cp -al "$sysroot/$part" /opt/rust.new/ 2>/dev/null || cp -a "$sysroot/$part" /opt/rust.new/
        done
    fi
    chmod -R a+rX /opt/rust.new
    rm -rf /opt/rust && mv /opt/rust.new /opt/rust
fi

# Go: /usr/local/go (the machine's) or Debian's golang-go made visible there.
if [[ ! -x /usr/local/go/bin/go ]]; then
    if [[ ! -x /usr/lib/go/bin/go ]]; then
        say "installing Debian's Go"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go >/dev/null
    fi
    ln -sfn "$(readlink -f /usr/lib/go)" /usr/local/go
fi
# The project's own Python (its virtualenv, or the image's on PATH): the sandbox needs its packages.
py=.venv/bin/python
[[ -x $py ]] || py=python3
# A warm, shared, read-only build cache; each run writes only to its own overlay on top of it.
cache=${SANDBOX_GO_CACHE:-/var/cache/sandbox/go-build}
stamp=$cache/.warm-$(/usr/local/go/bin/go version | tr -c 'a-zA-Z0-9.\n' '_')
if [[ ! -f $stamp ]]; then
    say "warming the Go build cache at $cache"
    rm -rf "$cache" && mkdir -p "$cache"
    SANDBOX_GO_CACHE=$cache "$py" -m sandbox warm >/dev/null
    touch "$stamp"
fi
# Everything in the cache owned by root: go's mtime bumps then fail instead of copying entries into
# every run's overlay, and no sandbox user owns a directory root writes in (see sandbox/gocache.py).
if [[ ! -f $cache/.owned-v3 ]]; then
    say "setting ownership of the Go build cache"
    "$py" -c 'import sys; from pathlib import Path; from sandbox.gocache import set_ownership; set_ownership(Path(sys.argv[1]))' "$cache"
    touch "$cache/.owned-v3"
fi
# What compilers load on every run, built once with their own flags (javac's class-data-sharing
# archive): root-owned under /var/cache/sandbox, mounted read-only (see sandbox/prebuilt.py).
"$py" -m sandbox prebuild
# Extra library trees, only those asked for (`make up LIBRARIES=python-numpy`; a comma list).
if [[ -n ${LIBRARIES:-} ]]; then
    say "installing libraries: $LIBRARIES (if missing)"
    "$py" -m sandbox.libraries install "$LIBRARIES"
fi
