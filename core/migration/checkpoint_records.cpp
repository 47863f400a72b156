#include "core/migration/checkpoint_records.h"

#include <algorithm>
#include <mutex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/db/civil_time.h"

// Row layouts (position | rows_done | result), as every version wrote them:
//   copy                  last key         | rows    | {"state":"done","rows":N,"seconds":S} once finished
//   copy-index            index name       | 0       | the definition (text); shard: a hash of the name
//   validate-incremental  watermark        | rows    | {"target_missing":..,"neq":..,"base_missing":..}
//   shard-plan            [[key],...]      | 0       | {"method":"span","shards":4}; shard: "of 4"
//   mode-forced           at_us            | version | {"from","to","version","who","at","at_us","reason","unmet"};
//                                                      table "from>to", shard: the version
//   validate-pass-*       ended_us         | found   | {"base","mode","fixed","fixed_total","mode_version",...}
//   validate-full         last key decided | base rows | {"base","method","other_rows","target_missing","neq",
//                                                        "base_missing","chunks","chunks_differing","merging_up_to",
//                                                        "finished"}

namespace webook {
namespace {

using Json = nlohmann::json;

// The result column as a JSON object; a discarded value when it is not one.
Json result_object(const Checkpoint& row) {
    Json j = Json::parse(row.result, nullptr, false);
    return j.is_object() ? j : Json(Json::value_t::discarded);
}

// Logs once per kind that a row did not decode; the caller reads it as absent.
template <typename Record>
std::optional<Record> undecodable(const Checkpoint& row) {
    static std::once_flag warned[16];
    std::call_once(warned[static_cast<std::size_t>(row.kind) % 16], [&] {
        log::get("checkpoint")
            ->warn("a {} checkpoint of {} (shard {}) does not decode (another version's, or damaged): ignored",
                   checkpoint_kind_name(row.kind), row.table, row.shard);
    });
    return std::nullopt;
}

// A stable, short shard column for an index name (the column is 16 wide).
std::string index_slot(const std::string& name) {
    std::uint64_t h = 14695981039346656037ull;
    for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
    return fmt::format("{:016x}", h);
}

}  // namespace

std::string shard_plan_slot(int shards) {
    return fmt::format("of {}", shards);
}

CheckpointKind pass_checkpoint_kind(PassKind kind) {
    return kind == PassKind::incremental ? CheckpointKind::pass_incremental : CheckpointKind::pass_full;
}

// ---- copy

Checkpoint to_checkpoint(const CopyProgress& r) {
    Checkpoint c{CopyProgress::k_kind, r.table, r.shard, r.last_key, r.rows, "", {}};
    if (r.finished) c.result = fmt::format(R"({{"state":"done","rows":{},"seconds":{:.3f}}})", r.rows, r.seconds);
    return c;
}

template <>
std::optional<CopyProgress> from_checkpoint(const Checkpoint& row) {
    if (row.kind != CopyProgress::k_kind) return std::nullopt;
    CopyProgress r{row.table, row.shard, row.position, row.rows_done, false, 0};
    if (!row.result.empty()) {
        // A copy still running has no result; one that finished says so.
        const Json j = result_object(row);
        if (j.is_discarded()) return undecodable<CopyProgress>(row);
        r.finished = j.value("state", "") == "done";
        r.seconds = j.value("seconds", 0.0);
    }
    return r;
}

// ---- copy-index

Checkpoint to_checkpoint(const DeferredIndex& r) {
    return {DeferredIndex::k_kind, r.table, index_slot(r.name), r.name, 0, r.definition, {}};
}

template <>
std::optional<DeferredIndex> from_checkpoint(const Checkpoint& row) {
    if (row.kind != DeferredIndex::k_kind) return std::nullopt;
    if (!row.position) return undecodable<DeferredIndex>(row);
    return DeferredIndex{row.table, *row.position, row.result};
}

// ---- validate-incremental

Checkpoint to_checkpoint(const IncrementalWatermark& r) {
    return {
        IncrementalWatermark::k_kind,
        r.table,
        r.shard,
        r.watermark,
        r.rows,
        fmt::format(R"({{"target_missing":{},"neq":{},"base_missing":{}}})", r.target_missing, r.neq, r.base_missing),
        {}};
}

template <>
std::optional<IncrementalWatermark> from_checkpoint(const Checkpoint& row) {
    if (row.kind != IncrementalWatermark::k_kind) return std::nullopt;
    if (!row.position) return undecodable<IncrementalWatermark>(row);
    IncrementalWatermark r{row.table, row.shard, *row.position, row.rows_done};
    const Json j = result_object(row);
    if (!j.is_discarded()) {
        r.target_missing = j.value("target_missing", std::uint64_t{0});
        r.neq = j.value("neq", std::uint64_t{0});
        r.base_missing = j.value("base_missing", std::uint64_t{0});
    }
    return r;
}

// ---- shard-plan

Checkpoint to_checkpoint(const ShardPlanRecord& r) {
    Json keys = Json::array();
    for (const auto& b : r.boundaries) keys.push_back(Json::parse(b));
    return {ShardPlanRecord::k_kind,
            r.table,
            shard_plan_slot(r.shards),
            keys.dump(),
            0,
            fmt::format(R"({{"method":"{}","shards":{}}})", r.method, r.shards),
            {}};
}

template <>
std::optional<ShardPlanRecord> from_checkpoint(const Checkpoint& row) {
    if (row.kind != ShardPlanRecord::k_kind) return std::nullopt;
    ShardPlanRecord r;
    r.table = row.table;
    if (row.shard.rfind("of ", 0) != 0 || !row.position) return undecodable<ShardPlanRecord>(row);
    try {
        r.shards = std::stoi(row.shard.substr(3));
    } catch (const std::exception&) {
        return undecodable<ShardPlanRecord>(row);
    }
    const Json keys = Json::parse(*row.position, nullptr, false);
    if (!keys.is_array()) return undecodable<ShardPlanRecord>(row);
    for (const auto& k : keys) {
        if (!k.is_array()) return undecodable<ShardPlanRecord>(row);
        r.boundaries.push_back(k.dump());
    }
    const Json j = result_object(row);
    if (!j.is_discarded()) r.method = j.value("method", "");
    return r;
}

// ---- mode-forced

Checkpoint to_checkpoint(const ForcedSwitch& f) {
    nlohmann::ordered_json j{
        {"from", mode_name(f.from)},     {"to", mode_name(f.to)}, {"version", f.version}, {"who", f.who},
        {"at", format_iso_utc(f.at_us)}, {"at_us", f.at_us},      {"reason", f.reason},   {"unmet", f.unmet}};
    return {ForcedSwitch::k_kind,
            fmt::format("{}>{}", mode_name(f.from), mode_name(f.to)),
            std::to_string(f.version),
            std::to_string(f.at_us),
            f.version,
            j.dump(),
            {}};
}

template <>
std::optional<ForcedSwitch> from_checkpoint(const Checkpoint& row) {
    if (row.kind != ForcedSwitch::k_kind) return std::nullopt;
    const Json j = result_object(row);
    if (j.is_discarded()) return undecodable<ForcedSwitch>(row);
    try {
        ForcedSwitch f;
        f.from = parse_mode(j.at("from").get<std::string>());
        f.to = parse_mode(j.at("to").get<std::string>());
        f.version = j.at("version").get<std::int64_t>();
        f.who = j.at("who").get<std::string>();
        f.at_us = j.at("at_us").get<std::int64_t>();
        f.reason = j.at("reason").get<std::string>();
        f.unmet = j.at("unmet").get<std::vector<std::string>>();
        return f;
    } catch (const Json::exception&) {
        return undecodable<ForcedSwitch>(row);
    } catch (const Error&) {  // an unknown mode name
        return undecodable<ForcedSwitch>(row);
    }
}

std::vector<ForcedSwitch> forced_switches(const std::vector<Checkpoint>& rows) {
    std::vector<ForcedSwitch> out = records_of<ForcedSwitch>(rows);
    std::stable_sort(out.begin(), out.end(),
                     [](const ForcedSwitch& a, const ForcedSwitch& b) { return a.version < b.version; });
    return out;
}

// ---- validate-pass-incremental, validate-pass-full

Checkpoint to_checkpoint(const PassRecord& p) {
    nlohmann::ordered_json j{{"base", base_side_name(p.base)},
                             {"mode", p.mode},
                             {"fixed", p.fixed},
                             {"fixed_total", p.fixed_total},
                             {"mode_version", p.mode_version},
                             {"started_us", p.started_us},
                             {"ended_us", p.ended_us},
                             {"found", p.found},
                             {"continued", p.continued}};
    return {pass_checkpoint_kind(p.kind),       p.table,  p.shard, std::to_string(p.ended_us),
            static_cast<std::int64_t>(p.found), j.dump(), {}};
}

template <>
std::optional<PassRecord> from_checkpoint(const Checkpoint& row) {
    if (row.kind != CheckpointKind::pass_incremental && row.kind != CheckpointKind::pass_full) return std::nullopt;
    const Json j = result_object(row);
    if (j.is_discarded()) return undecodable<PassRecord>(row);
    try {
        PassRecord p;
        p.table = row.table;
        p.kind = row.kind == CheckpointKind::pass_incremental ? PassKind::incremental : PassKind::full;
        p.shard = row.shard;
        p.base = j.at("base").get<std::string>() == "dst" ? BaseSide::dst : BaseSide::src;
        p.mode = j.at("mode").get<std::string>();
        p.mode_version = j.at("mode_version").get<std::int64_t>();
        p.started_us = j.at("started_us").get<std::int64_t>();
        p.ended_us = j.at("ended_us").get<std::int64_t>();
        p.found = j.at("found").get<std::uint64_t>();
        p.continued = j.at("continued").get<bool>();
        p.fixed = j.value("fixed", std::int64_t{0});
        p.fixed_total = j.value("fixed_total", std::int64_t{0});
        return p;
    } catch (const Json::exception&) {
        return undecodable<PassRecord>(row);
    }
}

// ---- validate-full

Checkpoint to_checkpoint(const FullValidationProgress& r) {
    nlohmann::ordered_json j{{"base", base_side_name(r.base)},
                             {"method", r.method},
                             {"other_rows", r.other_rows},
                             {"target_missing", r.target_missing},
                             {"neq", r.neq},
                             {"base_missing", r.base_missing},
                             {"chunks", r.chunks},
                             {"chunks_differing", r.chunks_differing}};
    if (r.merging) j["merging_up_to"] = r.merging_up_to ? Json::parse(*r.merging_up_to) : Json(nullptr);
    if (r.finished) j["finished"] = true;
    return {FullValidationProgress::k_kind,         r.table,  r.shard, r.after,
            static_cast<std::int64_t>(r.base_rows), j.dump(), {}};
}

template <>
std::optional<FullValidationProgress> from_checkpoint(const Checkpoint& row) {
    if (row.kind != FullValidationProgress::k_kind) return std::nullopt;
    const Json j = result_object(row);
    if (j.is_discarded() || row.rows_done < 0) return undecodable<FullValidationProgress>(row);
    try {
        FullValidationProgress r;
        r.table = row.table;
        r.shard = row.shard;
        const std::string base = j.at("base").get<std::string>();
        if (base != "src" && base != "dst") return undecodable<FullValidationProgress>(row);
        r.base = base == "dst" ? BaseSide::dst : BaseSide::src;
        r.method = j.at("method").get<std::string>();
        r.after = row.position;
        r.base_rows = static_cast<std::uint64_t>(row.rows_done);
        r.other_rows = j.at("other_rows").get<std::uint64_t>();
        r.target_missing = j.at("target_missing").get<std::uint64_t>();
        r.neq = j.at("neq").get<std::uint64_t>();
        r.base_missing = j.at("base_missing").get<std::uint64_t>();
        r.chunks = j.at("chunks").get<std::uint64_t>();
        r.chunks_differing = j.at("chunks_differing").get<std::uint64_t>();
        r.finished = j.value("finished", false);
        if (auto m = j.find("merging_up_to"); m != j.end()) {
            r.merging = true;
            if (!m->is_null()) {
                if (!m->is_array()) return undecodable<FullValidationProgress>(row);
                r.merging_up_to = m->dump();
            }
        }
        return r;
    } catch (const Json::exception&) {
        return undecodable<FullValidationProgress>(row);
    }
}

}  // namespace webook
