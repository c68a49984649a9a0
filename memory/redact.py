"""Redact secrets before anything is stored, embedded or logged.

Each pattern targets a documented credential format (cloud keys, VCS/package
tokens, chat/LLM API keys, JWTs, private key blocks) or a credential in context
(``password=...``, ``Authorization: Bearer ...``, ``scheme://user:pass@host``).
A redacted secret becomes ``[REDACTED:<kind>]`` so the text stays readable.
"""

from __future__ import annotations

import re

__all__ = ["contains_secret", "redact"]

_SOURCES: list[tuple[str, str]] = [
    (
        "private_key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|$)",
    ),
    ("url_password", r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@'\"]+):([^\s@/'\"]+)@"),
    # A long token as a URL's whole user part (Sentry DSNs, token-in-URL clones).
    ("url_token", r"(?i)(?<=://)[A-Za-z0-9_-]{24,}(?=@)"),
    ("aws_access_key", r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA)[A-Z0-9]{16}\b"),
    ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})\b"),
    ("gitlab_token", r"\bglpat-[A-Za-z0-9_-]{20,}\b"),
    ("anthropic_key", r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
    ("openai_key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    ("stripe_key", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b"),
    ("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}\b"),
    ("google_oauth", r"\bya29\.[0-9A-Za-z_-]{20,}"),
    ("slack_token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ("slack_webhook", r"https://hooks\.slack\.com/services/[A-Za-z0-9/]+"),
    ("npm_token", r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("pypi_token", r"\bpypi-[A-Za-z0-9_-]{50,}"),
    ("huggingface_token", r"\bhf_[A-Za-z0-9]{30,}\b"),
    ("sendgrid_key", r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
    ("twilio_key", r"\bSK[0-9a-fA-F]{32}\b"),
    ("digitalocean_token", r"\bdo[por]_v1_[a-f0-9]{64}\b"),
    ("azure_storage_key", r"(?i)AccountKey=[A-Za-z0-9+/=]{40,}"),
    ("vault_token", r"\bhv[sbr]\.[A-Za-z0-9_-]{24,}"),
    ("shopify_token", r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b"),
    ("linear_key", r"\blin_api_[A-Za-z0-9]{32,}"),
    ("telegram_bot_token", r"\b\d{8,10}:AA[A-Za-z0-9_-]{32,}"),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ("bearer", r"(?i)\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=-]{16,}"),
    (
        "assignment",
        r"(?i)\b([A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|"
        r"auth|credential|private[_-]?key)[A-Za-z0-9_.-]*['\"]?)(\s*[:=]\s*|\s+)(['\"]?)([^\s'\"]{6,})\3",
    ),
    ("cli_password", r"(?<=\s)(--password[= ])(?=\S{6,})(\S+)"),
    # -pSECRET only where it means a password (MySQL/MariaDB clients), not `find -print0`.
    ("mysql_password", r"(?i)(\b(?:mysql|mysqldump|mysqladmin|mariadb)\b[^|;&\n]*?\s-p)(\S{4,})"),
]
_PATTERNS: list[tuple[str, re.Pattern[str]]] = []


def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    """Compiled on first use: the command hook often never needs them."""
    if not _PATTERNS:
        _PATTERNS.extend((kind, re.compile(src)) for kind, src in _SOURCES)
    return _PATTERNS


_SCHEMES = {"bearer", "basic", "token", "digest"}


def _sub(kind: str, pattern: re.Pattern[str], text: str) -> str:
    tag = f"[REDACTED:{kind}]"
    if kind == "url_password":
        return pattern.sub(lambda m: f"{m.group(1)}:{tag}@", text)
    if kind == "bearer":
        return pattern.sub(lambda m: f"{m.group(1)} {tag}", text)
    if kind == "assignment":

        def keep_name(m: re.Match[str]) -> str:
            # A reference ($VAR, $(cmd)) names where the secret is; it is not the secret.
            if m.group(4).startswith(("[REDACTED:", "$")) or m.group(4).lower() in _SCHEMES:
                return m.group(0)
            # "token Y" (space-separated) only counts when Y looks like a credential.
            if m.group(2).isspace() and not re.search(r"\d", m.group(4)):
                return m.group(0)
            return f"{m.group(1)}{m.group(2)}{m.group(3)}{tag}{m.group(3)}"

        return pattern.sub(keep_name, text)
    if kind in ("cli_password", "mysql_password"):
        return pattern.sub(lambda m: f"{m.group(1)}{tag}", text)
    return pattern.sub(tag, text)


# Cheap pre-screen: every pattern above needs one of these cues; most text has none.
_LOWER_CUES = (
    "-----begin",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "sk-",
    "sk_",
    "rk_",
    "pk_",
    "aiza",
    "ya29.",
    "xox",
    "hooks.slack",
    "npm_",
    "pypi-",
    "hf_",
    "sg.",
    "_v1_",
    "accountkey=",
    "eyj",
    "bearer",
    "basic",
    "token",
    "passw",
    "pwd",
    "secret",
    "api_key",
    "api-key",
    "apikey",
    "access_key",
    "access-key",
    "accesskey",
    "auth",
    "credential",
    "private",
    "mysql",
    "mariadb",
    "://",
    "hvs.",
    "hvb.",
    "hvr.",
    "shpat_",
    "shpca_",
    "shppa_",
    "shpss_",
    "lin_api_",
    ":aa",
)
_CASE_CUES = ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "SK")


def _might_contain_secret(text: str) -> bool:
    # Plain loops: ~1.5 us for a short command against ~2.3 us for any() over generators, and
    # this runs on every exact check.
    low = text.lower()
    for cue in _LOWER_CUES:
        if cue in low:
            return True
    for cue in _CASE_CUES:
        if cue in text:
            return True
    return False


def redact(text: str) -> str:
    if not text or not _might_contain_secret(text):
        return text
    for kind, pattern in _patterns():
        text = _sub(kind, pattern, text)
    return text


def contains_secret(text: str) -> bool:
    return redact(text) != text
