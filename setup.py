"""Package layout: the library under src/, the shipped run configs from configs/.

``configs/`` stays at the repository root (``spikebit train configs/demo.yaml`` works in a
checkout) and is installed as the package ``spikebit.configs`` (``spikebit train demo``
works from a wheel).
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages("src"), "spikebit.configs"],
    package_dir={"": "src", "spikebit.configs": "configs"},
    package_data={"spikebit": ["py.typed"], "spikebit.configs": ["*.yaml", "*/*.yaml"]},
)
