#include "core/shard.h"

#include <charconv>

#include <fmt/format.h>

#include "core/db.h"
#include "core/dialect.h"
#include "core/error.h"

namespace webook {

Shard Shard::parse(std::string_view text) {
    auto slash = text.find('/');
    Shard s;
    auto num = [&](std::string_view part, int& out) {
        auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), out);
        return ec == std::errc() && p == part.data() + part.size();
    };
    if (slash == std::string_view::npos || !num(text.substr(0, slash), s.index) ||
        !num(text.substr(slash + 1), s.count) || s.count < 1 || s.index < 1 || s.index > s.count)
        throw Error(Code::usage, fmt::format("--shard '{}': expected i/n with 1 <= i <= n, e.g. 2/8", text));
    return s;
}

std::string Shard::str() const {
    return whole() ? "all" : fmt::format("{}/{}", index, count);
}

ShardRange shard_range(SideConnections conns, const TablePlan& plan, const Shard& shard) {
    ShardRange range;
    if (shard.whole()) return range;
    const ValueKind k = plan.source.kinds[0];
    if (k != ValueKind::integer && k != ValueKind::unsigned_integer)
        throw Error(Code::usage, fmt::format("--shard needs an integer first key column; {}.{} is {}", plan.name,
                                             plan.source.key[0], kind_name(k)));
    std::optional<std::int64_t> lo, hi;
    for (auto [conn, side] : {std::pair{&conns.source, &plan.source}, std::pair{&conns.target, &plan.target}}) {
        const Dialect& d = conn->dialect();
        auto row = conn->query_one(fmt::format("SELECT MIN({0}), MAX({0}) FROM {1}", d.quote(side->key[0]),
                                               d.quote(side->table)));
        if (!row || (*row)[0].is_null()) continue;
        std::int64_t a = (*row)[0].as_int(), b = (*row)[1].as_int();
        lo = lo ? std::min(*lo, a) : a;
        hi = hi ? std::max(*hi, b) : b;
    }
    if (!lo) return range;  // both empty: every shard is the whole (empty) table
    const std::int64_t span = *hi - *lo + 1;
    const std::int64_t width = (span + shard.count - 1) / shard.count;
    if (shard.index > 1) range.after = *lo - 1 + width * (shard.index - 1);
    if (shard.index < shard.count) range.up_to = *lo - 1 + width * shard.index;
    return range;
}

ShardFilter shard_filter(const Dialect& d, const SidePlan& side, const ShardRange& range) {
    ShardFilter f;
    const std::string col = d.quote(side.key[0]);
    if (range.after) {
        f.params.push_back(Value::integer(*range.after));
        f.sql = fmt::format("{} > {}", col, d.placeholder(static_cast<int>(f.params.size())));
    }
    if (range.up_to) {
        f.params.push_back(Value::integer(*range.up_to));
        f.sql += fmt::format("{}{} <= {}", f.sql.empty() ? "" : " AND ", col,
                             d.placeholder(static_cast<int>(f.params.size())));
    }
    return f;
}

}  // namespace webook
