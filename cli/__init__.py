"""The ``securestore`` command-line interface (installed as ``securestore_cli``).

A thin layer over the :mod:`securestore` library: it parses arguments, shows
progress and maps library errors to one ``error:`` line and an exit code.
"""
