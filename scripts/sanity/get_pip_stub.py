"""Stand-in for ansible-test's downloaded get-pip script (its download host is not reachable here).

ansible-test runs it inside each fresh sanity virtual environment with pip options and packages.
ensurepip runs in a subprocess: run in-process it points PIP_CONFIG_FILE at /dev/null for what
follows, and pip would lose this machine's index and certificate settings.
"""

import subprocess
import sys

GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel"}

subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade"], check=True, stdout=subprocess.DEVNULL)
arguments = [argument for argument in sys.argv[1:] if argument not in GET_PIP_ONLY_OPTIONS]
subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *arguments], check=True)
