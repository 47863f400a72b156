// One name for each switch the commands share, so that "dry run" or "until
// idle" is spelled the same in every library and option struct.
#pragma once

namespace webook {

enum class DryRun { no, yes };     // say what would be written; write nothing
enum class UntilIdle { no, yes };  // stop once caught up instead of waiting for more

}  // namespace webook
