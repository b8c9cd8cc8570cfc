"""One discovery rule for every registry: spikebit.methods, entry-point plugins
(group ``spikebit.plugins``) and local modules named in a config's ``imports:``."""

import importlib.metadata
import sys
import textwrap

import pytest

from spikebit import registry
from spikebit.errors import ConfigError, RegistryError
from spikebit.functional.encoders import ENCODERS
from spikebit.functional.staircase import STAIRCASES
from spikebit.functional.surrogate import SURROGATES
from spikebit.models.blocks import BLOCKS
from spikebit.models.zoo import MODELS
from spikebit.neurons import NEURONS
from spikebit.quant import QUANTIZERS
from spikebit.reproduce import EXPERIMENTS
from spikebit.train.callbacks import CALLBACKS
from spikebit.train.config import config_from_dict
from spikebit.train.losses import LOSSES, make_loss

REGISTRIES = {
    "NEURONS": NEURONS, "QUANTIZERS": QUANTIZERS, "SURROGATES": SURROGATES,
    "STAIRCASES": STAIRCASES, "ENCODERS": ENCODERS, "BLOCKS": BLOCKS, "LOSSES": LOSSES,
    "CALLBACKS": CALLBACKS, "MODELS": MODELS, "EXPERIMENTS": EXPERIMENTS,
}

PLUGIN = textwrap.dedent(
    """
    from spikebit.functional.encoders import ENCODERS
    from spikebit.functional.staircase import STAIRCASES
    from spikebit.functional.surrogate import SURROGATES
    from spikebit.models.blocks import BLOCKS
    from spikebit.models.zoo import MODELS
    from spikebit.neurons import NEURONS
    from spikebit.quant import QUANTIZERS
    from spikebit.reproduce import EXPERIMENTS
    from spikebit.train.callbacks import CALLBACKS
    from spikebit.train.losses import LOSSES

    for reg in (NEURONS, QUANTIZERS, SURROGATES, STAIRCASES, ENCODERS, BLOCKS, LOSSES,
                CALLBACKS, MODELS, EXPERIMENTS):
        reg.register("plugtest-entry")(object())
    """
)


@pytest.fixture
def fake_plugins(tmp_path, monkeypatch):
    """Two entry points: one that registers an entry in every registry, one broken."""
    (tmp_path / "good_plugin.py").write_text(PLUGIN)
    (tmp_path / "broken_plugin.py").write_text("raise ImportError('needs libfoo')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for mod in ("good_plugin", "broken_plugin"):  # each test imports them afresh
        monkeypatch.delitem(sys.modules, mod, raising=False)
    eps = [importlib.metadata.EntryPoint("good", "good_plugin", registry.PLUGIN_GROUP),
           importlib.metadata.EntryPoint("broken", "broken_plugin", registry.PLUGIN_GROUP)]

    def entry_points(**kw):
        return [e for e in eps if e.group == kw.get("group")]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    registry.rediscover()
    yield
    for reg in REGISTRIES.values():
        if "plugtest-entry" in reg._items:
            reg.remove("plugtest-entry")
    monkeypatch.undo()
    registry.rediscover()


@pytest.mark.parametrize("name", sorted(REGISTRIES))
def test_every_registry_finds_entry_point_plugins(fake_plugins, name):
    reg = REGISTRIES[name]
    assert reg.get("plugtest-entry") is not None


def test_broken_plugin_is_named_and_breaks_no_other_lookup(fake_plugins):
    assert NEURONS.get("lif").__name__ == "LIF"
    assert QUANTIZERS.get("plugtest-entry") is not None
    with pytest.raises(RegistryError, match=r"plugin 'broken'.*needs libfoo"):
        QUANTIZERS.get("ternary")
    assert "plugin 'broken' (broken_plugin)" in registry.discovery_failures()


def test_quantizer_in_a_methods_package_is_found_on_first_lookup(tmp_path, monkeypatch):
    """A quantizer added under spikebit.methods is found by QUANTIZERS itself (before,
    only NEURONS/BLOCKS/LOSSES/CALLBACKS looked there, so it depended on lookup order)."""
    import spikebit.methods

    extra = tmp_path / "extra"
    (extra / "newpaper_plugtest").mkdir(parents=True)
    (extra / "newpaper_plugtest" / "__init__.py").write_text(textwrap.dedent(
        """
        from spikebit.quant import QUANTIZERS
        QUANTIZERS.register("plugtest-ternary")(object())
        """))
    monkeypatch.setattr(spikebit.methods, "__path__", [*spikebit.methods.__path__, str(extra)])
    registry.rediscover()
    try:
        assert QUANTIZERS.get("plugtest-ternary") is not None
    finally:
        QUANTIZERS.remove("plugtest-ternary")
        sys.modules.pop("spikebit.methods.newpaper_plugtest", None)
        monkeypatch.undo()
        registry.rediscover()


def test_config_imports_local_modules_before_building(tmp_path):
    (tmp_path / "my_loss.py").write_text(textwrap.dedent(
        """
        from spikebit.train.losses import LOSSES

        @LOSSES.register("plugtest-scaled-ce")
        def scaled_ce(output, target, scale=1.0):
            from spikebit.train.losses import cross_entropy
            return scale * cross_entropy(output, target)
        """))
    config = config_from_dict({"imports": ["my_loss.py"],
                               "loss": {"name": "plugtest-scaled-ce", "args": {"scale": 2.0}}})
    try:
        registry.import_plugins(config.imports, base=tmp_path)
        import torch

        out, y = torch.randn(3, 4, 5), torch.tensor([0, 1, 4, 2])
        fn = make_loss(config.loss)
        torch.testing.assert_close(fn(out, y), 2.0 * make_loss("ce")(out, y))
        with pytest.raises(ConfigError, match="plugtest-scaled-ce.*unexpected keyword"):
            make_loss({"name": "plugtest-scaled-ce", "args": {"sclae": 2.0}})
    finally:
        LOSSES.remove("plugtest-scaled-ce")
    with pytest.raises(ConfigError, match=r"cannot import 'missing\.py'"):
        registry.import_plugins(["missing.py"], base=tmp_path)
    with pytest.raises(ConfigError, match="no_such_module_xyz"):
        registry.import_plugins(["no_such_module_xyz"], base=tmp_path)


def test_loss_accepts_a_bare_name_or_name_and_args():
    assert config_from_dict({"loss": "mse"}).loss == "mse"
    section = config_from_dict({"loss": {"name": "mt-mse", "args": {"target_count": 2.0}}}).loss
    assert section.name == "mt-mse" and section.args == {"target_count": 2.0}
    with pytest.raises(ConfigError, match="loss must be one of"):
        config_from_dict({"loss": 3})
