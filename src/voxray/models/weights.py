"""Whether pretrained weights can be fetched: one quick request before a download that would hang or retry.

Asked before torch.hub or the Hugging Face hub fetch weights, so an unreachable server ends in a
one-line error (or the hub's cached copy) at once rather than after a minute of retries.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from huggingface_hub import constants, get_session

HUB_PROBE_SECONDS = 5.0


def server_answers(url: str, seconds: float = 5.0) -> bool:
    """Whether `url`'s server answers one HEAD request within `seconds` (urllib, as torch.hub downloads).

    Asked before a download that would otherwise hang on an unreachable host or retry it.
    """
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=seconds).close()
    except urllib.error.HTTPError:
        return True  # it answered, if only with an error status
    except OSError:  # URLError (DNS, refused, no route, proxy, TLS) and timeouts
        return False
    return True


@contextmanager
def offline_unless_hub_answers() -> Iterator[None]:
    """Fetch in huggingface_hub's offline mode when the hub does not answer.

    Offline mode still loads a cached copy and fails at once without one, where the online client
    retries an unreachable host with back-off for about a minute per file.
    """
    previous = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = previous or not _hub_answers()  # read by huggingface_hub per request
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous


def _hub_answers() -> bool:
    """One HEAD request through the hub's own client (its endpoint, proxies and certificates)."""
    import httpx2  # the HTTP client huggingface_hub is built on

    try:
        get_session().head(constants.ENDPOINT, timeout=HUB_PROBE_SECONDS)
    except httpx2.TransportError:  # DNS, refused, no route, timeout, proxy or TLS failure
        return False
    return True
