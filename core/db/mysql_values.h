// Internal to core/db/: how Values go into and come out of Connector/C++ --
// parameters bound to prepared statements, result columns read -- and the
// kind of a column as information_schema describes it.
#pragma once

#include <istream>
#include <memory>
#include <streambuf>
#include <string_view>
#include <vector>

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset_metadata.h>

#include "core/db/db.h"
#include "core/db/value.h"

namespace webook::mysql_detail {

// ---------------------------------------------------------------------------
// Values out

// An istream over bytes we already hold, for setBlob without a copy.
class ViewStreamBuf final : public std::streambuf {
public:
    explicit ViewStreamBuf(std::string_view bytes) {
        char* p = const_cast<char*>(bytes.data());  // read-only: only the get area is used
        setg(p, p, p + bytes.size());
    }
};

class ViewStream final : public std::istream {
public:
    explicit ViewStream(std::string_view bytes) : std::istream(nullptr), m_buf(bytes) { rdbuf(&m_buf); }

private:
    ViewStreamBuf m_buf;
};

// Parameter binding for one execution. The streams for byte values must
// live until the statement has run.
class Binder {
public:
    // Binds `params` to markers first..first+n-1. Values must outlive execution.
    void bind(sql::PreparedStatement& ps, Params params, unsigned first = 1) {
        unsigned index = first;
        for (const Value& v : params) bind_one(ps, index++, v);
    }

    // The connector never clears a slot's "unsigned" flag once set, so a
    // statement that was bound a value above INT64_MAX must not be reused
    // for signed values.
    bool used_unsigned_flag() const { return m_unsigned_flag; }

    void clear() {
        m_streams.clear();
        m_unsigned_flag = false;
    }

private:
    void bind_one(sql::PreparedStatement& ps, unsigned i, const Value& v);

    std::vector<std::unique_ptr<ViewStream>> m_streams;
    bool m_unsigned_flag = false;
};

// ---------------------------------------------------------------------------
// Values in

// How one result column is read.
enum class Reader {
    int64,         // getInt64
    uint64,        // getUInt64
    real_text,     // DOUBLE in the text protocol: exact decimal text
    real_binary,   // DOUBLE in the binary protocol: getDouble
    float_binary,  // FLOAT in the binary protocol: getDouble, shortest float text
    text,
    bytes,
    decimal,
    parsed,  // date/time kinds: Value::parse of the server's text
};

struct ColumnReader {
    Reader reader = Reader::text;
    ValueKind kind = ValueKind::text;
};

// How the values of result column `column` (1-based) are read, by the text
// or the binary (prepared statements) protocol.
ColumnReader reader_for(sql::ResultSetMetaData& meta, unsigned column, bool binary_protocol);

// "1.1" for FLOAT 1.1 rather than 1.100000023841858, as the text protocol prints it.
Value float_value(long double v);

// The kind of a column from information_schema.COLUMNS: DATA_TYPE
// ("tinyint") and COLUMN_TYPE ("tinyint(1) unsigned").
ValueKind kind_of_column(std::string_view data_type, std::string_view column_type);

}  // namespace webook::mysql_detail
