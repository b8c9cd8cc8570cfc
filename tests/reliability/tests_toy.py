"""The toy run config (tests/conftest.py registers the 'toy' dataset) as a plain function."""


def toy_config_dict(out_dir, epochs=2, **extra):
    return {
        "name": "toy", "seed": 3, "out_dir": str(out_dir), "plots": False,
        "model": {"name": "albsnn-mnist", "args": {"spec": "4C3-AP2-8C3-GAP", "steps": 2,
                                                   "full_precision": [0]}},
        "data": {"name": "toy"},
        "optim": {"epochs": epochs, "batch_size": 32, "lr": 0.01},
        **extra,
    }
