while read -r k v u; do [ "$k" = VmHWM: ] && echo "sidus-bench: init pid 1 VmHWM=$v kB"; done </proc/1/status
