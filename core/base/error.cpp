#include "core/base/error.h"

namespace webook {

Error::Error(Code code, std::string message, Temporary temporary)
    : std::runtime_error(std::move(message)), m_code(code), m_temporary(temporary) {}

Error Error::context(std::string_view what) const {
    std::string message(what);
    message += ": ";
    message += this->what();
    return Error(m_code, std::move(message), m_temporary);
}

int exit_code_for(Code code) {
    switch (code) {
    case Code::usage:
    case Code::config: return k_exit_usage;
    case Code::connection:
    case Code::server:
    case Code::data: return k_exit_connection;
    case Code::interrupted: return k_exit_interrupted;
    case Code::internal: break;
    }
    return k_exit_internal;
}

std::string_view code_name(Code code) {
    switch (code) {
    case Code::usage: return "usage";
    case Code::config: return "config";
    case Code::connection: return "connection";
    case Code::server: return "server";
    case Code::data: return "data";
    case Code::internal: return "internal";
    case Code::interrupted: return "interrupted";
    }
    return "internal";
}

}  // namespace webook
