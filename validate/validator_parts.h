// Internal to validate/: pieces shared by the full and incremental validators.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/migration/event.h"
#include "core/migration/keyset.h"
#include "core/migration/table_plan.h"
#include "validate/row_merge.h"
#include "validate/validation.h"

namespace webook {

class EventSink;

// Rows with the plan's JSON columns (TablePlan::json_columns) in canonical
// JSON text, so equal documents compare equal whatever each server prints; a
// value that is not JSON stays as read (and differs from one that is).
void canonicalize_json(std::vector<Row>& rows, const std::vector<std::size_t>& json_columns);

// A source whose batches come out of `inner` with canonicalize_json applied.
class JsonCanonicalSource final : public BatchSource {
public:
    JsonCanonicalSource(BatchSource& inner, const std::vector<std::size_t>& json_columns)
        : m_inner(inner), m_json_columns(json_columns) {}
    bool next(std::vector<Row>& out) override {
        if (!m_inner.next(out)) return false;
        canonicalize_json(out, m_json_columns);
        return true;
    }

private:
    BatchSource& m_inner;
    const std::vector<std::size_t>& m_json_columns;
};

// Builds and sends one event per difference.
class EventEmitter {
public:
    // `report` (optional) counts the neq rows per differing column;
    // `with_values` puts both sides' values of them in the event.
    EventEmitter(const TablePlan& plan, BaseSide base, std::string validator, EventSink& sink,
                 ProgressCounter* progress = nullptr, TableReport* report = nullptr, bool with_values = false);
    void operator()(EventType type, const Row& key, const NeqDetail& neq = {});

private:
    const TablePlan& m_plan;
    BaseSide m_base;
    std::string m_validator;
    EventSink& m_sink;
    ProgressCounter* m_progress;
    TableReport* m_report;
    bool m_with_values;
};

}  // namespace webook
