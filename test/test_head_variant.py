"""openvino-int8's box head variant follows the CPU's ISA, and each variant has a cache entry of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from ros_detect.detection.backends import export, openvino_split
from ros_detect.detection.backends.cache import entry_dir
from ros_detect.detection.backends.openvino_split import HEAD_VARIANTS, head_variant, split_cache_scheme
from ros_detect.detection.backends.registry import BuildContext
from ros_detect.detection.cpu_isa import has_vnni
from ros_detect.detection.models import ModelSpec

pytestmark = pytest.mark.unit

ZEN1 = {"fpu", "sse4_2", "avx", "fma", "f16c", "avx2"}
ZEN4 = ZEN1 | {"avx512f", "avx512_vnni", "avx512_bf16"}
ALDER_LAKE = ZEN1 | {"avx_vnni"}
SAPPHIRE_RAPIDS = ZEN4 | {"amx_bf16", "amx_int8"}


@pytest.mark.parametrize(
    ("flags", "variant"),
    [(ZEN4, "int8"), (ALDER_LAKE, "int8"), (SAPPHIRE_RAPIDS, "int8"), (ZEN1, "fp32"), (set(), "fp32")],
)
def test_head_variant_follows_vnni(flags, variant):
    assert has_vnni(flags) == (variant == "int8")
    assert head_variant(frozenset(flags)) == variant
    assert variant in HEAD_VARIANTS


def test_each_head_variant_has_its_own_cache_entry(tmp_path):
    ctx = BuildContext(cache_dir=tmp_path, cache_key="k")
    dirs = {entry_dir(ctx, split_cache_scheme(v), "c") for v in HEAD_VARIANTS}
    assert len(dirs) == len(HEAD_VARIANTS)
    with pytest.raises(ValueError, match="head variant"):
        split_cache_scheme("bf16")


@pytest.mark.parametrize(("flags", "variant"), [(ZEN4, "int8"), (ZEN1, "fp32")])
def test_builder_keys_the_cache_by_this_cpus_variant(monkeypatch, tmp_path, flags, variant):
    recorded: dict[str, object] = {}

    class BuiltError(Exception):
        pass

    def fake_entry(ctx: BuildContext, scheme: str, quantize: object, meta: dict | None = None) -> None:
        recorded.update(scheme=scheme, meta=meta)
        raise BuiltError

    monkeypatch.setattr(openvino_split, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(export, "calibrated_entry", fake_entry)
    spec = ModelSpec(weights="none")
    with pytest.raises(BuiltError):
        openvino_split.build_openvino_split_int8(None, spec, BuildContext(cache_dir=Path(tmp_path), cache_key="k"))
    assert recorded == {"scheme": f"openvino-split-int8-head-{variant}", "meta": {"head": variant}}
