"""Pure logic for the external etcd cluster deploy, plus thin pyinfra glue.

Modules without pyinfra operations (``certlist``, ``pki``, ``settings``, ``cluster``,
``flags``, ``kubeadm_config``, ``status``, ``scripts``) are unit-tested without hosts.
``remote``, ``facts``, ``operations`` and ``plan`` talk to hosts through pyinfra.
"""
