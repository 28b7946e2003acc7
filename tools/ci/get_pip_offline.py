"""Stand-in for the pip bootstrap script ansible-test downloads for its sanity venvs.

ansible-test fetches get-pip.py from a CI file host that machines with only PyPI access cannot
reach. This script does the same job from what the machine does have: the standard library's
ensurepip puts a pip into the empty venv, then that pip installs the exact versions ansible-test
asks for from PyPI. tools/ci/sanity.sh places it in ansible-test's cache under the expected name.
"""

import subprocess
import sys

GET_PIP_ONLY_FLAGS = {"--no-setuptools", "--no-wheel"}


def main():
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_FLAGS]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check"] + args)


if __name__ == "__main__":
    main()
