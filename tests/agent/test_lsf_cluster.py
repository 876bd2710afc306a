"""Cluster-name inference from fake LSF configuration trees (openlava 2.2 layout) in tmp_path."""
from __future__ import annotations

from pathlib import Path

import pytest

from agent.lsf_cluster import ClusterNameError, cluster_hosts, cluster_names, infer_cluster, parse_lsf_conf

SHARED = """\
Begin Cluster
ClusterName          # Keyword
{clusters}
End Cluster

Begin HostType
TYPENAME                        # Keyword
linux
End HostType

Begin HostModel
MODELNAME  CPUFACTOR   ARCHITECTURE # keyword
IntelI5      100        (x86_64)
End HostModel
"""

CLUSTER = """\
Begin   ClusterAdmins
Administrators = openlava
End    ClusterAdmins

Begin   Host
HOSTNAME          model          type  server  r1m  RESOURCES    #Keywords
{hosts}
End     Host
"""


def tree(tmp_path: Path, clusters: dict[str, list[str]], conf: str | None = None, shared: bool = True) -> dict[str, str]:
    """An LSF_ENVDIR with lsf.conf pointing at an etc dir holding lsf.shared and lsf.cluster.<name>."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (tmp_path / "lsf.conf").write_text(conf if conf is not None else
                                       f"LSF_SERVERDIR=/opt/openlava-2.2/sbin\nLSF_CONFDIR={etc}\nLSF_LIM_PORT=7869\n")
    if shared:
        (etc / "lsf.shared").write_text(SHARED.format(clusters="\n".join(clusters)))
    for name, hosts in clusters.items():
        (etc / f"lsf.cluster.{name}").write_text(
            CLUSTER.format(hosts="\n".join(f"{h:<17} !              !     1       -    -" for h in hosts)))
    return {"LSF_ENVDIR": str(tmp_path)}


def test_a_single_cluster_is_the_name(tmp_path: Path) -> None:
    assert infer_cluster(tree(tmp_path, {"openlava": ["master1"]}), host_names=["elsewhere"]) == "openlava"


def test_quoted_confdir_and_comments_in_lsf_conf(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    env = tree(tmp_path, {"hpc1": ["n1"]},
               conf=f'# LSF_CONFDIR=/wrong\nLSF_CONFDIR="{etc}"   # where lsf.shared lives\nLSF_LOGDIR=\'/var/log\'\n')
    assert infer_cluster(env) == "hpc1"


def test_lsf_conf_syntax() -> None:
    text = 'A="x # not a comment"  # a comment\nB= spaced\nC=\nD=one\\\ntwo\n  E=\'q\'\nnot a pair\n'
    assert parse_lsf_conf(text) == {"A": "x # not a comment", "C": "", "D": "one two", "E": "q"}


def test_environment_confdir_overrides_lsf_conf(tmp_path: Path) -> None:
    env = tree(tmp_path, {"hpc1": ["n1"]}, conf="LSF_CONFDIR=/nonexistent\n")
    assert infer_cluster({**env, "LSF_CONFDIR": str(tmp_path / "etc")}) == "hpc1"


def test_missing_lsf_conf_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ClusterNameError) as err:
        infer_cluster({"LSF_ENVDIR": str(tmp_path)})
    assert str(err.value) == (
        f"cannot infer the LSF cluster name: {tmp_path}/lsf.conf cannot be read (set LSF_ENVDIR to the directory "
        f"holding lsf.conf); looked at {tmp_path}/lsf.conf; set cluster = \"...\" in the [[sinks]] table, "
        "or --cluster_name")


@pytest.mark.skipif(Path("/etc/lsf.conf").exists(), reason="this host has a real LSF install")
def test_default_envdir_is_etc() -> None:
    with pytest.raises(ClusterNameError) as err:
        infer_cluster({}, host_names=["x"])
    assert err.value.looked_at[0] == "/etc/lsf.conf"


def test_missing_lsf_shared_falls_back_to_the_cluster_files(tmp_path: Path) -> None:
    env = tree(tmp_path, {"hpc1": ["n1"]}, shared=False)
    (tmp_path / "etc" / "lsf.cluster.hpc1.bak").write_text("old")
    assert infer_cluster(env) == "hpc1"


def test_missing_lsf_shared_and_no_cluster_file_is_an_error(tmp_path: Path) -> None:
    env = tree(tmp_path, {}, shared=False)
    etc = tmp_path / "etc"
    with pytest.raises(ClusterNameError) as err:
        infer_cluster(env)
    assert str(err.value) == (
        f"cannot infer the LSF cluster name: there is no lsf.shared and no lsf.cluster.<name> file in {etc}; "
        f"looked at {tmp_path}/lsf.conf, {etc}/lsf.shared, {etc}/lsf.cluster.*; "
        "set cluster = \"...\" in the [[sinks]] table, or --cluster_name")


def test_several_clusters_are_told_apart_by_this_host(tmp_path: Path) -> None:
    env = tree(tmp_path, {"east": ["e1", "e2"], "west": ["w1.example.org", "w2"]})
    assert infer_cluster(env, host_names=["w1"]) == "west"
    assert infer_cluster(env, host_names=["e2", "e2.example.org"]) == "east"


def test_host_names_compare_without_case(tmp_path: Path) -> None:
    env = tree(tmp_path, {"east": ["E1"], "west": ["w1"]})
    assert infer_cluster(env, host_names=["e1"]) == "east"


def test_ambiguous_clusters_name_the_candidates(tmp_path: Path) -> None:
    env = tree(tmp_path, {"east": ["e1"], "west": ["w1"]})
    etc = tmp_path / "etc"
    with pytest.raises(ClusterNameError) as err:
        infer_cluster(env, host_names=["login3", "login3.example.org"])
    assert str(err.value) == (
        "cannot infer the LSF cluster name: there are several clusters (east, west) and none of them lists this "
        "host (login3, login3.example.org) in its lsf.cluster.<name> file; looked at "
        f"{tmp_path}/lsf.conf, {etc}/lsf.shared, {etc}/lsf.cluster.east, {etc}/lsf.cluster.west; "
        "set cluster = \"...\" in the [[sinks]] table, or --cluster_name")
    assert err.value.candidates == ["east", "west"]


def test_a_host_in_two_clusters_is_ambiguous_too(tmp_path: Path) -> None:
    env = tree(tmp_path, {"east": ["n1"], "west": ["n1"]})
    with pytest.raises(ClusterNameError, match=r"2 of them \(east, west\) list this host"):
        infer_cluster(env, host_names=["n1"])


def test_cluster_section_with_servers_column_and_host_lists() -> None:
    shared = "Begin Cluster\nClusterName  Servers\nc1  (h1 h2)\nc2  (h3)\nEnd Cluster\n"
    assert cluster_names(shared) == ["c1", "c2"]


def test_host_section_keyword_order_does_not_matter() -> None:
    text = "Begin Host\nmodel HOSTNAME type\n! n7 !\n! n8 !\nEnd Host\n"
    assert cluster_hosts(text) == ["n7", "n8"]
