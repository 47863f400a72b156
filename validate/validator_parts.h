// Internal to validate/: pieces shared by the full and incremental validators.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/migration/event.h"
#include "core/migration/keyset.h"
#include "core/migration/table_plan.h"
#include "validate/row_merge.h"
#include "validate/validation.h"

namespace webook {

class EventSink;

// Rows with the plan's cross-type columns in one form, so equal values
// compare equal whatever each server prints: JSON columns
// (TablePlan::json_columns) as canonical JSON text, duration columns
// (TablePlan::duration_columns) as times. A value that does not parse stays
// as read (and differs from one that does).
void canonicalize_rows(std::vector<Row>& rows, const TablePlan& plan);

// A source whose batches come out of `inner` with canonicalize_rows applied.
class CanonicalSource final : public BatchSource {
public:
    CanonicalSource(BatchSource& inner, const TablePlan& plan) : m_inner(inner), m_plan(plan) {}
    bool next(std::vector<Row>& out) override {
        if (!m_inner.next(out)) return false;
        canonicalize_rows(out, m_plan);
        return true;
    }

private:
    BatchSource& m_inner;
    const TablePlan& m_plan;
};

// Builds and sends one event per difference.
class EventEmitter {
public:
    // `report` (optional) counts the neq rows per differing column;
    // `with_values` puts both sides' values of them in the event.
    EventEmitter(const TablePlan& plan, BaseSide base, std::string validator, EventSink& sink,
                 ProgressCounter* progress = nullptr, TableReport* report = nullptr, bool with_values = false);
    void operator()(EventType type, const Row& key, const NeqDetail& neq = {});
    // The method the next events name ("full" or "checksum").
    void set_validator(std::string validator) { m_validator = std::move(validator); }

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
