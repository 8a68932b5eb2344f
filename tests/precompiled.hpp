// The headers every test program includes, compiled once per build when MP_PCH is ON
// (tests/CMakeLists.txt: each test reuses mp_test_support's precompiled header). Only a
// build-speed measure: every test still includes what it uses.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mp/mp.hpp"
#include "support.hpp"
