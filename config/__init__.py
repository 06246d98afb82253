"""Configuration: environment-driven settings, dataset contracts and the facility registry.

Everything here is cheap to import (stdlib + PyYAML only) because DAG files import it at
parse time. Nothing here opens a database connection or a network socket.
"""
