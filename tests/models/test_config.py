import json

import pytest

from ml.models.config import Config, ConfigError, load_config


def test_defaults_round_trip_through_json(tmp_path):
    cfg = Config()
    cfg.train.seed = 7
    cfg.model.scanpath.max_len = 12
    cfg.save(tmp_path / "c.json")
    back = load_config(tmp_path / "c.json")
    assert back == cfg
    assert isinstance(back.model.llm.target_modules, tuple)


def test_yaml_and_overrides(tmp_path):
    (tmp_path / "c.yaml").write_text("model:\n  gnn:\n    layers: 3\ntrain:\n  report:\n    lr: 0.001\n")
    cfg = load_config(tmp_path / "c.yaml", {"train": {"report": {"batch_size": 2}}})
    assert cfg.model.gnn.layers == 3
    assert cfg.train.report.lr == 1e-3 and cfg.train.report.batch_size == 2
    assert cfg.train.encoder.lr == Config().train.encoder.lr  # untouched defaults stay


@pytest.mark.parametrize(
    "data, msg",
    [
        ({"model": {"gnn": {"layer": 3}}}, "model.gnn.layer"),
        ({"model": {"gaze_mode": "telepathy"}}, "gaze_mode"),
        ({"train": {"gaze_mix": {"psychic": 1.0}}}, "psychic"),
        ({"model": {"scanpath": {"max_len": "ten"}}}, "max_len"),
        ({"model": {"encoder": {"kind": "resnet9000"}}}, "kind"),
    ],
)
def test_bad_configs_name_the_key(tmp_path, data, msg):
    (tmp_path / "c.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=msg):
        load_config(tmp_path / "c.json")


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.json")
