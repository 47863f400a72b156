#include "validate/validator_parts.h"

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/db/dialect.h"
#include "core/db/json_text.h"
#include "core/migration/event_sink.h"

namespace webook {

void canonicalize_rows(std::vector<Row>& rows, const TablePlan& plan) {
    if (plan.json_columns.empty() && plan.duration_columns.empty()) return;
    for (Row& row : rows) {
        for (std::size_t i : plan.json_columns) {
            if (i >= row.size() || row[i].kind() != ValueKind::text) continue;
            if (auto canonical = canonical_json(row[i].as_string())) row[i] = Value::text(std::move(*canonical));
        }
        for (std::size_t i : plan.duration_columns) {
            if (i >= row.size() || row[i].kind() != ValueKind::text) continue;
            try {
                row[i] = Value::parse(ValueKind::time, row[i].as_string());
            } catch (const Error&) {
                // "1 day 02:00:00", "1 mon": no TIME reads so; left unequal.
            }
        }
    }
}

EventEmitter::EventEmitter(const TablePlan& plan, BaseSide base, std::string validator, EventSink& sink,
                           ProgressCounter* progress, TableReport* report, bool with_values)
    : m_plan(plan),
      m_base(base),
      m_validator(std::move(validator)),
      m_sink(sink),
      m_progress(progress),
      m_report(report),
      m_with_values(with_values) {}

void EventEmitter::operator()(EventType type, const Row& key, const NeqDetail& neq) {
    InconsistencyEvent e;
    e.table = m_plan.name;
    e.key_columns = m_plan.source.key;
    e.key = key;
    e.type = type;
    e.base = m_base;
    e.detected_at = utc_now_iso();
    e.validator = m_validator;
    for (std::size_t i : neq.columns) {
        if (i >= m_plan.source.columns.size()) continue;
        e.columns.push_back(m_plan.source.columns[i]);
        if (m_report) ++m_report->neq_columns[e.columns.back()];
        if (m_with_values && neq.base && neq.other)
            e.values.emplace_back(i < neq.base->size() ? (*neq.base)[i] : Value(),
                                  i < neq.other->size() ? (*neq.other)[i] : Value());
    }
    m_sink.write(e);
    if (m_progress) ++m_progress->findings;
}

void ValidateOptions::validate() const {
    if (batch_size == 0) throw Error(Code::usage, "--batch-size must be positive");
    if (chunk_rows == 0) throw Error(Code::usage, "--chunk-rows must be positive");
    if (retry_for.count() < 0) throw Error(Code::usage, "--retry-for must not be negative");
    throttle.validate();
}

}  // namespace webook
