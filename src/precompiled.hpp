// The headers most of the library's sources include, compiled once per build when MP_PCH is ON
// (CMakeLists.txt: target_precompile_headers). Only a build-speed measure: every source still
// includes what it uses, and a build with -DMP_PCH=OFF must compile the same.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "mp/connection.hpp"
#include "mp/errors.hpp"
#include "mp/pool.hpp"
#include "mp/process.hpp"
#include "mp/queue.hpp"
#include "mp/serialize.hpp"
#include "mp/synchronize.hpp"
