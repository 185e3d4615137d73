"""One module per step of the guides, each with a ``run()`` that
``etcd_cluster/deploys.py`` calls (installed: ``etcd_cluster.tasks``)."""
