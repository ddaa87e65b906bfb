import json

import numpy as np
from click.testing import CliRunner

import evio
from evio import cli

from conftest import FIXTURES, random_events


def test_formats_lists_every_registered_format():
    result = CliRunner().invoke(cli.main, ["formats", "--json"])
    assert result.exit_code == 0
    names = {f["name"] for f in json.loads(result.output)}
    assert names == {f["name"] for f in evio.list_formats()} >= {"hdf5", "zarr", "npz", "npy", "csv"}
    table = CliRunner().invoke(cli.main, ["formats"]).output
    assert ".h5 .hdf5" in table and "zarr" in table


def test_convert_and_info(tmp_path):
    runner = CliRunner()
    src = FIXTURES / "exp18f239a_dat_sample.npy"
    h5, zr = tmp_path / "a.h5", tmp_path / "a.zarr"
    result = runner.invoke(cli.main, ["convert", str(src), str(h5), "--sensor-size", "304", "240"])
    assert result.exit_code == 0, result.output
    assert "4,407 events" in result.output
    result = runner.invoke(cli.main, ["convert", str(h5), str(zr), "-o", "compression=zstd", "-q"])
    assert result.exit_code == 0 and result.output == ""
    np.testing.assert_array_equal(evio.read(zr), evio.read(src))
    data = json.loads(runner.invoke(cli.main, ["info", str(zr), "--json"]).output)
    assert data["format"] == "zarr" and data["event_count"] == 4407 and data["sensor_size"] == [304, 240]
    assert data["meta"]["source_format"] == "npy"
    table = runner.invoke(cli.main, ["info", str(zr)]).output
    assert "304 x 240" in table and "4,407" in table and "0.3792" in table


def test_convert_refuses_to_overwrite_without_force(tmp_path):
    runner = CliRunner()
    src = tmp_path / "a.npy"
    evio.write(src, random_events(10))
    dst = tmp_path / "b.csv"
    dst.write_text("keep me")
    result = runner.invoke(cli.main, ["convert", str(src), str(dst)])
    assert result.exit_code == 1 and "--force" in result.stderr and dst.read_text() == "keep me"
    assert runner.invoke(cli.main, ["convert", str(src), str(dst), "--force"]).exit_code == 0
    np.testing.assert_array_equal(evio.read(dst), evio.read(src))


def test_progress_bar_appears_for_slow_conversions(tmp_path, monkeypatch):
    monkeypatch.setattr(cli._app, "PROGRESS_AFTER", 0.0)
    monkeypatch.setattr("click._termui_impl.isatty", lambda _: True, raising=False)
    src = tmp_path / "a.npy"
    evio.write(src, random_events(5000))
    result = CliRunner().invoke(cli.main, ["convert", str(src), str(tmp_path / "b.h5"), "--chunk-size", "1000"])
    assert result.exit_code == 0
    assert "a.npy -> b.h5" in result.stderr


def test_bad_option_syntax_is_a_usage_error(tmp_path):
    src = tmp_path / "a.npy"
    evio.write(src, random_events(3))
    result = CliRunner().invoke(cli.main, ["convert", str(src), str(tmp_path / "b.h5"), "-o", "nonsense"])
    assert result.exit_code == 2 and "KEY=VALUE" in result.output
    result = CliRunner().invoke(cli.main, ["convert", str(src), str(tmp_path / "b.h5"), "-o", "bogus=1"])
    assert result.exit_code == 1 and "bogus" in result.stderr
