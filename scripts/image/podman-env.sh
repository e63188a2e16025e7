# Sourced by the image scripts: podman with its configuration and storage in the cache directory and its run state in
# /run/vcp-image, never in /etc/containers, /var/lib/containers or /run/containers. test/image/harness/podman.ts sets the same environment for the tests.
#   export VCP_IMAGE_CACHE CONTAINERS_CONF CONTAINERS_STORAGE_CONF CONTAINERS_REGISTRIES_CONF
VCP_IMAGE_CACHE=${VCP_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-csi-provider-ts/image}
VCP_IMAGE_STORAGE_DRIVER=${VCP_IMAGE_STORAGE_DRIVER:-overlay}
# Run state (what is stale after a reboot) in /run, and short: podman's cleanup process refuses a --runroot longer
# than 50 characters, and a container then takes 20 s more to be seen exited.
VCP_IMAGE_RUN=${VCP_IMAGE_RUN:-/run/vcp-image}
export VCP_IMAGE_CACHE
export CONTAINERS_CONF=$VCP_IMAGE_CACHE/containers.conf
export CONTAINERS_STORAGE_CONF=$VCP_IMAGE_CACHE/storage.conf
export CONTAINERS_REGISTRIES_CONF=$VCP_IMAGE_CACHE/registries.conf

write_podman_config() {
  local c=$VCP_IMAGE_CACHE r=$VCP_IMAGE_RUN
  mkdir -p "$c/networks" "$r"
  # runc with cgroupfs: crun fails on this machine's cgroups, and on the default rlimits (hence no default ulimits).
  cat >"$c/containers.conf.new" <<EOF
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$r/events.log"
runtime = "runc"
tmp_dir = "$r/libpod"
volume_path = "$c/storage-$VCP_IMAGE_STORAGE_DRIVER/volumes"

[engine.runtimes]
runc = ["/usr/sbin/runc"]

[network]
network_config_dir = "$c/networks"
EOF
  # One graph root per driver: podman refuses a graph root made by another driver.
  cat >"$c/storage.conf.new" <<EOF
[storage]
driver = "$VCP_IMAGE_STORAGE_DRIVER"
graphroot = "$c/storage-$VCP_IMAGE_STORAGE_DRIVER"
runroot = "$r/storage-$VCP_IMAGE_STORAGE_DRIVER"
EOF
  # No registry is searched: every image is local (localhost/...), nothing is pulled.
  cat >"$c/registries.conf.new" <<EOF
unqualified-search-registries = []
short-name-mode = "enforcing"
EOF
  local f
  for f in containers.conf storage.conf registries.conf; do mv "$c/$f.new" "$c/$f"; done
}
