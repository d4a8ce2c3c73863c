"""Checks of deployment values whose mistakes would otherwise show up late: at the first
request (a credentials key that is no Fernet key made every GraphQL answer a 500), at the
first Kafka call (``host:notaport``), or never (an empty ALLOWED_HOSTS answers every
request with a 400). Each raises ImproperlyConfigured naming the variable, and never
repeats a secret: keys are referred to by position, URLs with their password masked.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

# A host name or wildcard domain (".example.com"), an IPv4 address or a bracketed IPv6
# address, as Django's host validation accepts them; "*" alone allows any host.
_HOST = re.compile(r"^(\.?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}"
                   r"[a-z0-9])?)*\.?|\[[0-9a-f:.]+\])$", re.IGNORECASE)
_BOOTSTRAP = re.compile(r"^(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>[0-9]{1,5})$")
MASK = "***"


def allowed_hosts(name: str, hosts: list[str]) -> list[str]:
    """``hosts``, if it names at least one host and each entry is a host pattern."""
    if not hosts:
        raise ImproperlyConfigured(
            f"{name} is empty: every request would be refused (400). Give the host names "
            "the platform is reached by, comma-separated, e.g. "
            f"{name}=admin.example.com,.example.com (a leading dot: any subdomain).")
    for host in hosts:
        if host != "*" and not _HOST.match(host):
            raise ImproperlyConfigured(
                f"{name} entry {host!r} is not a host name: give names such as "
                "example.com or .example.com, without scheme, port or path.")
    return hosts


def bootstrap_servers(name: str, servers: list[str]) -> list[str]:
    """``servers``, if each entry is ``host:port`` with a port in 1-65535."""
    if not servers:
        raise ImproperlyConfigured(f"{name} is empty: give host:port[,host:port].")
    for server in servers:
        match = _BOOTSTRAP.match(server)
        if match is None or not 1 <= int(match["port"]) <= 65535:
            raise ImproperlyConfigured(
                f"{name} entry {server!r} is not host:port (a port 1-65535), e.g. "
                "kafka-1.example.com:9092.")
    return servers


def fernet_keys(name: str, keys: list[str]) -> list[str]:
    """``keys``, if each is a Fernet key; an error names a bad key by position only."""
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"{name}: key #{position} of {len(keys)} is not a Fernet key (32 url-safe "
                "base64-encoded bytes). Make one with `python -c 'from cryptography.fernet "
                "import Fernet; print(Fernet.generate_key().decode())'`.") from None
    return keys


def proxy_ssl_header(text: str) -> tuple[str, str] | None:
    """SECURE_PROXY_SSL_HEADER from ``X-Forwarded-Proto=https``; None for empty text."""
    if not text.strip():
        return None
    header, sep, value = text.partition("=")
    header, value = header.strip(), value.strip()
    if not sep or not re.fullmatch(r"[A-Za-z0-9-]+", header) or not value:
        raise ValueError("expected <header>=<value>")
    return "HTTP_" + header.upper().replace("-", "_"), value


def migration_executor(text: str) -> str:
    """TENANT_MIGRATION_EXECUTOR: the django-tenants executor of the schemas to migrate."""
    name = text.strip()
    if name not in ("standard", "multiprocessing"):
        raise ValueError("expected standard or multiprocessing")
    return name


def redact_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ***; text that is no URL is masked
    whole after its scheme, since it may hold a password in a form urlsplit misreads."""
    try:
        parts = urlsplit(url)
        password = parts.password
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        scheme, sep, _ = url.partition("://")
        return f"{scheme}{sep}{MASK}" if sep else MASK
    if not password:
        return url
    netloc = f"{parts.username or ''}:{MASK}@{host}" + (f":{port}" if port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def without_secret(text: str, url: str) -> str:
    """``text`` (say, an error message about ``url``) with the URL's password masked."""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    return text.replace(password, MASK) if password else text
