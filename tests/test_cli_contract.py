"""The command line keeps the README's word: one line per failure (usage errors included), warnings as
``evio: warning: …``, quiet broken pipes, SIGINT/SIGTERM that leave nothing behind, errors that
name the flags, and every README command runs on the repository as shipped (issue 13, items 4, 11, 12)."""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import evio
from evio.cli import main

from conftest import FIXTURES, random_events

ROOT = Path(__file__).resolve().parent.parent


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_line(result, prefix="evio: error: "):
    """The single stderr line of ``result`` (asserting there is exactly one, and no usage block)."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix), result.stderr
    assert "Usage:" not in result.output and "Traceback" not in result.output
    return lines[0]


def _evio_command() -> list[str]:
    exe = shutil.which("evio", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "evio.cli"]


@pytest.fixture
def events_file(tmp_path):
    path = tmp_path / "rec.npy"
    evio.write(path, random_events(100))
    return path


# -- item 11: one line for every failure ----------------------------------------------------------

@pytest.mark.parametrize("args, flag", [
    (["convert", "{src}", "{tmp}/a.h5", "--chunk-size", "0"], "'--chunk-size'"),
    (["render", "{src}", "{tmp}/a.gif", "--T", "0"], "'--T'"),
    (["convert", "{src}", "{tmp}/a.h5", "-o", "compression"], "'-o'"),
    (["render", "{src}", "{tmp}/a.png"], ".gif"),
    (["render", "{src}", "{tmp}/a.gif", "--preset", "cifar10"], "--preset"),
    (["i2e", "{tmp}/missing", "{tmp}/out"], "'SRC'"),
    (["convert", "{src}", "{tmp}/a.h5", "--bogus"], "--bogus"),
    (["convert", "{src}"], "'DST'"),
    (["convert", "{src}", "{tmp}/a.h5", "-o", "dst_format=npz"], "use --to"),
    (["convert", "{src}", "{tmp}/a.h5", "-o", "src_format=npy"], "use --from"),
    (["convert", "{src}", "{tmp}/a.h5", "-o", "sensor_size=[10,10]"], "use --sensor-size"),
    (["convert", "{src}", "{tmp}/a.h5", "-o", "chunk_size=5"], "use --chunk-size"),
])
def test_usage_errors_are_one_line_with_status_2(events_file, tmp_path, args, flag):
    result = _invoke(*[a.format(src=events_file, tmp=tmp_path) for a in args])
    assert result.exit_code == 2, result.output
    assert flag in _one_line(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.npy"]


def test_render_without_pillow_is_one_error_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    result = _invoke("render", FIXTURES / "images" / "chelsea.png", tmp_path / "a.gif")
    assert result.exit_code == 1
    assert "pip install 'evio-toolkit[image]'" in _one_line(result)


def test_an_unexpected_exception_is_still_one_line(events_file, monkeypatch):
    def broken(*args, **kwargs):
        raise TypeError("something evio did not expect")

    monkeypatch.setattr(evio.api, "info", broken)
    result = _invoke("info", events_file)
    assert result.exit_code == 1
    assert _one_line(result) == "evio: error: TypeError: something evio did not expect"


def test_warnings_print_as_one_evio_line(tmp_path):
    src = tmp_path / "a.h5"
    evio.write(src, random_events(10), sensor_size=(1280, 720))
    before = warnings.showwarning
    result = _invoke("convert", src, tmp_path / "b.npy", "-q")
    assert result.exit_code == 0
    line = _one_line(result, prefix="evio: warning: ")
    assert "cannot store metadata" in line and ".py" not in line
    assert warnings.showwarning is before   # set for the command only, not on import of evio


def test_other_libraries_warnings_are_not_printed(events_file, monkeypatch):
    from evio import api

    real = api.info

    def noisy(path, **options):
        warnings.warn_explicit("crc32c usage is deprecated", UserWarning, "/site-packages/numcodecs/x.py", 1)
        warnings.warn("an evio warning", evio.LossWarning)
        return real(path, **options)

    monkeypatch.setattr(api, "info", noisy)
    result = _invoke("info", events_file)
    assert result.exit_code == 0
    assert "crc32c" not in result.stderr and "evio: warning: an evio warning" in result.stderr


def test_a_closed_pipe_ends_quietly():
    read_end, write_end = os.pipe()
    os.close(read_end)                     # like `evio formats | head -0`
    proc = subprocess.run(_evio_command() + ["formats"], stdout=write_end, stderr=subprocess.PIPE, text=True)
    os.close(write_end)
    assert proc.stderr == "" and proc.returncode == 1


def test_errors_name_the_flags_not_python_keywords(events_file, tmp_path):
    line = _one_line(_invoke("convert", events_file, tmp_path / "a.unknown"))
    assert "--to FORMAT" in line and "format=" not in line
    wrong = tmp_path / "b.h5"
    shutil.copy(events_file, wrong)
    line = _one_line(_invoke("info", wrong))
    assert "--from npy" in line and "format=" not in line


# -- item 4 (CLI part): SIGINT and SIGTERM remove the partial output -------------------------------

@pytest.mark.parametrize("signum, status, word", [(signal.SIGTERM, 143, "terminated"),
                                                  (signal.SIGINT, 130, "interrupted")])
def test_a_signal_mid_conversion_leaves_nothing(tmp_path, signum, status, word):
    src = tmp_path / "big.npy"
    evio.write(src, random_events(4_000_000))
    dst = tmp_path / "big.zarr"
    proc = subprocess.Popen(_evio_command() + ["convert", str(src), str(dst), "--chunk-size", "16384", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not any(".evio-tmp-" in p.name for p in tmp_path.iterdir()):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no temporary output appeared"
            time.sleep(0.01)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, err
    assert err == f"evio: {word}\n" and out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.npy"]


# -- item 12 ------------------------------------------------------------------------------------

def test_aedat2_chip_error_says_what_to_do(tmp_path):
    src = tmp_path / "davis.h5"
    ev = random_events(50, sensor=(320, 240), t0=0)
    evio.write(src, ev, sensor_size=(320, 240))
    result = _invoke("convert", src, tmp_path / "out.aedat")
    assert result.exit_code == 1
    line = _one_line(result)   # no metadata warning for a file that is never written
    assert "320 x 240 does not fit chip dvs128 (128 x 128)" in line
    assert "--to aedat3" in line and "-o chip=davis346" in line
    assert _invoke("convert", src, tmp_path / "a3.aedat", "--to", "aedat3", "-q").exit_code == 0
    assert _invoke("convert", src, tmp_path / "a2.aedat", "-o", "chip=davis346", "-q").exit_code == 0
    for name in ("a3.aedat", "a2.aedat"):
        np.testing.assert_array_equal(evio.read(tmp_path / name), ev)
    with pytest.raises(evio.FormatError, match="no fixed frame$"):
        evio.write(tmp_path / "big.aedat", ev, sensor_size=(1280, 720))


def test_raw_from_evt3_stays_evt3(tmp_path):
    src = FIXTURES / "evt3_sample.raw"
    result = _invoke("convert", src, tmp_path / "a.raw", "-q")
    assert result.exit_code == 0, result.output
    assert evio.info(tmp_path / "a.raw")["version"] == "EVT 3.0"
    np.testing.assert_array_equal(evio.read(tmp_path / "a.raw"), evio.read(src))
    evio.convert(src, tmp_path / "a.h5")                  # the encoding travels in the metadata
    evio.convert(tmp_path / "a.h5", tmp_path / "b.raw")
    assert evio.info(tmp_path / "b.raw")["version"] == "EVT 3.0"
    assert _invoke("convert", src, tmp_path / "c.raw", "-q", "-o", "encoding=evt2").exit_code == 0
    assert evio.info(tmp_path / "c.raw")["version"] == "EVT 2.0"
    evio.write(tmp_path / "d.raw", random_events(10))
    assert evio.info(tmp_path / "d.raw")["version"] == "EVT 2.0"


def test_a_folder_of_shards_is_a_convert_source(tmp_path):
    pytest.importorskip("pyarrow")
    from evio.datasets import I2EShards, write_i2e_shards

    rng = np.random.default_rng(0)
    dense = rng.random((12, 8, 2, 5, 7)) < 0.1
    labels = rng.integers(0, 3, 12)
    hub = tmp_path / "hub"
    write_i2e_shards(dense, labels, hub, "I2E-T", split="train", rows_per_shard=5)
    result = _invoke("convert", hub, tmp_path / "s.zarr", "-q")
    assert result.exit_code == 0, result.output
    with evio.open(tmp_path / "s.zarr") as r:
        got = list(r.samples())
    np.testing.assert_array_equal(np.concatenate([d for d, _, _ in got]), dense)
    np.testing.assert_array_equal(np.concatenate([lab for _, lab, _ in got]), labels)
    data = json.loads(_invoke("info", hub, "--json").output)
    assert data["format"] == "i2e-shards" and data["sample_count"] == 12 and data["split"] == "train"

    write_i2e_shards(dense[:4], labels[:4], hub, "I2E-T", split="test")
    assert evio.info(hub)["meta"]["splits"] == ["test", "train"]
    line = _one_line(_invoke("convert", hub, tmp_path / "t.zarr"))
    assert "holds the splits ['test', 'train']" in line and "-o split=NAME" in line
    assert _invoke("convert", hub, tmp_path / "t.zarr", "-o", "split=test", "-q").exit_code == 0
    assert evio.info(tmp_path / "t.zarr")["sample_count"] == 4
    assert _invoke("convert", tmp_path / "t.zarr", tmp_path / "again", "--to", "i2e-shards", "-q").exit_code == 0
    assert len(I2EShards(tmp_path / "again", split="test")) == 4


def test_info_describes_a_prepared_frame_store(tmp_path):
    root = tmp_path / "cifar"
    for cls in ("airplane", "cat"):
        ev = random_events(300, sensor=(128, 128), seed=len(cls))
        (root / cls).mkdir(parents=True)
        evio.write(root / cls / f"cifar10_{cls}_0.aedat", ev, format="aedat2", chip="dvs128")
    out = tmp_path / "frames.zarr"
    result = _invoke("dataset", "prepare", "cifar10dvs", root, out, "--frames", "3", "--workers", "1", "-q")
    assert result.exit_code == 0, result.output
    result = _invoke("info", out)
    assert result.exit_code == 0, result.output
    for text in ("zarr-frames", "CIFAR10DVS", "samples       2", "T=3, C=2, H=128, W=128 (float32)",
                 "complete      yes", "PreparedFrames"):
        assert text in result.output, result.output
    data = evio.info(out)
    assert data["kind"] == "frames" and data["sample_count"] == 2 and data["frame_options"]["T"] == 3


def test_i2e_takes_a_plain_folder_of_images(tmp_path):
    pytest.importorskip("PIL")
    result = _invoke("i2e", FIXTURES / "images", tmp_path / "s.zarr", "--sensor-size", "16", "16", "--workers", "1", "-q")
    assert result.exit_code == 0, result.output
    with evio.open(tmp_path / "s.zarr") as r:
        assert r.count == 5 and r.shape == (8, 2, 16, 16)
        assert all((labels == 0).all() for _, labels, _ in r.samples())


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        lines += [ln for ln in block.splitlines() if ln.split() and ln.split()[0] in ("evio", "mkdir")]
    return lines


def test_every_readme_command_runs_on_the_repository(tmp_path, monkeypatch):
    pytest.importorskip("PIL")
    pytest.importorskip("pyarrow")
    monkeypatch.chdir(ROOT)
    commands = _readme_commands()
    assert any(c.startswith("evio i2e ") for c in commands) and len(commands) >= 8
    for command in commands:
        args = [a.replace("/tmp/evio-tour", str(tmp_path)) for a in shlex.split(command, comments=True)]
        if args[0] == "mkdir":
            Path(args[-1]).mkdir(parents=True, exist_ok=True)
            continue
        result = _invoke(*args[1:])
        assert result.exit_code == 0, (command, result.output)


def test_no_test_prints_past_pytest_capture():
    """A test that prints into the middle of `make test` (a throughput table) is noise, not a check."""
    offenders = [p.name for p in sorted((ROOT / "tests").glob("test_*.py"))
                 if "capsys.disabled(" in p.read_text() and p.name != Path(__file__).name]
    assert offenders == []


@pytest.mark.parametrize("stage", ["import evio", "from evio.cli import main"])
def test_ctrl_c_while_the_command_starts_is_one_line(stage):
    """SIGINT while the ``evio`` command still loads its modules (the window before its group runs, about
    0.5 s): ``evio: interrupted``, status 130, no traceback. The interrupt is sent from inside, right after
    ``stage``, so the test does not depend on timing."""
    script = (f"import os, signal, sys, time; sys.argv = ['/usr/bin/evio', 'formats']; {stage}; "
              "os.kill(os.getpid(), signal.SIGINT); time.sleep(5); print('not interrupted')")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr, proc.stdout) == (130, "evio: interrupted\n", "")


def test_ctrl_c_in_a_python_program_that_imports_evio_is_untouched():
    script = ("import os, signal, sys, time; import evio; "
              "assert signal.getsignal(signal.SIGINT) is signal.default_int_handler; print('ok')")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "ok\n", proc.stderr


def test_teardown_warnings_after_the_command_are_not_printed():
    """An interrupt can leave a zarr coroutine unawaited; its warning at interpreter exit is not the user's."""
    script = ("import sys; sys.argv = ['evio', 'formats']\n"
              "from evio.cli import main\n"
              "async def left_unawaited():\n    pass\n"
              "pending = left_unawaited()\n"
              "main()\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == ""
