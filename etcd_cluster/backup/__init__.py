"""Snapshots: the scheduled backups, the snapshot gate before changes, and restore."""
