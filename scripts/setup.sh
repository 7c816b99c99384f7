#!/usr/bin/env bash
# Idempotent machine setup: Debian's babeltrace2 + python3-bt2 (not on PyPI), then a venv
# on Debian's own Python 3.11 (the one python3-bt2 is built for) that sees dist-packages.
# Chromium is for the test of `w2a-tui serve` (a real browser opens the served TUI).
set -euo pipefail
cd "$(dirname "$0")/.."

SYS_PY=/usr/bin/python3
# trace-cmd: the reference our trace.dat decoder is tested against (and `record`'s tool);
# python3-zstandard: trace.dat v7 files compressed with zstd; chromium: the browser the
# `serve` tests drive; gcc, libc6-dev and python3-dev: the compiled event walk of our CTF
# reader (w2a_tui/trace/fastctf/_cwalk.c, built by pip; without them it reads in Python).
APT_PKGS=(babeltrace2 python3-bt2 python3-venv trace-cmd python3-zstandard chromium
          gcc libc6-dev python3-dev)

need_apt=0
if ! [ -x "$SYS_PY" ] || ! "$SYS_PY" -c 'import bt2, venv, ensurepip, zstandard' >/dev/null 2>&1; then
    need_apt=1
fi
for tool in babeltrace2 trace-cmd chromium gcc; do
    if ! command -v "$tool" >/dev/null 2>&1; then need_apt=1; fi
done
if ! [ -f /usr/include/stdint.h ] || ! [ -f "/usr/include/python3.11/Python.h" ]; then need_apt=1; fi
if [ "$need_apt" = 1 ]; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
            echo "setup: need root (or sudo) to run: apt-get install -y ${APT_PKGS[*]}" >&2; exit 2
        fi
    fi
    echo "setup: installing ${APT_PKGS[*]} with apt-get" >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${APT_PKGS[@]}" >/dev/null
fi

if ! [ -x .venv/bin/python ] || ! .venv/bin/python -c 'import bt2' >/dev/null 2>&1; then
    rm -rf .venv
    echo "setup: creating .venv (with Debian's site-packages, for bt2)" >&2
    "$SYS_PY" -m venv --system-site-packages .venv
fi

stamp=.venv/.installed-stamp
if ! [ -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ] ||
   [ w2a_tui/trace/fastctf/_cwalk.c -nt "$stamp" ]; then
    echo "setup: installing w2a-tui and its dev tools into .venv (about 20 s, once)" >&2
    # pip's chatter (build-backend notices) goes to a log, shown only if pip fails.
    if ! { .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip &&
           .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'; } \
         >.venv/pip-install.log 2>&1; then
        cat .venv/pip-install.log >&2
        echo "setup: pip install failed (log above, also in .venv/pip-install.log)" >&2
        exit 1
    fi
    touch "$stamp"
fi
