"""deploy/: the systemd units the README installs pass `systemd-analyze verify`."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import PROJECT_ROOT

UNITS = ("smsdesk-web.service", "smsdesk-worker@.service")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("unit", UNITS)
def test_the_systemd_unit_verifies(tmp_path, unit):
    # the paths of this checkout in place of /opt/smsdesk: verify checks that the programs exist
    venv = Path(sys.executable).parent.parent
    text = (PROJECT_ROOT / "deploy" / unit).read_text()
    text = text.replace("/opt/smsdesk/.venv", str(venv)).replace("/opt/smsdesk", str(PROJECT_ROOT))
    (tmp_path / unit).write_text(text)
    name = unit.replace("@.", "@1.")
    if name != unit:
        (tmp_path / name).symlink_to(tmp_path / unit)
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / name)],
                            capture_output=True, text=True, timeout=60)
    # a setting it cannot parse is only a warning line ("ignoring"): any output is a problem
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr
