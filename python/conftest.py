"""pytest root for python/: its presence puts this directory on sys.path, so
``import pyactor`` resolves to this package whatever the working directory."""
