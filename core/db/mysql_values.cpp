// How the MariaDB/MySQL engine binds Values to Connector/C++ prepared
// statements and reads result columns back into Values.
#include "core/db/mysql_values.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <memory>
#include <string_view>
#include <system_error>

#include <cppconn/datatype.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset_metadata.h>
#include <cppconn/sqlstring.h>

#include "core/db/value.h"

namespace webook::mysql_detail {

void Binder::bind_one(sql::PreparedStatement& ps, unsigned i, const Value& v) {
    switch (v.kind()) {
    case ValueKind::null: ps.setNull(i, sql::DataType::SQLNULL); return;
    case ValueKind::integer: ps.setInt64(i, v.as_int()); return;
    case ValueKind::unsigned_integer: {
        const std::uint64_t u = v.as_uint();
        if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            ps.setInt64(i, static_cast<std::int64_t>(u));
        } else {
            ps.setUInt64(i, u);
            m_unsigned_flag = true;
        }
        return;
    }
    case ValueKind::boolean: ps.setInt64(i, v.as_bool() ? 1 : 0); return;
    case ValueKind::real: ps.setDouble(i, v.as_double()); return;
    case ValueKind::text: ps.setString(i, sql::SQLString(v.as_string().data(), v.as_string().size())); return;
    case ValueKind::bytes:
        m_streams.push_back(std::make_unique<ViewStream>(v.as_string()));
        ps.setBlob(i, m_streams.back().get());
        return;
    case ValueKind::decimal:
    case ValueKind::date:
    case ValueKind::time:
    case ValueKind::datetime:
        // Canonical text is what the server parses: "1.5",
        // "2024-01-02 03:04:05.000001", "-12:00:00.000000".
        ps.setString(i, v.canonical());
        return;
    }
}

ColumnReader reader_for(sql::ResultSetMetaData& meta, unsigned column, bool binary_protocol) {
    const int type = meta.getColumnType(column);
    switch (type) {
    case sql::DataType::TINYINT:
    case sql::DataType::SMALLINT:
    case sql::DataType::MEDIUMINT:
    case sql::DataType::INTEGER:
    case sql::DataType::BIGINT:
    case sql::DataType::YEAR:
        if (meta.isSigned(column)) return {Reader::int64, ValueKind::integer};
        return {Reader::uint64, ValueKind::unsigned_integer};
    case sql::DataType::BIT:
        // Both protocols print BIT as its number ("1"), which equals boolean true.
        return {Reader::uint64, ValueKind::unsigned_integer};
    case sql::DataType::REAL:  // FLOAT
        return {binary_protocol ? Reader::float_binary : Reader::real_text, ValueKind::real};
    case sql::DataType::DOUBLE: return {binary_protocol ? Reader::real_binary : Reader::real_text, ValueKind::real};
    case sql::DataType::DECIMAL:
    case sql::DataType::NUMERIC: return {Reader::decimal, ValueKind::decimal};
    case sql::DataType::TIMESTAMP:  // DATETIME and TIMESTAMP (session time zone is UTC)
        return {Reader::parsed, ValueKind::datetime};
    case sql::DataType::DATE: return {Reader::parsed, ValueKind::date};
    case sql::DataType::TIME: return {Reader::parsed, ValueKind::time};
    case sql::DataType::BINARY:
    case sql::DataType::VARBINARY:
    case sql::DataType::LONGVARBINARY:  // BLOBs: the connector checks charset 63 (binary)
    case sql::DataType::GEOMETRY: return {Reader::bytes, ValueKind::bytes};
    default:
        // CHAR, VARCHAR, TEXT, ENUM, SET, JSON, NULL literals.
        return {Reader::text, ValueKind::text};
    }
}

Value float_value(long double v) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<float>(v));
    if (ec != std::errc()) return Value::real(static_cast<double>(v));
    return Value::parse(ValueKind::real, std::string_view(buf, static_cast<std::size_t>(end - buf)));
}

ValueKind kind_of_column(std::string_view data_type, std::string_view column_type) {
    auto is = [&](std::initializer_list<std::string_view> names) {
        return std::find(names.begin(), names.end(), data_type) != names.end();
    };
    const bool is_unsigned = column_type.find("unsigned") != std::string_view::npos;
    if (data_type == "tinyint" && column_type.starts_with("tinyint(1)")) return ValueKind::boolean;
    if (data_type == "bit") return column_type == "bit(1)" ? ValueKind::boolean : ValueKind::unsigned_integer;
    if (is({"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"}))
        return is_unsigned ? ValueKind::unsigned_integer : ValueKind::integer;
    if (is({"decimal", "numeric"})) return ValueKind::decimal;
    if (is({"float", "double", "real"})) return ValueKind::real;
    if (is({"datetime", "timestamp"})) return ValueKind::datetime;
    if (data_type == "date") return ValueKind::date;
    if (data_type == "time") return ValueKind::time;
    if (is({"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "geometry", "point", "linestring",
            "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection"}))
        return ValueKind::bytes;
    return ValueKind::text;
}

}  // namespace webook::mysql_detail
