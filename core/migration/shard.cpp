#include "core/migration/shard.h"

#include <charconv>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "core/migration/checkpoint.h"
#include "core/migration/checkpoint_records.h"
#include "core/migration/keyset.h"

namespace webook {
namespace {

bool integer_kind(ValueKind k) {
    return k == ValueKind::integer || k == ValueKind::unsigned_integer;
}

// A single integer key: MIN..MAX over both sides, cut into `count` equal ranges.
std::vector<Row> span_boundaries(SideConnections conns, const TablePlan& plan, int count) {
    std::optional<std::int64_t> lo, hi;
    for (auto [conn, side] : {std::pair{&conns.source, &plan.source}, std::pair{&conns.target, &plan.target}}) {
        const Dialect& d = conn->dialect();
        auto row = conn->query_one(
            fmt::format("SELECT MIN({0}), MAX({0}) FROM {1}", d.quote(side->key[0]), d.quote(side->table)));
        if (!row || (*row)[0].is_null()) continue;
        std::int64_t a = (*row)[0].as_int(), b = (*row)[1].as_int();
        lo = lo ? std::min(*lo, a) : a;
        hi = hi ? std::max(*hi, b) : b;
    }
    std::vector<Row> out;
    if (!lo) return out;
    const std::int64_t span = *hi - *lo + 1;
    const std::int64_t width = (span + count - 1) / count;
    const bool is_unsigned = plan.source.kinds[0] == ValueKind::unsigned_integer;
    for (int i = 1; i < count; ++i) {
        const std::int64_t b = *lo - 1 + width * i;
        if (b >= *hi) break;  // fewer keys than shards: the rest stay empty
        out.push_back({is_unsigned ? Value::unsigned_integer(static_cast<std::uint64_t>(b)) : Value::integer(b)});
    }
    return out;
}

// Any key: every ceil(rows / count)-th source key, in key order.
std::vector<Row> quantile_boundaries(Connection& source, const SidePlan& side, int count) {
    const Dialect& d = source.dialect();
    auto counted = source.query_one(fmt::format("SELECT COUNT(*) FROM {}", d.quote(side.table)));
    const std::int64_t rows = counted ? (*counted)[0].as_int() : 0;
    std::vector<Row> out;
    if (rows == 0) return out;
    const std::int64_t step = (rows + count - 1) / count;
    auto cursor = source.stream(
        fmt::format("SELECT {} FROM {} ORDER BY {}", d.quote_list(side.key), d.quote(side.table), key_order(d, side)));
    std::vector<Row> batch;
    std::int64_t seen = 0;
    while (cursor->next_batch(batch, 10000)) {
        for (Row& key : batch) {
            // Keep reading to the end (a cursor is closed cleanly at its end),
            // but only the boundaries are kept.
            if (++seen % step == 0 && static_cast<int>(out.size()) < count - 1 && seen < rows)
                out.push_back(std::move(key));
        }
    }
    return out;
}

// The error for a kept plan that does not fit the table (any more).
Error corrupt_plan(const TablePlan& plan, int count, const std::string& text) {
    return Error(Code::data,
                 fmt::format("the {}-way shard plan of {} kept in the control table does not fit its key ({}): "
                             "was the key changed? Delete the '{}' checkpoint of the table to plan again",
                             count, plan.name, text.substr(0, 80), checkpoint_kind_name(CheckpointKind::shard_plan)));
}

// The kept plan's boundaries as keys of the table, ascending.
std::vector<Row> plan_boundaries(const ShardPlanRecord& kept, const TablePlan& plan, int count) {
    const std::vector<ValueKind> kinds(plan.source.kinds.begin(),
                                       plan.source.kinds.begin() + static_cast<std::ptrdiff_t>(plan.key_size()));
    std::string text;
    for (const auto& b : kept.boundaries) text += (text.empty() ? "" : ",") + b;
    if (kept.boundaries.size() >= static_cast<std::size_t>(count)) throw corrupt_plan(plan, count, text);
    std::vector<Row> out;
    for (const auto& b : kept.boundaries) {
        Row key;
        try {
            key = decode_key(b, kinds);
        } catch (const Error&) {
            throw corrupt_plan(plan, count, text);
        }
        if (key.size() != kinds.size() || (!out.empty() && compare_key(out.back(), key) >= 0))
            throw corrupt_plan(plan, count, text);
        out.push_back(std::move(key));
    }
    return out;
}

}  // namespace

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
    if (s.count > 4096) throw Error(Code::usage, fmt::format("--shard '{}': at most 4096 shards", text));
    return s;
}

std::string Shard::str() const {
    return whole() ? "all" : fmt::format("{}/{}", index, count);
}

std::vector<Row> compute_shard_boundaries(SideConnections conns, const TablePlan& plan, int count) {
    if (count <= 1) return {};
    if (plan.key_size() == 1 && integer_kind(plan.source.kinds[0])) return span_boundaries(conns, plan, count);
    return quantile_boundaries(conns.source, plan.source, count);
}

ShardRange shard_of(const std::vector<Row>& boundaries, const Shard& shard) {
    ShardRange r;
    if (shard.whole()) return r;
    const auto i = static_cast<std::size_t>(shard.index);  // shard i: (b[i-1], b[i]], 1-based b
    const std::size_t n = boundaries.size();
    if (n == 0) {  // an empty table: everything in shard 1
        r.none = shard.index > 1;
        return r;
    }
    if (i - 1 > n) {  // fewer boundaries than shards: past the last one, nothing
        r.none = true;
        return r;
    }
    if (i >= 2) r.after = boundaries[i - 2];
    if (i <= n) r.up_to = boundaries[i - 1];
    return r;
}

ShardRange shard_range(SideConnections conns, const TablePlan& plan, const Shard& shard, CheckpointStore& plans) {
    if (shard.whole()) return {};
    const std::string slot = shard_plan_slot(shard.count);
    // The kept plan; a row that is there but does not decode is an error, not
    // a reason to plan again (the hosts of a sharded run must agree).
    auto load_kept = [&]() -> std::optional<ShardPlanRecord> {
        auto row = plans.load(CheckpointKind::shard_plan, plan.name, slot);
        if (!row) return std::nullopt;
        auto kept = from_checkpoint<ShardPlanRecord>(*row);
        if (!kept) throw corrupt_plan(plan, shard.count, row->position.value_or(""));
        return kept;
    };
    return with_context(fmt::format("planning the {}-way split of {}", shard.count, plan.name), [&] {
        plans.ensure_tables();
        auto kept = load_kept();
        if (!kept) {
            std::vector<Row> boundaries = compute_shard_boundaries(conns, plan, shard.count);
            if (boundaries.empty()) {
                log::get("shard")->info("{}: empty, so shard 1/{} takes it whole (no plan kept)", plan.name,
                                        shard.count);
                return shard_of(boundaries, shard);
            }
            const std::string method =
                plan.key_size() == 1 && integer_kind(plan.source.kinds[0]) ? "span" : "quantiles";
            ShardPlanRecord record{plan.name, shard.count, {}, method};
            for (const Row& b : boundaries) record.boundaries.push_back(encode_key(b));
            if (save_record_if_absent(plans, record))
                log::get("shard")->info("{}: planned a {}-way split ({}), kept in the control table", plan.name,
                                        shard.count, method);
            kept = load_kept();  // ours, or the one that won a race
            if (!kept) throw Error(Code::server, "the shard plan just saved is not in the control table");
        }
        return shard_of(plan_boundaries(*kept, plan, shard.count), shard);
    });
}

std::size_t forget_shard_plans(CheckpointStore& plans, const std::string& table) {
    plans.ensure_tables();
    const std::vector<Checkpoint> all = plans.load_all();
    for (const auto& c : records_of<CopyProgress>(all))
        if (c.table == table && c.shard != "all" && !c.finished)
            throw Error(Code::usage,
                        fmt::format("shard {} of {} has an unfinished copy: finish it (`migrate copy --resume "
                                    "--shard {}`) or start it over (`--truncate`) before its split is re-planned",
                                    c.shard, table, c.shard));
    // Every plan row of the table, decodable or not: forgetting is the way out of a bad one.
    std::size_t forgotten = 0;
    for (const auto& c : all)
        if (c.table == table && c.kind == CheckpointKind::shard_plan) {
            plans.clear(c.kind, c.table, c.shard);
            ++forgotten;
        }
    return forgotten;
}

std::string shard_condition(const Dialect& d, const SidePlan& side, const ShardRange& range,
                            std::vector<Value>& params) {
    if (range.none) return "1 = 0";
    return bounds_condition(d, side, KeyBounds{range.after, range.up_to}, params);
}

ShardFilter shard_filter(const Dialect& d, const SidePlan& side, const ShardRange& range) {
    ShardFilter f;
    f.sql = shard_condition(d, side, range, f.params);
    return f;
}

}  // namespace webook
