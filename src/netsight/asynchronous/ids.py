"""Process ids: UUIDv7 (RFC 9562) as 32 hex digits, time-ordered and not guessable."""

import secrets
import time
import uuid


def new_process_id(now=None):
    """A new process id: a UUIDv7 (RFC 9562) as 32 hex digits.

    :param now: the creation time (Unix seconds); the current time by default.
    :returns: 48 bits of Unix time in milliseconds, then 74 random bits
        (``secrets``): ids sort by creation time (to the millisecond), so
        that a new record goes to the last bucket of the registry's BTree
        and a list reads newest first by walking the keys backwards.
    """
    millis = int((time.time() if now is None else now) * 1000)
    random_bits = secrets.randbits(74)
    value = (millis & (1 << 48) - 1) << 80  # unix_ts_ms
    value |= 0x7 << 76  # version 7
    value |= (random_bits >> 62) << 64  # rand_a: 12 bits
    value |= 0b10 << 62  # the RFC 4122/9562 variant
    value |= random_bits & (1 << 62) - 1  # rand_b: 62 bits
    return uuid.UUID(int=value).hex


def made_at(process_id):
    """When ``process_id`` was drawn (Unix seconds, to the millisecond): the time in its first 48 bits."""
    return int(process_id[:12], 16) / 1000
