#!/bin/sh
# Entrypoint of the executor container (compose.yaml): gives the sandbox a cgroup subtree of its
# own to manage, without a privileged container. Docker mounts the container's cgroups (its own
# root, in a private cgroup namespace) read-only; with CAP_SYS_ADMIN we remount them writable. On
# cgroup v2 a cgroup that holds processes cannot hand controllers to its children, so this
# process moves into a leaf first (as Docker's own dind entrypoint does); the sandbox then
# enables memory, pids and cpu below the root and makes its per-run cgroups there.
set -eu
awk '$5 ~ "^/sys/fs/cgroup" && $6 ~ /(^|,)ro(,|$)/ { print $5 }' /proc/self/mountinfo |
    while read -r point; do mount -o remount,rw "$point"; done
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    mkdir -p /sys/fs/cgroup/executor
    echo $$ > /sys/fs/cgroup/executor/cgroup.procs
fi
exec "$@"
