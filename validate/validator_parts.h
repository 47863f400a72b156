// Internal to validate/: pieces shared by the full and incremental validators.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/migration/event.h"
#include "core/migration/table_plan.h"
#include "validate/validation.h"

namespace webook {

class EventSink;

// Builds and sends one event per difference.
class EventEmitter {
public:
    EventEmitter(const TablePlan& plan, BaseSide base, std::string validator, EventSink& sink,
                 ProgressCounter* progress = nullptr);
    void operator()(EventType type, const Row& key);

private:
    const TablePlan& m_plan;
    BaseSide m_base;
    std::string m_validator;
    EventSink& m_sink;
    ProgressCounter* m_progress;
};

}  // namespace webook
