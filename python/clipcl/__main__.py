"""python -m clipcl ARGS...: the `clipcl` command of the build this package
was built against (recorded in _build_config), else the first `clipcl` on
PATH. The process is replaced by it, so its output, exit status and signals
are the command's own."""
import os
import shutil
import sys

from . import _build_config


def command():
    exe = _build_config.CLIPCL_EXE
    if os.access(exe, os.X_OK):
        return exe
    return shutil.which("clipcl")


def main(argv=None):
    args = sys.argv[1:] if argv is None else list(argv)
    exe = command()
    if not exe:
        sys.stderr.write("clipcl: the clipcl command is neither at %s (where the package was "
                         "built against) nor on PATH\n" % _build_config.CLIPCL_EXE)
        return 127
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(exe, [exe] + args)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
