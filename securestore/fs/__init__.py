"""securestore as an fsspec filesystem: ``securestore://bucket/key``.

Installed with the ``fsspec`` extra, the filesystem is registered under the
protocol ``securestore`` through the ``fsspec.specs`` entry point, so
``fsspec.filesystem("securestore", ...)``, pandas' ``storage_options`` and
pyarrow find it. Without installing (a source checkout), register it by hand::

    import fsspec
    fsspec.register_implementation("securestore", "securestore.fs.SecureStoreFileSystem")
"""

from securestore.fs.filesystem import PROTOCOL, ObjectFileNotFoundError, SecureStoreFileSystem

__all__ = ["PROTOCOL", "ObjectFileNotFoundError", "SecureStoreFileSystem"]
