"""Tag lists and the catalog: ordering, ``n``/``last`` pagination with the ``Link`` header, bad ``n``."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.servers import RegistryServer

from ._http import Api, assert_error, assert_status, describe, oci_image

LINK = re.compile(r'^<([^>]+)>;\s*rel="?next"?$')
TAGS = ["a", "b", "c", "d", "e"]


def next_link(resp: requests.Response) -> str | None:
    """The URL of a ``Link: <...>; rel="next"`` header (relative), or None."""
    header = resp.headers.get("Link")
    if header is None:
        return None
    match = LINK.match(header.strip())
    assert match, f"malformed Link header {header!r}"
    return match.group(1)


def push_tags(api: Api, repo: str, tags: list[str]) -> None:
    image = oci_image()
    for tag in tags:
        image.push(api, repo, tag)


@pytest.mark.reference_bug("tags/list is in storage order, not sorted")
def test_tags_list_is_sorted(api: Api, repo: str) -> None:
    """GET /tags/list: 200 ``{"name": <repo>, "tags": [...]}`` in lexical order, no Link header (tags
    in lower case, where byte order and the spec's case-insensitive order agree)."""
    tags = ["v2", "v10", "latest", "a1", "b", "zz", "a10"]
    push_tags(api, repo, tags)
    resp = assert_status(api.tags(repo), 200)
    body = resp.json()
    assert body["name"] == repo
    assert body["tags"] == sorted(tags), body
    assert "Link" not in resp.headers, describe(resp)


@pytest.mark.reference_bug("tags/list ignores n and last and sends no Link header")
def test_tags_list_pagination_with_link_header(api: Api, repo: str) -> None:
    """``n=2`` pages through the tags: each page has at most 2 tags and a ``Link: </v2/<repo>/tags/list?
    n=2&last=<last tag>>; rel="next"`` while more remain; following the links lists every tag once."""
    push_tags(api, repo, TAGS)
    resp = assert_status(api.tags(repo, n="2"), 200)
    seen: list[str] = []
    for _ in range(10):
        page = resp.json()["tags"]
        assert len(page) <= 2, page
        seen += page
        link = next_link(resp)
        if link is None:
            break
        parts = urlsplit(link)
        assert parts.path == f"/v2/{repo}/tags/list", link
        query = parse_qs(parts.query)
        assert query.get("n") == ["2"] and query.get("last") == [page[-1]], link
        resp = assert_status(api.get(link), 200)
    assert seen == TAGS


@pytest.mark.reference_bug("tags/list ignores last")
def test_tags_list_last_without_n(api: Api, repo: str) -> None:
    """``last=<tag>`` alone lists the tags after it; a ``last`` that is not a tag works the same."""
    push_tags(api, repo, TAGS)
    assert api.tag_list(repo, last="b") == ["c", "d", "e"]
    assert api.tag_list(repo, last="bb") == ["c", "d", "e"]
    assert api.tag_list(repo, last="e") == []


@pytest.mark.reference_bug("tags/list ignores n")
def test_tags_list_n_larger_than_count_and_n_zero(api: Api, repo: str) -> None:
    """``n`` above the count lists everything without a Link header; ``n=0`` is 200 with no tags."""
    push_tags(api, repo, TAGS)
    resp = assert_status(api.tags(repo, n="100"), 200)
    assert resp.json()["tags"] == TAGS and "Link" not in resp.headers, describe(resp)
    resp = assert_status(api.tags(repo, n="0"), 200)
    assert not resp.json().get("tags"), describe(resp)


@pytest.mark.reference_bug("tags/list ignores a malformed n")
@pytest.mark.parametrize("n", ["abc", "-1", "1.5"])
def test_tags_list_bad_n_answers_400(api: Api, repo: str, n: str) -> None:
    """A non-numeric or negative ``n``: 400 PAGINATION_NUMBER_INVALID."""
    push_tags(api, repo, ["a"])
    assert_error(api.tags(repo, n=n), 400, "PAGINATION_NUMBER_INVALID")


def test_tags_list_of_unknown_repository_answers_404(api: Api, repo: str) -> None:
    """The tag list of a repository that does not exist: 404 NAME_UNKNOWN."""
    assert_error(api.tags(repo), 404, "NAME_UNKNOWN")


def test_catalog_pagination_with_link_header(registry: RegistryServer) -> None:
    """``/v2/_catalog`` lists repositories in lexical order; ``n=2`` pages with ``Link: </v2/_catalog?
    n=2&last=<repo>>; rel="next"`` and the pages together list every repository once."""
    api = Api(registry.url)
    repos = ["alpha", "beta/one", "beta/two", "gamma", "zeta"]
    for name in repos:
        api.push_blob(name, b"x")
        oci_image().push(api, name, "t")
    full = assert_status(api.get("/v2/_catalog"), 200).json()["repositories"]
    assert full == repos
    resp = assert_status(api.get("/v2/_catalog", params={"n": "2"}), 200)
    seen: list[str] = []
    for _ in range(10):
        page = resp.json()["repositories"]
        assert len(page) <= 2, page
        seen += page
        link = next_link(resp)
        if link is None:
            break
        parts = urlsplit(link)
        assert parts.path == "/v2/_catalog", link
        query = parse_qs(parts.query)
        assert query.get("n") == ["2"] and query.get("last") == [page[-1]], link
        resp = assert_status(api.get(link), 200)
    assert seen == repos
    after = assert_status(api.get("/v2/_catalog", params={"last": "beta/two"}), 200).json()["repositories"]
    assert after == ["gamma", "zeta"]


@pytest.mark.reference_bug("_catalog ignores a malformed n")
@pytest.mark.parametrize("n", ["abc", "-1"])
def test_catalog_bad_n_answers_400(registry: RegistryServer, n: str) -> None:
    """A non-numeric or negative ``n`` on the catalog: 400 PAGINATION_NUMBER_INVALID."""
    api = Api(registry.url)
    api.push_blob("one", b"x")
    assert_error(api.get("/v2/_catalog", params={"n": n}), 400, "PAGINATION_NUMBER_INVALID")


def test_catalog_n_zero(registry: RegistryServer) -> None:
    """``n=0`` on the catalog: 200 with no repositories, never a 5xx."""
    api = Api(registry.url)
    oci_image().push(api, "one", "t")
    resp = assert_status(api.get("/v2/_catalog", params={"n": "0"}), 200)
    assert not resp.json().get("repositories"), describe(resp)
