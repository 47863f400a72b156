#include <gtest/gtest.h>

#include "core/base/error.h"
#include "core/db/db.h"

namespace webook {
namespace {

TEST(BulkLoadLine, ReadsTheRowAServersCopyErrorNames) {
    const Error copy(Code::server, "value too long for type character varying(4) (COPY line 17, column word)");
    EXPECT_EQ(bulk_load_line(copy), 17u);
    EXPECT_EQ(bulk_load_line(copy.context("writing the rows")), 17u);
    EXPECT_FALSE(bulk_load_line(Error(Code::server, "Data too long for column 'word' at row 3")).has_value());
    EXPECT_FALSE(bulk_load_line(Error(Code::server, "(COPY line x)")).has_value());
    EXPECT_FALSE(bulk_load_line(Error(Code::server, "(COPY line 0, column a)")).has_value());
}

}  // namespace
}  // namespace webook
