// TEMPORARY placeholder, replaced by the engine implementation.
#include "core/engines.h"
#include "core/error.h"
namespace webook {
std::unique_ptr<Connection> connect_mysql(const Dsn&, const ConnectOptions&) {
    throw Error(Code::internal, "engine not implemented yet");
}
}  // namespace webook
