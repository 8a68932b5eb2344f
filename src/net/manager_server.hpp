// Internal to mp::net: the manager's server, run in its own process. Not installed.
#pragma once

#include <cstdint>
#include <string>

#include "mp/connection.hpp"
#include "mp/listener.hpp"

namespace mp::detail {

/// Binds `address`, reports on `report` (an int code, 0 for ok, then the bound Address or an
/// error message), then serves until a shutdown request or until `report`'s peer is gone.
void run_manager_server(const Address& address, const std::string& authkey, std::uint64_t server_id,
                        Connection report);

}  // namespace mp::detail
