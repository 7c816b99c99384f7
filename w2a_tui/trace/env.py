"""The `env` block of CTF metadata: host, tracer, kernel, domain."""

from __future__ import annotations

import re

_ENV_BLOCK = re.compile(r"\benv\s*\{(.*?)\}\s*;", re.S)
_ENTRY = re.compile(r"(\w+)\s*=\s*(\"(?:[^\"\\]|\\.)*\"|-?\w+)\s*;")

EnvValue = str | int


def parse_env(metadata_text: str) -> dict[str, EnvValue]:
    """The key/values of the metadata's `env` block (strings unquoted, integers as int)."""
    match = _ENV_BLOCK.search(metadata_text)
    if match is None:
        return {}
    env: dict[str, EnvValue] = {}
    for key, raw in _ENTRY.findall(match.group(1)):
        if raw.startswith('"'):
            env[key] = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        else:
            try:
                env[key] = int(raw, 0)
            except ValueError:
                env[key] = raw
    return env


def hostname_of(env: dict[str, EnvValue]) -> str:
    """LTTng writes `hostname`; perf's CTF converter writes `host`."""
    return str(env.get("hostname", env.get("host", "")))


def tracer_of(env: dict[str, EnvValue]) -> str:
    """`lttng-modules 2.11.0`, `perf 4.1.1`, or "" when the trace does not say."""
    name = str(env.get("tracer_name", ""))
    if "tracer_major" in env:
        parts = [env.get("tracer_major"), env.get("tracer_minor"), env.get("tracer_patchlevel")]
        version = ".".join(str(p) for p in parts if p is not None)
    else:
        version = str(env.get("version", ""))
    return f"{name} {version}".strip()


def kernel_of(env: dict[str, EnvValue]) -> str:
    """The kernel release (`4.18.7-100.fc27.x86_64`), whichever key the tracer used."""
    return str(env.get("kernel_release", env.get("release", "")))


def domain_of(env: dict[str, EnvValue]) -> str:
    return str(env.get("domain", ""))
