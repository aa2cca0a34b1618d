"""``python -m doe``: the ``doe`` command line."""

from doe.cli import main

main()
