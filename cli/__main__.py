"""``python -m securestore_cli``."""

from .entry import main

main()
