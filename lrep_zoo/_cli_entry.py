"""Start-up of the `lrep-zoo` command: no TensorFlow, absl or CUDA start-up log lines.

`import lrep_zoo` imports keras, TensorFlow Datasets and so TensorFlow, whose C++
libraries log at load time through absl before absl's logging is initialised:
the oneDNN notice (`port.cc`), the CUDA stub / `cuInit` probe (`cudart_stub.cc`,
`cuda_platform.cc`), the CPU feature notice, each twice (two libraries carry
their own absl) and behind `WARNING: All log messages before absl::InitializeLog()
is called are written to STDERR`. No environment variable filters those lines
(TF 2.21: `TF_CPP_MIN_LOG_LEVEL` only acts once TensorFlow's own logging runs).

So, in a process that is the `lrep-zoo` command (the console script, or
`python -m lrep_zoo.cli`), `begin()` sets the usual variables (`os.environ.setdefault`:
the user's own settings win) and points file descriptor 2 at a temporary file
while `lrep_zoo` is imported; `end()` points it back and writes what was captured,
less those log lines, each line once. Python warnings and tracebacks of that
window are kept. Later TensorFlow log lines obey `TF_CPP_MIN_LOG_LEVEL=2`, and the
CUDA probe runs inside the window (`tf.config.list_physical_devices()`, which only
lists devices: GPUs stay usable). `--debug` (anywhere on the command line) keeps
every line and leaves the environment alone.

`begin()` has to run before `lrep_zoo/__init__.py` imports keras, that is from the
first lines of that file: a console-script target inside the package is imported
only after its package. Without that call the command still works, only the
start-up lines are printed.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

# Set before TensorFlow / gRPC start; only where the user has not set them.
QUIET_ENVIRONMENT = {
    "TF_CPP_MIN_LOG_LEVEL": "2",  # TensorFlow's C++ INFO and WARNING lines
    "GRPC_VERBOSITY": "ERROR",  # gRPC's C core (TF's distributed runtime)
    "GLOG_minloglevel": "2",  # libraries that log through glog
}

# A C++ log line as glog / absl write them: `I0000 00:00:1796125249.411603  1587 port.cc:153] ...`
_LOG_LINE = re.compile(rb"^[IWE]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w./+-]+:\d+\] ")
_NOISE = (
    _LOG_LINE,
    re.compile(rb"^WARNING: All log messages before absl::InitializeLog\(\) is called"),
    # second line of cpu_feature_guard.cc's notice
    re.compile(rb"^To enable the following instructions: .* with the appropriate compiler flags"),
)

_state: dict = {}  # "capture", "saved" while capturing; "begun" once begin() ran


def _command_line() -> list[str]:
    return list(getattr(sys, "orig_argv", None) or sys.argv)


def is_cli_process() -> bool:
    """True when this process runs the `lrep-zoo` console script or `python -m lrep_zoo.cli`."""
    name = os.path.basename(sys.argv[0]) if sys.argv else ""
    if name in ("lrep-zoo", "lrep-zoo.exe", "lrep-zoo-script.py"):
        return True
    argv = _command_line()
    for i, arg in enumerate(argv):
        if arg == "-m" and i + 1 < len(argv) and argv[i + 1] == "lrep_zoo.cli":
            return True
        if arg == "-mlrep_zoo.cli":
            return True
    return False


def debug_requested() -> bool:
    return "--debug" in _command_line()[1:]


def is_noise(line: bytes) -> bool:
    """True for a TensorFlow / absl / CUDA start-up log line (see the module docstring)."""
    return any(p.match(line) for p in _NOISE)


def quiet_environment() -> None:
    for key, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(key, value)


def begin() -> None:
    """Silences start-up logs if this process is the command (no-op otherwise, and
    with `--debug`). Call before keras / TensorFlow are imported."""
    if _state.get("begun") or not is_cli_process() or debug_requested():
        return
    _state["begun"] = True
    quiet_environment()
    try:
        sys.stderr.flush()
        capture = tempfile.TemporaryFile(prefix="lrep_zoo_startup_")
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
    except OSError:  # no usable fd 2 or temporary folder: stay as we are
        return
    _state.update(capture=capture, saved=saved)
    import atexit

    atexit.register(end)  # a failed import still gets its traceback back


def end() -> None:
    """Ends the capture of `begin()`: fd 2 back, the captured lines written but the
    start-up log lines, each line once. Idempotent; no-op without `begin()`."""
    capture = _state.pop("capture", None)
    if capture is None:
        return
    tensorflow = sys.modules.get("tensorflow")
    if tensorflow is not None:
        try:  # the CUDA probe logs once, at the first device query: let it happen here
            tensorflow.config.list_physical_devices()
        except Exception:  # noqa: BLE001 (a broken GPU set-up reports itself later)
            pass
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    saved = _state.pop("saved")
    os.dup2(saved, 2)
    os.close(saved)
    capture.seek(0)
    seen = set()
    kept = []
    for line in capture.read().splitlines(keepends=True):
        if is_noise(line) or line in seen:
            continue
        seen.add(line)
        kept.append(line)
    capture.close()
    if kept:
        os.write(2, b"".join(kept))


def main() -> int:
    """The `lrep-zoo` console script."""
    begin()  # in case `lrep_zoo/__init__.py` did not: silences what is left to import
    from lrep_zoo import cli

    return cli.main()
