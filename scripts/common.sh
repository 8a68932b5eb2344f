# Sourced by ./tour.sh and ./test.sh: install what is missing, then configure and build.
set -euo pipefail

MP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Debian 12 packages mp needs to build, test, benchmark and run the tour.
MP_PACKAGES=(cmake make g++ pkg-config python3 libcereal-dev libgtest-dev libgmock-dev
             libcli11-dev libgmp-dev libboost-dev)
MP_PACKAGES+=(nlohmann-json3-dev)  # JSON of the task traces (<mp/trace.hpp>; optional for the library)

mp_install_deps() {
    local missing=()
    for p in "${MP_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        echo "mp: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "mp: missing Debian packages. Run this once, then again the command you ran:"
        echo "    sudo apt-get install -y ${missing[*]}"
        exit 1
    fi
}

# mp_build DIR [cmake options...]: configure (once) and build everything in DIR.
mp_build() {
    local dir="$1"; shift
    cmake -S "$MP_ROOT" -B "$MP_ROOT/$dir" -DMP_WERROR=ON "$@" >/dev/null
    cmake --build "$MP_ROOT/$dir" -j "$(nproc)"
}
