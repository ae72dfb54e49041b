#!/usr/bin/env bash
# Builds Lmkd's two guest kernels from Debian's linux-source-6.1, once, into a cache outside the
# repository, and prints the path of the image asked for. kernel/README.md says what they are.
#
#   kernel/build.sh [reapkill|reapkill-file|all]     default: all (prints both paths)
#
#   reapkill       Debian's 6.1 with 0001 (PROCESS_MRELEASE_REAP_KILL), uname -r 6.1.N-reapkill
#   reapkill-file  the same tree with 0002 on top (REAP_KILL also evicts the victim's clean
#                  private file pages), built incrementally from the first, 6.1.N-reapkill-file
#
#   LMKD_VM_CACHE                 the cache (default /var/cache/lmkd-vm as root, else ~/.cache/lmkd-vm)
#   LMKD_KERNEL_SOURCE_VERSION    the linux-source-6.1 version to build (default: the pinned one below)
#   LMKD_KERNEL_JOBS              make -j (default: the number of CPUs)
#   LMKD_VM_KERNEL_ERROR          set by scripts/test when the build failed before the tests: fail at
#                                 once with it rather than build again
#
# The images are cached under a key made of the source version, the patches, guest.config, this
# script and the compiler's version: change any of them and the next run builds anew. A cached
# image is checked against its SHA256SUMS before every use, and rebuilt when it does not match.
# Concurrent runs wait on a lock; a run that finds the images cached touches no network.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# The version the patches were made against. When Debian stops serving it, the newest served
# 6.1 is tried, and a patch that does not apply to it stops the build with a message.
pinned=6.1.192-3
version=${LMKD_KERNEL_SOURCE_VERSION:-$pinned}
jobs=${LMKD_KERNEL_JOBS:-$(nproc)}
# A configured and built tree with both kernels' objects, measured: 2.2 GB; with margin.
need_mb=3072
patches=("$here/0001-process_mrelease-REAP_KILL-6.1-backport.patch" "$here/0002-process_mrelease-REAP_KILL-evict-clean-file-folios-6.1.patch")
names=(reapkill reapkill-file)

want=${1:-all}
case $want in reapkill|reapkill-file|all) ;; *) sed -n '5p' "$0" >&2; exit 2;; esac

say() { echo "kernel: $*" >&2; }
die() { echo "kernel: $*" >&2; exit 1; }

cache=$("$repo/scripts/vm/cache-dir.sh")/kernel-builds
mkdir -p "$cache/src"

key_of() { # key_of VERSION
  {
    echo "linux-source-6.1 $1"
    sha256sum "${patches[@]}" "$here/guest.config" "$here/build.sh" | cut -d' ' -f1
    gcc --version | head -1
  } | sha256sum | cut -c1-16
}

# The release a build of VERSION reports, e.g. 6.1.192 for 6.1.192-3.
release_of() { echo "${1%%-*}"; }

# Prints the cached image's path when the entry for KEY is complete and every image matches its checksum.
cached() { # cached KEY VERSION NAME
  local dir="$cache/$1" img
  img="$dir/bzImage-$(release_of "$2")-$3"
  [ -f "$dir/SHA256SUMS" ] && [ -f "$img" ] || return 1
  if ! (cd "$dir" && sha256sum --quiet -c SHA256SUMS >/dev/null 2>&1); then
    say "the cached kernels in $dir do not match their checksums (truncated or corrupt): rebuilding"
    rm -rf "$dir"
    return 1
  fi
  touch "$dir"   # most recently used: kept when old keys are evicted
  echo "$img"
}

print_wanted() { # print_wanted KEY VERSION
  local n
  for n in "${names[@]}"; do
    [ "$want" = all ] || [ "$want" = "$n" ] || continue
    cached "$1" "$2" "$n" || die "internal: $n missing from $cache/$1 after the build"
  done
}

key=$(key_of "$version")
if cached "$key" "$version" reapkill >/dev/null && cached "$key" "$version" reapkill-file >/dev/null; then
  say "$(release_of "$version")-reapkill and -reapkill-file from the cache ($cache/$key)"
  print_wanted "$key" "$version"
  exit 0
fi

# scripts/test tried once before the tests; a test does not try again for minutes.
[ -z "${LMKD_VM_KERNEL_ERROR:-}" ] || die "not built: $LMKD_VM_KERNEL_ERROR"

# One build at a time per cache: a second run waits, then finds the images the first one built.
exec 9>"$cache/.lock"
if ! flock -n 9; then
  say "another build holds $cache/.lock: waiting for it"
  flock 9
fi
if cached "$key" "$version" reapkill >/dev/null && cached "$key" "$version" reapkill-file >/dev/null; then
  say "built by the run we waited for"
  print_wanted "$key" "$version"
  exit 0
fi

for t in make gcc bc flex bison patch xz dpkg-deb perl; do
  command -v "$t" >/dev/null || die "$t is missing: as root, .ci/install-deps installs what the kernel build needs"
done
[ -e /usr/include/libelf.h ] || [ -e /usr/include/elfutils/libelf.h ] || die "libelf-dev is missing (objtool needs it): as root, .ci/install-deps installs it"
free_mb=$(df --output=avail -BM "$cache" | tail -1 | tr -dc 0-9)
[ "$free_mb" -ge "$need_mb" ] || die "building the guest kernels needs ${need_mb} MiB free in $cache, which has ${free_mb} MiB: free some space or point LMKD_VM_CACHE elsewhere"

started=$SECONDS
stage_no=0 stage_start=0
stage() { stage_no=$((stage_no + 1)); stage_start=$SECONDS; say "[$stage_no/6] $*"; }
done_stage() { say "      done in $((SECONDS - stage_start)) s"; }

# The source package, kept in the cache so that a rebuild needs no network.
deb="$cache/src/linux-source-6.1_${version}_all.deb"
stage "linux-source-6.1 $version"
if [ ! -s "$deb" ] || ! dpkg-deb --info "$deb" >/dev/null 2>&1; then
  rm -f "$deb"
  "$repo/scripts/vm/apt-lists.sh" linux-source-6.1 || die "cannot download linux-source-6.1"
  dl=$(mktemp -d "$cache/src/dl.XXXXXX")
  if ! (cd "$dl" && apt-get download -q "linux-source-6.1=$version" >/dev/null 2>"$dl/err"); then
    if [ -z "${LMKD_KERNEL_SOURCE_VERSION:-}" ]; then
      newest=$(apt-cache policy linux-source-6.1 2>/dev/null | sed -n 's/^ *Candidate: //p')
      [ -n "$newest" ] && [ "$newest" != "(none)" ] || { cat "$dl/err" >&2; rm -rf "$dl"; die "linux-source-6.1 $version cannot be downloaded and apt knows no other (apt-get update?)"; }
      say "linux-source-6.1 $version is no longer served: trying the newest, $newest"
      rm -rf "$dl"
      LMKD_KERNEL_SOURCE_VERSION=$newest exec "$0" "$@"
    fi
    cat "$dl/err" >&2; rm -rf "$dl"
    die "linux-source-6.1 $version cannot be downloaded"
  fi
  mv "$dl"/linux-source-6.1_*_all.deb "$deb"
  rm -rf "$dl"
fi
done_stage

tree="$cache/tree-$key"
log="$cache/build-$key.log"
rm -rf "$tree" "$cache"/tree-*
: > "$log"
fail() { die "$1 failed after $((SECONDS - started)) s; the build log is $log (last lines below)
$(tail -n 20 "$log")"; }

stage "unpacking the source ($(du -m "$deb" | cut -f1) MiB package)"
mkdir -p "$tree"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/src/linux-source-6.1.tar.xz | tar -xJ -C "$tree" --strip-components=1 \
  || fail "unpacking $deb"
done_stage

apply() { # apply PATCH
  if ! patch -d "$tree" -p1 --dry-run --batch --forward < "$1" >> "$log" 2>&1; then
    die "patch $(basename "$1") does not apply to linux-source-6.1 version $version (the patches are made for $pinned); see $log"
  fi
  patch -d "$tree" -p1 --batch --forward --quiet < "$1" >> "$log" 2>&1
}

# Reproducible metadata: the same inputs give the same uname -v.
export KBUILD_BUILD_USER=lmkd KBUILD_BUILD_HOST=guest-kernel KBUILD_BUILD_TIMESTAMP="linux-source-6.1 $version"
kmake() { make -C "$tree" ARCH=x86_64 -j"$jobs" "$@" >> "$log" 2>&1; }

stage "applying $(basename "${patches[0]}"), configuring from guest.config"
apply "${patches[0]}"
# The release is the version and the kernel's name, nothing from a version control system.
: > "$tree/.scmversion"
kmake KCONFIG_ALLCONFIG="$here/guest.config" allnoconfig || fail "make allnoconfig"
# Kconfig silently drops an option whose dependencies are not met: every line must hold.
while IFS= read -r line; do
  case $line in CONFIG_*=n) grep -q "^${line%%=*}=" "$tree/.config" && die "guest.config: ${line%%=*} is still set" ;;
                CONFIG_*) grep -qxF "$line" "$tree/.config" || die "guest.config: $line did not hold (a dependency missing?); .config has: $(grep "${line%%=*}[= ]" "$tree/.config" || echo nothing)";;
  esac
done < "$here/guest.config"
done_stage

out="$cache/$key.tmp"
rm -rf "$out"; mkdir -p "$out"
rel=$(release_of "$version")
build() { # build NAME
  "$tree/scripts/config" --file "$tree/.config" --set-str LOCALVERSION "-$1"
  kmake olddefconfig || fail "make olddefconfig ($1)"
  kmake bzImage || fail "building $1"
  local got
  got=$(make -s -C "$tree" ARCH=x86_64 kernelrelease 2>>"$log")
  [ "$got" = "$rel-$1" ] || die "built $got where $rel-$1 was expected; see $log"
  cp "$tree/arch/x86/boot/bzImage" "$out/bzImage-$rel-$1"
  cp "$tree/.config" "$out/config-$rel-$1"
}

stage "building reapkill ($jobs jobs; about 7 minutes on 2 cores)"
build reapkill
done_stage

stage "applying $(basename "${patches[1]}")"
apply "${patches[1]}"
done_stage

stage "building reapkill-file incrementally from the same tree"
build reapkill-file
done_stage

(cd "$out" && sha256sum bzImage-* > SHA256SUMS)
{
  echo "linux-source-6.1 $version"
  gcc --version | head -1
  echo "built $(date -u +%Y-%m-%dT%H:%MZ) in $((SECONDS - started)) s with $jobs jobs"
} > "$out/BUILD-INFO"
rm -rf "$cache/$key"
mv "$out" "$cache/$key"
mv "$log" "$cache/$key/build.log"
rm -rf "$tree"
# Old keys: keep the two most recently used, evict the rest.
ls -1dt "$cache"/*/ 2>/dev/null | grep -v '/src/$' | tail -n +3 | while read -r old; do
  say "evicting the old build ${old%/}"
  rm -rf "$old"
done
say "both kernels built in $((SECONDS - started)) s, cached in $cache/$key"
print_wanted "$key" "$version"
