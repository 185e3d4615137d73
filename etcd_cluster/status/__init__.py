"""status.py: a read-only report of the cluster, as a table and as JSON."""
