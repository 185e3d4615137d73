"""The files, directories and systemd units the member steps manage, declared once.

The survey asks each member about exactly these (``paths_and_units``); the tasks put
them in place through ``converge``, which calls pyinfra's operation only for an item
the survey found out of place (``drifted``). So a converged member costs no operation
and no round trip, and the run knows before any operation runs whether it changes
anything at all (``engine/quiet.py``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from etcd_cluster.backup import schedule as backup
from etcd_cluster.certs.certlist import ETCD_CA
from etcd_cluster.engine.host_state import HostState
from etcd_cluster.engine.preflight import Survey, packages_to_install
from etcd_cluster.engine.remote import Wanted
from etcd_cluster.engine.templates import render
from etcd_cluster.etcd import dropins, release
from etcd_cluster.etcd import kubeadm_config as kc
from etcd_cluster.etcd.cluster import Cluster, Member
from etcd_cluster.etcd.runtime import SYSTEMD_UNIT
from etcd_cluster.settings import Settings

ETCD_SERVICE = f"{SYSTEMD_UNIT}.service"
KUBELET_SERVICE = "kubelet.service"


@dataclass(frozen=True)
class Directory:
    path: str
    mode: str
    user: str = "root"
    group: str = "root"

    @property
    def target(self) -> str:
        return self.path

    def in_place(self, state: HostState) -> bool:
        return state.directory_matches(self.path, self.mode, self.user, self.group)

    def directives(self) -> list[str]:
        """``apply_state.sh``'s arguments that put this directory in place."""
        return ["dir", self.mode, self.user, self.group, self.path]


@dataclass(frozen=True)
class TemplateFile:
    """A file rendered from ``template`` (relative to the repository) with ``context()``."""

    dest: str
    template: str
    mode: str
    context: Callable[[], dict[str, Any]] = field(compare=False, repr=False)
    user: str = "root"
    group: str = "root"
    secret: ClassVar[bool] = False  # content never shown (``OperatorFile``)

    @property
    def target(self) -> str:
        return self.dest

    def content(self) -> bytes:
        """Rendered once: the drift check, the quiet-run decision and the write all ask."""
        return self._rendered

    @cached_property
    def _rendered(self) -> bytes:
        return render(self.template, **self.context()).encode()

    def in_place(self, state: HostState) -> bool:
        return state.file_matches(self.dest, self.content(), self.mode, self.user, self.group)


@dataclass(frozen=True)
class OperatorFile(TemplateFile):
    """A file the operator keeps on the controller (``template``: its path), copied as it is.
    A secret (an rclone configuration): never shown, not even with ``--diff``."""

    secret: ClassVar[bool] = True

    @cached_property
    def _rendered(self) -> bytes:
        return Path(self.template).read_bytes()


@dataclass(frozen=True)
class Absent:
    path: str

    @property
    def target(self) -> str:
        return self.path

    def in_place(self, state: HostState) -> bool:
        return state.absent(self.path)


@dataclass(frozen=True)
class Service:
    unit: str  # full unit name, e.g. etcd.service
    running: bool = True
    enabled: bool = True
    # apply_state.sh directives run just before the unit is started (not restarted):
    # a new cluster's members start in turn (etcd/first_start.py)
    before_start: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        return self.unit

    def in_place(self, state: HostState) -> bool:
        return state.unit_matches(self.unit, self.running, self.enabled)


@dataclass(frozen=True)
class Overrides:
    """What may change what ``units`` run besides their unit files (``etcd/dropins.py``): drop-ins
    that change more than limits are moved aside; with ``manager_env``, the watched
    variables of systemd's manager environment are unset (the first step to run does it)."""

    units: tuple[str, ...]
    manager_env: bool = False

    @property
    def target(self) -> str:
        env = " and systemd's manager environment" if self.manager_env else ""
        return f"drop-ins of {', '.join(self.units)}{env}"

    def asked(self) -> list[str]:
        """The ``host_state.sh`` arguments that read them."""
        dirs = dict.fromkeys(d for unit in self.units for d in dropins.dropin_dirs(unit))
        return [f"dropins:{d}" for d in dirs] + (["manager-env"] if self.manager_env else [])

    def verdicts(self, state: HostState) -> list[dropins.DropInVerdict]:
        return dropins.judge(state.dropins, self.units)

    def to_move(self, state: HostState) -> list[str]:
        return dropins.to_move_aside(self.verdicts(state))

    def to_unset(self, state: HostState) -> list[str]:
        return dropins.watched_env(state.manager_env) if self.manager_env else []

    def in_place(self, state: HostState) -> bool:
        known = all(state.knows(arg) for arg in self.asked())
        return known and not self.to_move(state) and not self.to_unset(state)


Item = Directory | TemplateFile | Absent | Service | Overrides


@dataclass(frozen=True)
class MemberItems:
    """One member's managed items, by the step that manages them."""

    kubelet_files: tuple[TemplateFile, ...]  # step 1, static-pod only
    kubelet_service: Service | None
    kubeadm_config: TemplateFile  # step 2
    pki_dirs: tuple[Directory, ...]  # steps 3-5
    private_dirs: tuple[Directory, ...]  # step 7: the data dir (and the manifests dir)
    etcd_unit: TemplateFile | None  # step 7, systemd only
    etcd_service: Service | None
    backup_dir: Directory  # scheduled snapshots
    backup_files: tuple[TemplateFile, ...]  # the script, then its service and timer units
    backup_timer: Service
    backup_remote_files: tuple[Item, ...] = ()  # the rclone config (or its removal)
    etcd_overrides: Overrides | None = None  # systemd only
    backup_overrides: Overrides | None = None

    def snapshot_items(self) -> list[Item | None]:
        """Scheduled snapshots' items, in the order they go in place (put beside etcd's
        own, under one systemd reload)."""
        return [
            self.backup_dir,
            *self.backup_remote_files,
            *self.backup_files,
            self.backup_overrides,
            self.backup_timer,
        ]

    def all(self) -> list[Item]:
        singles = [
            self.kubelet_service,
            self.kubeadm_config,
            self.etcd_unit,
            self.etcd_service,
            self.backup_dir,
            self.backup_timer,
            self.etcd_overrides,
            self.backup_overrides,
        ]
        return [
            *self.kubelet_files,
            *self.pki_dirs,
            *self.private_dirs,
            *self.backup_remote_files,
            *self.backup_files,
            *(item for item in singles if item is not None),
        ]


def etcd_release(settings: Settings, survey: Survey) -> tuple[str, str]:
    """The etcd binary the systemd unit runs and its version: the chosen release's, else
    the binary the survey found."""
    if settings.etcd_version:
        return release.etcd_binary(settings), settings.etcd_version
    return settings.etcd_binary, survey.etcd_version


def member_items(cluster: Cluster, member: Member, survey: Survey) -> MemberItems:
    """What ``member`` should have; contexts are built only when content is asked for."""
    s = cluster.settings
    static_pod = s.runtime == "static-pod"
    private = [Directory(s.data_dir, "700")]
    kubelet_files: tuple[TemplateFile, ...] = ()
    if static_pod:
        private.append(Directory(s.manifests_dir, "700"))

        def kubelet() -> dict[str, Any]:
            return kc.kubelet_contexts(cluster, survey.kubelet_path)

        kubelet_files = (
            TemplateFile(kc.KUBELET_CONFIG_PATH, kc.KUBELET_CONFIG_TEMPLATE, "644", kubelet),
            TemplateFile(kc.KUBELET_DROPIN_PATH, kc.KUBELET_DROPIN_TEMPLATE, "644", kubelet),
        )

    def etcd_unit() -> dict[str, Any]:
        binary, version = etcd_release(s, survey)
        return kc.etcd_unit_context(cluster, member, version, binary)

    def backup_units() -> dict[str, Any]:
        return backup.unit_context(cluster, member)

    return MemberItems(
        kubelet_files=kubelet_files,
        kubelet_service=Service(KUBELET_SERVICE) if static_pod else None,
        kubeadm_config=TemplateFile(
            s.kubeadm_config_path,
            kc.KUBEADM_CONFIG_TEMPLATE,
            "644",
            lambda: kc.kubeadm_config_context(cluster, member, survey.kubeadm_version),
        ),
        pki_dirs=(Directory(s.pki_dir, "755"), Directory(posixpath.join(s.pki_dir, "etcd"), "755")),
        private_dirs=tuple(private),
        etcd_unit=None
        if static_pod
        else TemplateFile(kc.ETCD_UNIT_PATH, kc.ETCD_UNIT_TEMPLATE, "644", etcd_unit),
        etcd_service=None if static_pod else Service(ETCD_SERVICE),
        backup_dir=Directory(s.backup_dir, "700"),
        backup_files=(
            TemplateFile(
                backup.SCRIPT_PATH,
                backup.SCRIPT_TEMPLATE,
                "755",
                lambda: backup.script_context(cluster, member),
            ),
            TemplateFile(backup.SERVICE_PATH, backup.SERVICE_TEMPLATE, "644", backup_units),
            TemplateFile(backup.TIMER_PATH, backup.TIMER_TEMPLATE, "644", backup_units),
        ),
        backup_timer=Service(backup.TIMER),
        backup_remote_files=remote_files(s),
        etcd_overrides=None if static_pod else Overrides((ETCD_SERVICE,), manager_env=True),
        backup_overrides=Overrides((backup.SERVICE, backup.TIMER), manager_env=static_pod),
    )


def remote_files(settings: Settings) -> tuple[Item, ...]:
    """The operator's rclone configuration, mode 600 in a root-only directory, while
    ``etcd_backup_remote`` is set; removed when it no longer is."""
    if not settings.backup_remote:
        return (Absent(backup.RCLONE_CONFIG),)
    return (
        Directory(backup.RCLONE_CONFIG_DIR, "700"),
        OperatorFile(backup.RCLONE_CONFIG, settings.backup_rclone_config, "600", dict),
    )


def override_warnings(host: str, items: MemberItems, state: HostState) -> list[str]:
    """The drop-ins that stay (limits and the like), each named once."""
    found = [
        v
        for o in (items.etcd_overrides, items.backup_overrides)
        if o is not None
        for v in o.verdicts(state)
    ]
    unique = {v.path: v for v in found}  # service.d applies to both units: say it once
    return dropins.kept_warnings(host, unique.values())


def survey_holds(settings: Settings, survey: Survey) -> bool:
    """Whether no step before the managed items changes things under the survey: no
    package to install (its scripts may make directories), no etcd release to unpack,
    no etcd binary to install again."""
    packages = packages_to_install(settings, survey.present)
    packages += backup.backup_packages(settings, survey.present)
    reinstall = release_to_install(settings, survey) or bool(survey.binary_problems)
    return not packages and not reinstall


def release_to_install(settings: Settings, survey: Survey) -> bool:
    """Whether the chosen etcd release must be installed: it is not there yet, or it is no
    longer what its verified archive held (``release_check``)."""
    return (
        settings.runtime == "systemd"
        and bool(settings.etcd_version)
        and (settings.etcd_version not in survey.releases or bool(survey.binary_problems))
    )


def paths_and_units(cluster: Cluster) -> tuple[list[str], list[str]]:
    """What the survey asks each member about: every managed path and unit (the same for
    every member but the first, which is asked about ca.key too, as the others are)."""
    s = cluster.settings
    items = member_items(cluster, cluster.members[-1], Survey()).all()
    paths = [i.target for i in items if not isinstance(i, Service | Overrides)]
    if ETCD_CA.key_path(s.pki_dir) not in paths:
        paths.append(ETCD_CA.key_path(s.pki_dir))
    units = [i.target for i in items if isinstance(i, Service)]
    return paths, units


def overrides_asked(items: Sequence[Item]) -> list[str]:
    """The ``host_state.sh`` arguments that read the drop-ins and manager environment of
    the ``Overrides`` among ``items``."""
    return [arg for i in items if isinstance(i, Overrides) for arg in i.asked()]


def survey_overrides(cluster: Cluster) -> list[str]:
    """``overrides_asked`` for every member (the same for all)."""
    return overrides_asked(member_items(cluster, cluster.members[-1], Survey()).all())


def drifted(items: list[Item], state: HostState) -> list[Item]:
    """The items the survey found out of place (or did not ask about)."""
    return [i for i in items if not i.in_place(state)]


SYSTEMD_DIR = "/etc/systemd/system/"


@dataclass(frozen=True)
class Changes:
    """What putting some items in place takes on one host: files to write (through
    ``install_files.sh``) and ``apply_state.sh`` directives, in order."""

    files: dict[str, Wanted] = field(default_factory=dict)
    directives: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.files or self.directives)


def changes(
    items: Sequence[Item | None],
    state: HostState,
    reload: bool = False,
    restart_when_written: Collection[str] = (),
) -> Changes:
    """The changes that put ``items`` in place on a host in ``state``.

    A unit file written, a unit enabled or disabled (or ``reload``) reloads systemd once,
    before any unit starts, unless it already holds every unit as its file is
    (``_reload``): ``apply_state.sh`` enables and disables without the reload ``systemctl``
    does for each (about 0.15 s apiece in a container). A unit in
    ``restart_when_written`` restarts when any file was written (kubelet reads its config
    only at start).
    """
    present = [item for item in items if item is not None]  # None: no such item here
    out_of_place = drifted(present, state)
    files = {
        # content right: a mode or owner change only (chmod/chown, no rewrite)
        i.dest: Wanted(
            None if state.content_matches(i.dest, i.content()) else i.content(),
            i.mode,
            i.user,
            i.group,
        )
        for i in out_of_place
        if isinstance(i, TemplateFile)
    }
    paths: list[str] = []
    for item in out_of_place:
        if isinstance(item, Directory):
            paths += item.directives()
        elif isinstance(item, Absent):
            paths += ["absent", item.path]
        elif isinstance(item, Overrides):
            moved = item.to_move(state)
            paths += [arg for path in moved for arg in ("move-aside", path)]
            paths += [arg for name in item.to_unset(state) for arg in ("unset-env", name)]
            reload = reload or bool(moved)
    enabling: list[str] = []  # without a reload each: one follows them all
    running: list[str] = []
    for item in present:
        if isinstance(item, Service):
            written = any(want.content is not None for want in files.values())
            restart = written and item.unit in restart_when_written
            enable, run = _unit_directives(item, state, restart)
            enabling += enable
            running += run
    wrote = [p for p, w in files.items() if p.startswith(SYSTEMD_DIR) and w.content is not None]
    reloads = _reload(present, wrote, bool(enabling), reload)
    return Changes(files, tuple(paths + enabling + reloads + running))


def _reload(
    present: Sequence[Item], wrote: Sequence[str], enabling: bool, forced: bool
) -> list[str]:
    """Reload systemd once if a unit file was written or a unit enabled or disabled, but
    only if it holds one of the deploy's units otherwise than as its file now is
    (``daemon-reload-for``); whatever it holds when told to (``forced``: it held an older
    copy, a drop-in was moved aside) or when a file it reads was written that is no unit
    file of the deploy's (a drop-in)."""
    if not (forced or wrote or enabling):
        return []
    # the deploy's unit files: directly in systemd's directory (a drop-in is below it)
    units = {
        i.dest: i.dest.removeprefix(SYSTEMD_DIR)
        for i in present
        if isinstance(i, TemplateFile) and i.dest.rpartition("/")[0] + "/" == SYSTEMD_DIR
    }
    if forced or not units or any(path not in units for path in wrote):
        return ["daemon-reload"]
    return ["daemon-reload-for", ",".join(f"{unit}={path}" for path, unit in units.items())]


def _unit_directives(
    service: Service, state: HostState, restart: bool
) -> tuple[list[str], list[str]]:
    """(enable or disable, start, restart or stop) directives for one unit."""
    found = state.units.get(service.unit)
    running = found is not None and found.running
    enabled = found is not None and found.enabled
    enable = []
    if service.enabled != enabled:
        enable = ["systemctl", "enable" if service.enabled else "disable", service.unit]
    if service.running and restart:
        return enable, ["systemctl", "restart", service.unit]
    if service.running and not running:
        return enable, [*service.before_start, "systemctl", "start", service.unit]
    if not service.running and running:
        return enable, ["systemctl", "stop", service.unit]
    return enable, []
