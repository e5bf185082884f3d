"""``--shard INDEX/COUNT``: the hash ranges, the selector Kopf sends, and the peering each shard uses.

Whether the API server filters by these selectors is checked on the real control plane
(tests/integration/test_sharding.py); here, only what the operator computes.
"""

from __future__ import annotations

import itertools
import secrets

import pytest

from leadergroup.cli import operator as cli
from leadergroup.cli import peering
from leadergroup.cli.sharding import HASH_SPACE, Shard, apply_to, fnv1a64, shard_of


@pytest.mark.parametrize(
    ("value", "digest"),
    [
        # Published FNV-1a 64 test vectors (the same as Go's hash/fnv New64a).
        ("", 0xCBF29CE484222325),
        ("a", 0xAF63DC4C8601EC8C),
        ("foobar", 0x85944171F73967E8),
    ],
)
def test_fnv1a64_matches_the_published_vectors(value: str, digest: int) -> None:
    assert fnv1a64(value) == digest


@pytest.mark.parametrize("count", [1, 2, 3, 7, 16])
def test_the_shards_cover_the_hash_space_without_gaps_or_overlap(count: int) -> None:
    shards = [Shard(index, count) for index in range(count)]
    assert shards[0].start == 0
    assert shards[-1].end == HASH_SPACE
    for before, after in itertools.pairwise(shards):
        assert before.end == after.start
    namespaces = [f"team-{secrets.token_hex(3)}" for _ in range(200)]
    for namespace in namespaces:
        assert sum(shard.owns(namespace) for shard in shards) == 1
        assert shards[shard_of(namespace, count)].owns(namespace)


def test_the_selector_is_the_servers_syntax_with_normalised_bounds() -> None:
    assert Shard(0, 2).selector() == (
        "shardRange(object.metadata.namespace, '0x0000000000000000', '0x8000000000000000')"
    )
    # The last bound is 2^64 itself, 17 hex digits, as the server spells its exclusive upper end.
    assert Shard(1, 2).selector() == (
        "shardRange(object.metadata.namespace, '0x8000000000000000', '0x10000000000000000')"
    )


@pytest.mark.parametrize("text", ["2/2", "-1/2", "0/0", "1", "a/b", "1/2/3"])
def test_a_shard_outside_its_count_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="INDEX"):
        Shard.parse(text)


def test_the_command_line_refuses_a_bad_shard(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["--shard", "3/2"])
    assert "INDEX < COUNT" in capsys.readouterr().err


def test_each_shard_gets_a_peering_object_of_its_own() -> None:
    names = {cli.peering_name(cli.build_parser().parse_args(["--shard", f"{index}/3"])) for index in range(3)}
    assert names == {f"{peering.DEFAULT_PEERING_NAME}-shard-{index}-of-3" for index in range(3)}
    unsharded = cli.build_parser().parse_args([])
    assert cli.peering_name(unsharded) == peering.DEFAULT_PEERING_NAME
    chosen = cli.build_parser().parse_args(["--shard", "0/2", "--peering", "mine"])
    assert cli.peering_name(chosen) == "mine"


def test_only_our_resources_are_sharded() -> None:
    import kopf

    from leadergroup.handlers import LEADERGROUPS, WATCHED_CHILDREN

    settings = kopf.OperatorSettings()
    apply_to(settings, Shard(1, 4), [LEADERGROUPS, *WATCHED_CHILDREN])
    selectors = settings.watching.shard_selectors
    assert len(selectors) == 1 + len(WATCHED_CHILDREN)
    assert set(selectors.values()) == {Shard(1, 4).selector()}
    assert ("apiextensions.k8s.io", "v1", "customresourcedefinitions") not in selectors
    assert ("kopf.dev", "v1", "clusterkopfpeerings") not in selectors
