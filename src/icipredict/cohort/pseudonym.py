"""Pseudonymisation of patient and sample IDs by a keyed hash (HMAC-SHA256).

A pseudonym is a short readable prefix plus the first 16 hex digits (64 bits) of
``HMAC-SHA256(secret, centre | kind | source ID)``: ``P-`` for patients, ``S-`` for samples.
The same secret maps the same source ID to the same pseudonym, so a centre
can re-send its data and the store's rows stay linked; without the secret nobody can go back from a
pseudonym to the hospital's ID, nor check a guessed ID against the store.

Why the centre is part of the hashed message: source IDs are only unique *within* a centre
(``P001`` at two hospitals are two different people). Hashing the ID alone would merge them into
one pseudonym; scoping by centre keeps them apart, and it also stops anyone from linking the same
person across centres by their local ID (linkage across centres, if ever wanted, is a governance
decision, not a side effect of hashing). The kind (patient/sample) is hashed too, so a sample
that happens to carry its patient's ID gets a different pseudonym.

The secret comes from the environment variable ``ICIPREDICT_PSEUDONYM_KEY`` or, when that is not
set, from the key file :func:`icipredict.config.pseudonym_key_file` (created on first use with a
random secret and permissions 0600). The secret is never written to the cohort store; only a
one-way :func:`key_fingerprint` is, so the store can tell that a different key is in use.

A secret shorter than :data:`MIN_KEY_LENGTH` characters is refused (:class:`PseudonymKeyError`):
a short secret can be guessed, and a guessed secret lets anyone check a guessed hospital ID
against the store. One store holds pseudonyms of one key only (see
:mod:`icipredict.cohort.store`); ``icipredict cohort rekey`` is the way to change it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

import pandas as pd

from icipredict import config
from icipredict.cohort.schema import CohortError

log = logging.getLogger(__name__)

#: kind of identifier -> readable prefix of its pseudonym
PREFIXES: dict[str, str] = {"patient": "P-", "sample": "S-"}

#: hex digits kept from the digest (64 bits: collision chance ~n^2/2^65, negligible per centre)
DIGEST_HEX = 16

_SEPARATOR = "\x1f"  # ASCII unit separator: cannot occur in an ID read from a text file

#: Shortest accepted secret, in characters (bytes): 32 random hex digits carry 128 bits.
MIN_KEY_LENGTH = 32


class PseudonymKeyError(CohortError, RuntimeError):
    """The pseudonymisation secret is missing, too short or not the store's.

    A :class:`~icipredict.cohort.schema.CohortError` (the command line prints it as one clear
    message) and, for callers of earlier versions, a ``RuntimeError``.
    """


def check_key(key: bytes, *, origin: str = "the pseudonymisation key") -> bytes:
    """Return ``key`` if it is long enough; raise :class:`PseudonymKeyError` otherwise.

    Parameters
    ----------
    key
        The secret.
    origin
        Where the secret came from, for the message (environment variable, file).

    Raises
    ------
    PseudonymKeyError
        If the secret has fewer than :data:`MIN_KEY_LENGTH` characters.
    """
    if len(key.strip()) < MIN_KEY_LENGTH:
        raise PseudonymKeyError(
            f"{origin} is too short ({len(key.strip())} characters; at least {MIN_KEY_LENGTH} "
            "are needed, e.g. the 64 hex digits of `python -c \"import secrets; "
            "print(secrets.token_hex(32))\"`)")
    return key


def _key_file() -> Path:
    return config.pseudonym_key_file()


def load_key(*, create: bool = True) -> bytes:
    """Return the pseudonymisation secret.

    Parameters
    ----------
    create
        Create the key file with a random 256-bit secret (mode 0600) when neither the environment
        variable nor the key file provides one.

    Returns
    -------
    bytes
        The secret.

    Raises
    ------
    PseudonymKeyError
        If there is no secret and ``create`` is False, or the secret is empty or shorter than
        :data:`MIN_KEY_LENGTH` characters (a ``RuntimeError`` too).
    """
    env = os.environ.get(config.PSEUDONYM_KEY_ENV)
    if env:
        return check_key(env.encode(), origin=f"the environment variable {config.PSEUDONYM_KEY_ENV}")
    path = _key_file()
    if path.exists():
        return read_key_file(path)
    if not create:
        raise PseudonymKeyError(
            f"no pseudonymisation key: set {config.PSEUDONYM_KEY_ENV} or create {path}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    # O_EXCL + mode 0600: never readable by others, never overwrite a key another process wrote.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    log.warning(
        "created a new pseudonymisation key in %s (keep it safe and out of the data: the same "
        "key is needed to re-ingest a centre under the same pseudonyms)", path,
    )
    return secret.encode()


def read_key_file(path: str | Path) -> bytes:
    """Read a secret from a key file (surrounding whitespace stripped), checked by :func:`check_key`.

    Raises
    ------
    PseudonymKeyError
        If the file is missing, empty or holds a secret that is too short.
    """
    path = Path(path)
    if not path.is_file():
        raise PseudonymKeyError(f"pseudonymisation key file {path} not found")
    secret = path.read_text().strip()
    if not secret:
        raise PseudonymKeyError(f"pseudonymisation key file {path} is empty")
    return check_key(secret.encode(), origin=f"the pseudonymisation key file {path}")


def key_fingerprint(key: bytes | None = None) -> str:
    """A short one-way fingerprint of the secret (safe to store; tells keys apart)."""
    key = load_key() if key is None else key
    return hmac.new(key, b"icipredict key fingerprint", hashlib.sha256).hexdigest()[:12]


def pseudonym(source_id: object, *, centre: str, kind: str = "patient",
              key: bytes | None = None) -> str:
    """Return the pseudonym of one source ID.

    Parameters
    ----------
    source_id
        The centre's own identifier (converted with ``str``).
    centre
        Centre the ID belongs to (IDs are scoped by centre, see the module docstring).
    kind
        ``"patient"`` or ``"sample"``.
    key
        The secret; default :func:`load_key`.

    Returns
    -------
    str
        E.g. ``"P-3f9a0c1d2b4e5f60"``.
    """
    if kind not in PREFIXES:
        raise ValueError(f"unknown ID kind {kind!r}; expected one of {sorted(PREFIXES)}")
    key = load_key() if key is None else key
    message = _SEPARATOR.join((centre, kind, str(source_id))).encode()
    digest = hmac.new(key, message, hashlib.sha256).hexdigest()[:DIGEST_HEX]
    return PREFIXES[kind] + digest


def pseudonymise_series(values: pd.Series, *, centre: str, kind: str,
                        key: bytes | None = None) -> pd.Series:
    """Pseudonymise a Series of IDs (missing stays missing; each distinct ID hashed once)."""
    key = load_key() if key is None else key
    present = values.dropna()
    mapping = {v: pseudonym(v, centre=centre, kind=kind, key=key) for v in present.unique()}
    out = values.astype(object).map(mapping)
    return out.where(values.notna(), None)
