# Sourced by the boot-*.sh scripts (bash): the options they share and the guest they boot.
#   boot_options DEFAULT_MEM "$@"   sets kernel (default reapkill), mem and args (what follows the options)
#   boot_guest                      sets image and modules (scripts/vm/kernel-image.sh), work (a
#                                   folder removed at exit) and dir (the guest's /work, built by build-guest.sh)
boot_options() {
  kernel=reapkill mem=$1
  shift
  while [ $# -gt 0 ]; do
    case $1 in
      --kernel) kernel=$2; shift 2;;
      --mem) mem=$2; shift 2;;
      -*) echo "$(basename "$0"): unknown option $1" >&2; exit 2;;
      *) break;;
    esac
  done
  args=("$@")
}

boot_guest() {
  local k
  k=$("$repo/scripts/vm/kernel-image.sh" "$kernel")
  image=$(sed -n 1p <<< "$k") modules=$(sed -n 2p <<< "$k")
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  dir="$work/guest"
  "$repo/scripts/vm/build-guest.sh" "$dir" "$modules" > /dev/null
}
