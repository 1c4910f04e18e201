"""``python -m securestore_cli``."""

from .main import main

main()
