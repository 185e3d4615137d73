"""The sha256 of etcd's release archives, shipped so that a default install needs no
checksum from the operator (systemd runtime).

``etcd-v<version>-linux-<arch>.tar.gz`` as etcd publishes it (the ``SHA256SUMS`` file of
each release on github.com/etcd-io/etcd/releases), for every release from kubeadm's
MinExternalEtcdVersion (3.5.24) on, amd64 and arm64. Copied from kubespray's table of
the same files (``roles/kubespray_defaults/vars/main/checksums.yml``,
``etcd_binary_checksums``, commit 46dbdd3994b3 of 2026-08-21), which its hash updater
reads from those ``SHA256SUMS`` files. To add a release: its two lines from
``SHA256SUMS``; ``etcd_archive_sha256`` adds or overrides entries per site.

``DEFAULT_VERSION`` is what an unset ``etcd_version`` installs: the newest 3.5 release.
Clusters that ran the distribution's etcd 3.4 (Debian 12, Ubuntu 24.04) reach it in one
minor step (etcd upgrades one minor at a time); it is >= 3.5.26, which etcd requires
before any 3.6 (etcd.io/blog/2025/zombie_members_upgrade), so 3.6 stays one safe step
away (``etcd_version='3.6.14'``, shipped here too).
"""

from __future__ import annotations

DEFAULT_VERSION = "3.5.33"
DISTRO = "distro"  # etcd_version: the distribution's package (etcd_package), as before
ARCHES = ("amd64", "arm64")

# version -> arch -> sha256 of etcd-v<version>-linux-<arch>.tar.gz, oldest first
SHA256: dict[str, dict[str, str]] = {
    "3.5.24": {
        "amd64": "042497e2ddcee06f22e5d486d81f58affa26b53ee423e2a6aaca3d3ea98c8191",
        "arm64": "efc01f6b3fbef0f000cb53bcad4845c116d7fdd8769ca39d9c40d2fe4d2e509f",
    },
    "3.5.25": {
        "amd64": "168af82b59772e1811a9af7b358d42f5c6df44e0d9767afb006ecf12c4bbd607",
        "arm64": "419dce0b679df31cc45201ef2449b7a6a48e9d241af01741957c9ac86a35badc",
    },
    "3.5.26": {
        "amd64": "0a682a91201dc8351d507210bc30b021a11e254eab806f03224b51e8fad29abb",
        "arm64": "93ac1667df0e178ea6d152476ce4088df4075604fe4bc7f85f4719e863cd030b",
    },
    "3.5.27": {
        "amd64": "0aad9a9e4e0817a021e933f9806a2b2960a62f949ad5a3d6436d8886945cb1bc",
        "arm64": "1277309f540c5a0329c428f95455c9f76d24f768c8d28fd2753e891c379053fa",
    },
    "3.5.28": {
        "amd64": "e11b6fab2ffbf0a1d6ee8f6227594045a19e0974ec779c42b8b5bb1942b2abe0",
        "arm64": "779a741604d2ff45240b277812f6c300bca71754adfd8de1436a3f2df3a18e67",
    },
    "3.5.29": {
        "amd64": "7692f812db0bfeee3a731c45046864cf729e552bad82ce7cb5b507053d033267",
        "arm64": "10817d916de91fdab373947977682e083f0a1ac7f37650c1b690c2a746e4c269",
    },
    "3.5.30": {
        "amd64": "a495115162845640be08c6cda069ff961260dbced53207c5a83b1b006ff2ea8e",
        "arm64": "4d19473d2567a58e1dbf556e0813b91d506666e58d23bfd5370660c67639eb5e",
    },
    "3.5.31": {
        "amd64": "e76b75c73b10196dfeb1c52fcdf9f4014e51f3082f65f28fb2e69a7bec1f916b",
        "arm64": "1fc441acb75486c076db0900470b18da61ee529a5d54df7c619dfc12dd13b984",
    },
    "3.5.32": {
        "amd64": "83532f9290ee89106c4c9d0467220f65623c1faadaab800d727f7beccce4d7dd",
        "arm64": "89f3ec49bc026c77ab5862c34f0623f09b48ec75e659082c92829669c6e36b3c",
    },
    "3.5.33": {
        "amd64": "5025b5b24d81a9616b6e284ccd439b9a3df055ef8fdcdc142af3ec8f6a3b3c95",
        "arm64": "0764c5c0acef155f4bfa0487791cc5776adef66315bf16ec0653883bfd463a90",
    },
    "3.6.0": {
        "amd64": "42305b0dcbba7b6fdff0382d0c7b99c42026c88c44847a619ab58cde216725d9",
        "arm64": "81477b120ef66ff338fe7de63d894e5feec17e6e1f1d98507676832e089d9b58",
    },
    "3.6.1": {
        "amd64": "1324664bfe56d178d1362a57462ca5a7b26a6d2cbe9e1c94b6820e32cb82d673",
        "arm64": "5f8ed6e314df44128c218decbf0d146cf882583d05c6f6d9023ce905d232aaec",
    },
    "3.6.2": {
        "amd64": "4b5d55d61e2218fab7c1cc1c00b341c469159ecde8cedd575fa858683f67e9f4",
        "arm64": "79d0a2488967aa07ecfde79158b1dab458158522f834810c2827eecac4695a31",
    },
    "3.6.3": {
        "amd64": "3f3b4aa9785d86322c50b296eebdc7a0a57b27065190154b5858bf6a7512ac10",
        "arm64": "4b39989093699da7502d1cdd649c412055a2bddd26b3d80ed87d0db31957075c",
    },
    "3.6.4": {
        "amd64": "4d5f3101daa534e45ccaf3eec8d21c19b7222db377bcfd5e5a9144155238c105",
        "arm64": "323421fa279f4f3d7da4c7f2dfa17d9e49529cb2b4cdf40899a7416bccdde42d",
    },
    "3.6.5": {
        "amd64": "66bad39ed920f6fc15fd74adcb8bfd38ba9a6412f8c7852d09eb11670e88cac3",
        "arm64": "7010161787077b07de29b15b76825ceacbbcedcb77fe2e6832f509be102cab6b",
    },
    "3.6.6": {
        "amd64": "887afaa4a99f22d802ccdfbe65730a5e79aa5c9ce2c8799c67e9d804c50ecedb",
        "arm64": "8a15f5427c111ff4692753682374970fb68878401d946c2c28bdad6857db652f",
    },
    "3.6.7": {
        "amd64": "cf8af880c5a01ee5363cefa14a3e0cb7e5308dcf4ed17a6973099c9a7aee5a9a",
        "arm64": "ef5fc443cf7cc5b82738f3c28363704896551900af90a6d622cae740b5644270",
    },
    "3.6.8": {
        "amd64": "cf9cfe91a4856cb90eed9c99e6aee4b708db2c7888b88a6f116281f04b0ea693",
        "arm64": "438f56a700d17ce761510a3e63e6fa5c1d587b2dd4d7a22c179c09a649366760",
    },
    "3.6.9": {
        "amd64": "633136f13fcadac52e5c0ddcb97912643af6fcb9cb362e75774d0f96f7666396",
        "arm64": "b51e433724325b66770019c4819d091b8965d2e81c07571a46e0619da1c8ece6",
    },
    "3.6.10": {
        "amd64": "ed579fafab5701e3aaa95509969e7bc74776a4ae5269d32e3928408b406456ec",
        "arm64": "e40dc34b7a512b99c651f7700c1014e9b76e02415e2e24365b248966b173524c",
    },
    "3.6.11": {
        "amd64": "8756f7a4eaf921668a83de0bf13c0f65cae9186a165696e3ae8396afe6f557ed",
        "arm64": "5302f1a6157c34eb0568c75fba9d06da98353576df04399f08645bef634acd2d",
    },
    "3.6.12": {
        "amd64": "d2564bb50b58e52fbaf3bde4a9561a1d04e20cdc761f795580e4d615d5d41355",
        "arm64": "147afc710e164fa342ad8561bcca8903f3913bd9fb9ae0c83c857b1d868189cc",
    },
    "3.6.13": {
        "amd64": "b4928654aed84d90952620c7144555e4186d795e1e7414e65fe0cf6265fd0465",
        "arm64": "5ab53ff70301fa9d782fa4b59fdfc1fae49ffdf427a0afb3cd313a93449800fc",
    },
    "3.6.14": {
        "amd64": "ffe840ff9295808e88cce2794a18a5ac87f12a5203c8314d0bf6aa119b41bac5",
        "arm64": "fa1b80565ee6fc2df1ae6f57a508b221f3ecc7d591c317c581cd8281b0842b3e",
    },
}
