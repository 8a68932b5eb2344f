#!/usr/bin/env bash
# The main job: builds mp and runs the guided tour (mp-tour) through every lesson.
# Options are passed to mp-tour: ./tour.sh --lang es, ./tour.sh --interactive, ./tour.sh --list
source "$(dirname "$0")/scripts/common.sh"
mp_install_deps
mp_build build >/dev/null
if [ -x "$MP_ROOT/build/tour/mp-tour" ]; then
    exec "$MP_ROOT/build/tour/mp-tour" "$@"
fi
# Until the tour exists: the examples in lesson order.
for ex in "$MP_ROOT"/build/examples/[0-9]*; do
    echo "=== $(basename "$ex")"
    "$ex"
done
