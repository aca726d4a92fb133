#!/usr/bin/env bash
# Build the message package interfaces/ros_detect_interfaces against the ROS 2 PyPI wheels and
# install it into the venv (nothing to source at run time). Idempotent: a stamp keyed on the
# interface sources makes a second run instant. Needs cmake and a C/C++ compiler (Debian: cmake g++).
# With a ROS 2 install, build it with colcon instead (docs/messages.md).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$(cd "${VENV:-.venv}" && pwd)"
SRC="interfaces/ros_detect_interfaces"
FIXES="$PWD/interfaces/cmake/pypi_wheel_fixes.cmake"
BUILD="${BUILD_DIR:-build/ros_detect_interfaces}"

stamp="$VENV/.ros_detect_interfaces"
want="$(cat "$SRC"/CMakeLists.txt "$SRC"/package.xml "$SRC"/msg/*.msg "$FIXES" scripts/build_interfaces.sh | sha1sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
for tool in cmake c++; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build_interfaces: $tool not found; fix: install cmake and g++ (apt-get install cmake g++)" >&2; exit 2; }
done

echo "setup: building ros_detect_interfaces into $VENV"
rm -rf "$BUILD" && mkdir -p "$BUILD"
# The package index is read from AMENT_PREFIX_PATH only; the venv is the prefix of the ROS wheels.
# The venv's python first on PATH: rosidl's generators run with the python that finds them.
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
PATH="$VENV/bin:$PATH" cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" -DBUILD_TESTING=OFF \
  -DPython3_EXECUTABLE="$VENV/bin/python" -DCMAKE_PROJECT_INCLUDE="$FIXES" >"$BUILD/build.log" 2>&1 \
  || { tail -30 "$BUILD/build.log" >&2; echo "build_interfaces: cmake configure failed (log: $BUILD/build.log)" >&2; exit 1; }
PATH="$VENV/bin:$PATH" cmake --build "$BUILD" --target install -j "$(nproc)" >>"$BUILD/build.log" 2>&1 \
  || { tail -30 "$BUILD/build.log" >&2; echo "build_interfaces: build failed (log: $BUILD/build.log)" >&2; exit 1; }
"$VENV/bin/python" -c "from ros_detect_interfaces.msg import MainPerson, Detections" \
  || { echo "build_interfaces: ros_detect_interfaces does not import from $VENV" >&2; exit 1; }
echo "$want" > "$stamp"
