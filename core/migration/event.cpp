#include "core/migration/event.h"

#include <chrono>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/base/clock.h"
#include "core/base/error.h"

namespace webook {
namespace {

nlohmann::json key_value_json(const Value& v) {
    switch (v.kind()) {
    case ValueKind::null: return nullptr;
    case ValueKind::integer:
    case ValueKind::boolean: return v.as_int();
    case ValueKind::unsigned_integer: return v.as_uint();
    default: return v.display();
    }
}

}  // namespace

std::string_view event_type_name(EventType type) {
    switch (type) {
    case EventType::target_missing: return "target_missing";
    case EventType::neq: return "neq";
    case EventType::base_missing: return "base_missing";
    }
    return "neq";
}

std::string_view base_side_name(BaseSide side) {
    return side == BaseSide::src ? "src" : "dst";
}

std::string InconsistencyEvent::to_json() const {
    nlohmann::ordered_json key_obj = nlohmann::ordered_json::object();
    for (std::size_t i = 0; i < key_columns.size() && i < key.size(); ++i)
        key_obj[key_columns[i]] = key_value_json(key[i]);
    nlohmann::ordered_json j;
    j["table"] = table;
    j["key"] = std::move(key_obj);
    j["type"] = event_type_name(type);
    j["base"] = base_side_name(base);
    j["detected_at"] = detected_at;
    j["validator"] = validator;
    if (!columns.empty()) j["columns"] = columns;
    if (!values.empty()) {
        nlohmann::ordered_json v = nlohmann::ordered_json::object();
        for (std::size_t i = 0; i < columns.size() && i < values.size(); ++i)
            v[columns[i]] = {{"base", key_value_json(values[i].first)}, {"other", key_value_json(values[i].second)}};
        j["values"] = std::move(v);
    }
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string InconsistencyEvent::message_key() const {
    std::string out = table;
    for (const auto& v : key) {
        out += '/';
        out += v.display();
    }
    return out;
}

InconsistencyEvent InconsistencyEvent::parse(std::string_view text) {
    auto bad = [&](std::string_view why) {
        std::string shown(text.substr(0, 120));
        return Error(Code::data, fmt::format("malformed event ({}): {}", why, shown));
    };
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception&) {
        throw bad("not JSON");
    }
    if (!j.is_object()) throw bad("not a JSON object");
    InconsistencyEvent e;
    auto str = [&](const char* name, bool required) -> std::string {
        auto it = j.find(name);
        if (it == j.end()) {
            if (required) throw bad(fmt::format("no \"{}\"", name));
            return {};
        }
        if (!it->is_string()) throw bad(fmt::format("\"{}\" is not a string", name));
        return it->get<std::string>();
    };
    e.table = str("table", true);
    if (e.table.empty()) throw bad("empty \"table\"");
    const std::string type = str("type", true);
    if (type == "target_missing")
        e.type = EventType::target_missing;
    else if (type == "neq")
        e.type = EventType::neq;
    else if (type == "base_missing")
        e.type = EventType::base_missing;
    else
        throw bad(fmt::format("unknown type '{}'", type));
    const std::string base = str("base", true);
    if (base == "src")
        e.base = BaseSide::src;
    else if (base == "dst")
        e.base = BaseSide::dst;
    else
        throw bad(fmt::format("unknown base '{}'", base));
    e.detected_at = str("detected_at", false);
    e.validator = str("validator", false);
    if (auto cols = j.find("columns"); cols != j.end() && cols->is_array())  // informational: never refused
        for (const auto& c : *cols)
            if (c.is_string()) e.columns.push_back(c.get<std::string>());
    auto key = j.find("key");
    if (key == j.end() || !key->is_object() || key->empty()) throw bad("no \"key\" object");
    for (auto it = key->begin(); it != key->end(); ++it) {
        e.key_columns.push_back(it.key());
        const auto& v = it.value();
        if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
            e.key.push_back(Value::unsigned_integer(v.get<std::uint64_t>()));
        else if (v.is_number_integer())
            e.key.push_back(Value::integer(v.get<std::int64_t>()));
        else if (v.is_string())
            e.key.push_back(Value::text(v.get<std::string>()));
        else
            throw bad(fmt::format("key \"{}\" is neither an integer nor a string", it.key()));
    }
    return e;
}

std::string utc_now_iso() {
    return format_iso_utc(system_micros());
}

}  // namespace webook
