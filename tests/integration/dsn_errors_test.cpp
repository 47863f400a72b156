#include <gtest/gtest.h>

#include "core/dsn.h"
#include "core/error.h"

namespace webook {
namespace {

TEST(DsnIntegration, Placeholder) {
    EXPECT_THROW(Dsn::parse("nope"), Error);
}

}  // namespace
}  // namespace webook
