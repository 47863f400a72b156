#include "core/db/sql_text.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "core/db/dialect.h"
#include "core/db/value.h"

namespace webook {
namespace {

// Each marker becomes <index>, so the output shows which markers were found.
std::optional<std::string> mark(std::string_view sql, const SqlLexicon& lexicon,
                                std::optional<std::size_t> parameters = std::nullopt) {
    return replace_markers(
        sql, lexicon, [](std::size_t i) { return std::optional<std::string>("<" + std::to_string(i) + ">"); },
        parameters);
}

TEST(SqlText, QuestionMarkersAreNumberedByPosition) {
    EXPECT_EQ(mark("SELECT a FROM t WHERE a = ? AND b > ?", k_mysql_lexicon),
              "SELECT a FROM t WHERE a = <0> AND b > <1>");
}

TEST(SqlText, DollarMarkersNameTheirParameter) {
    EXPECT_EQ(mark("SELECT $2, $1, $10", k_postgres_lexicon), "SELECT <1>, <0>, <9>");
}

TEST(SqlText, MarkersInsideStringsAreText) {
    EXPECT_EQ(mark("SELECT '?', 'it''s ?', ?", k_mysql_lexicon), "SELECT '?', 'it''s ?', <0>");
    EXPECT_EQ(mark("SELECT '$1', 'it''s $1', $1", k_postgres_lexicon), "SELECT '$1', 'it''s $1', <0>");
}

TEST(SqlText, MySqlStringsTakeBackslashEscapes) {
    // 'a\' ?' is one string in MySQL: the quote after the backslash is escaped.
    EXPECT_EQ(mark(R"(SELECT 'a\' ?', ?)", k_mysql_lexicon), R"(SELECT 'a\' ?', <0>)");
    EXPECT_EQ(mark(R"(SELECT "a\" ?", ?)", k_mysql_lexicon), R"(SELECT "a\" ?", <0>)");
}

TEST(SqlText, PostgresStandardStringsDoNotButEscapeStringsDo) {
    // 'a\' is a whole string in PostgreSQL: the $1 after it is a marker.
    EXPECT_EQ(mark(R"(SELECT 'a\', $1)", k_postgres_lexicon), R"(SELECT 'a\', <0>)");
    EXPECT_EQ(mark(R"(SELECT E'a\' $1', $1)", k_postgres_lexicon), R"(SELECT E'a\' $1', <0>)");
    EXPECT_EQ(mark(R"(SELECT e'a\' $1', $1)", k_postgres_lexicon), R"(SELECT e'a\' $1', <0>)");
    // A column named "some" followed by a string is not an E string.
    EXPECT_EQ(mark(R"(SELECT x FROM t WHERE name='a\' AND y = $1)", k_postgres_lexicon),
              R"(SELECT x FROM t WHERE name='a\' AND y = <0>)");
}

TEST(SqlText, QuotedIdentifiersAreSkipped) {
    EXPECT_EQ(mark("SELECT `a?b`, `x``?` FROM t WHERE c = ?", k_mysql_lexicon),
              "SELECT `a?b`, `x``?` FROM t WHERE c = <0>");
    EXPECT_EQ(mark(R"(SELECT "a$1", "x""$1" FROM t WHERE c = $1)", k_postgres_lexicon),
              R"(SELECT "a$1", "x""$1" FROM t WHERE c = <0>)");
}

TEST(SqlText, CommentsAreCopiedAndTheirMarkersIgnored) {
    EXPECT_EQ(mark("SELECT ? -- why?\n, ? # and ?\n, /* ? */ ?", k_mysql_lexicon),
              "SELECT <0> -- why?\n, <1> # and ?\n, /* ? */ <2>");
    EXPECT_EQ(mark("SELECT $1 -- $2\n, /* $2 */ $2", k_postgres_lexicon), "SELECT <0> -- $2\n, /* $2 */ <1>");
}

TEST(SqlText, PostgresBlockCommentsNest) {
    EXPECT_EQ(mark("SELECT /* a /* $1 */ still $1 */ $1", k_postgres_lexicon), "SELECT /* a /* $1 */ still $1 */ <0>");
    // MySQL's do not: the comment ends at the first */.
    EXPECT_EQ(mark("SELECT /* a /* ? */ ?", k_mysql_lexicon), "SELECT /* a /* ? */ <0>");
}

TEST(SqlText, MySqlDashDashNeedsASpace) {
    // 1--? is 1 - (-?) in MySQL, not a comment.
    EXPECT_EQ(mark("SELECT 1--?", k_mysql_lexicon), "SELECT 1--<0>");
    EXPECT_EQ(mark("SELECT 1-- ?", k_mysql_lexicon), "SELECT 1-- ?");
    EXPECT_EQ(mark("SELECT 1--$1", k_postgres_lexicon), "SELECT 1--$1");
}

TEST(SqlText, MySqlExecutableCommentsAreRefused) {
    EXPECT_EQ(mark("SELECT /*! ? */ 1", k_mysql_lexicon), std::nullopt);
    EXPECT_EQ(mark("SELECT /*M!100000 ? */ 1", k_mysql_lexicon), std::nullopt);
}

TEST(SqlText, PostgresDollarQuotesAreSkipped) {
    EXPECT_EQ(mark("SELECT $$ $1 ' $$, $tag$ $1 $$ $tag$, $1", k_postgres_lexicon),
              "SELECT $$ $1 ' $$, $tag$ $1 $$ $tag$, <0>");
    // A $ inside an identifier is part of it.
    EXPECT_EQ(mark("SELECT x$1 FROM t WHERE y = $1", k_postgres_lexicon), "SELECT x$1 FROM t WHERE y = <0>");
}

TEST(SqlText, MalformedOrUnmatchedMarkersAreRefused) {
    EXPECT_EQ(mark("SELECT $0", k_postgres_lexicon), std::nullopt);
    EXPECT_EQ(mark("SELECT $3", k_postgres_lexicon, 2), std::nullopt);                    // names no parameter
    EXPECT_EQ(mark("SELECT $1", k_postgres_lexicon, 2), std::nullopt);                    // $2 unused
    EXPECT_EQ(mark("SELECT ?, ?, ?", k_mysql_lexicon, 2), std::nullopt);                  // one too many
    EXPECT_EQ(mark("SELECT ?", k_mysql_lexicon, 2), std::nullopt);                        // one too few
    EXPECT_EQ(mark("SELECT $1, $1, $2", k_postgres_lexicon, 2), "SELECT <0>, <0>, <1>");  // reuse is fine
}

TEST(SqlText, AReplacementMayRefuse) {
    auto refuse_second = [](std::size_t i) { return i == 1 ? std::nullopt : std::optional<std::string>("x"); };
    EXPECT_EQ(replace_markers("SELECT ?, ?", k_mysql_lexicon, refuse_second), std::nullopt);
}

TEST(SqlText, UnterminatedQuotesAndCommentsAreCopied) {
    EXPECT_EQ(mark("SELECT ? 'abc ?", k_mysql_lexicon), "SELECT <0> 'abc ?");
    EXPECT_EQ(mark("SELECT $1 /* $1", k_postgres_lexicon), "SELECT <0> /* $1");
    EXPECT_EQ(mark("SELECT $$ $1", k_postgres_lexicon), "SELECT $$ $1");
}

// Found by fuzz/sql_text_fuzz: the scanner took a marker's last digit for the
// end of an identifier, so after "$1" an E'...' string read as a standard one
// and a $$ opened no dollar quote -- not as PostgreSQL reads them -- and once
// inlined (a literal ends with a quote) the rest of the statement read
// differently, depending on what the literal held.
TEST(SqlText, AMarkerIsATokenOfItsOwnAsInPostgres) {
    EXPECT_EQ(mark(R"(SELECT $1E'a\' $2')", k_postgres_lexicon), R"(SELECT <0>E'a\' $2')");
    EXPECT_EQ(mark("SELECT $1$$ $2 $$", k_postgres_lexicon), "SELECT <0>$$ $2 $$");
    EXPECT_EQ(mark("SELECT $1$2", k_postgres_lexicon), "SELECT <0><1>");
    // A $ inside an identifier still makes no marker, and what follows it is read as before.
    EXPECT_EQ(mark(R"(SELECT x$1E'a\' $1')", k_postgres_lexicon), R"(SELECT x$1E'a\' <0>')");

    const std::vector<Value> breaking{Value::text("\\'?$1")};
    const auto inlined = dialect_for(Engine::postgres).inline_params(R"(SELECT $1E'a\' $1')", breaking);
    ASSERT_TRUE(inlined.has_value());
    EXPECT_EQ(*inlined, R"(SELECT E'\\''?$1' E'a\' $1')");
    EXPECT_EQ(mark(*inlined, k_postgres_lexicon), *inlined);  // no marker in what was inlined
}

// Found by fuzz/sql_text_fuzz (CI, 2026-12-02): a marker right before a
// quote ("$1'a\'d"), inlined as a string literal, joined the next string
// ("E'x''a\'d ...": '' is an escaped quote), so the rest of the statement
// read differently depending on the value. A literal now gets a space
// wherever it would touch a neighbouring token (a minus before a negative
// number stays an operator too: "1 - -5", never a "--").
TEST(SqlText, AnInlinedLiteralNeverJoinsTheTokensNextToIt) {
    const Dialect& pg = dialect_for(Engine::postgres);
    const std::vector<Value> breaking{Value::text("\\'?$1")};
    const auto joined = pg.inline_params(R"(SEL$1$1,1 $1'a\'d $1)", breaking);
    ASSERT_TRUE(joined.has_value());
    EXPECT_EQ(*joined, R"(SEL$1$1,1 E'\\''?$1' 'a\'d E'\\''?$1')");
    const std::vector<Value> harmless{Value::text("x")};
    EXPECT_EQ(*pg.inline_params(R"(SEL$1$1,1 $1'a\'d $1)", harmless), R"(SEL$1$1,1 E'x' 'a\'d E'x')");

    const std::vector<Value> negative{Value::integer(-5)};
    EXPECT_EQ(pg.inline_params("SELECT 1 -$1", negative), "SELECT 1 - E'-5'");
    EXPECT_EQ(dialect_for(Engine::mysql).inline_params("SELECT 1 -?", negative), "SELECT 1 - -5");
    // Next to whitespace and ( ) , ; = < > nothing is added.
    EXPECT_EQ(pg.inline_params("SELECT f($1,$1)=$1;", negative), "SELECT f(E'-5',E'-5')=E'-5';");
}

TEST(SqlText, PostgresMarkersAsQuestionMarksForPortableFragments) {
    SqlLexicon fragments = k_postgres_lexicon;
    fragments.markers = MarkerStyle::question;
    EXPECT_EQ(mark("a + ? + '?' + $1", fragments), "a + <0> + '?' + $1");
}

// -- Literals: what a dialect puts where a marker was ------------------------

TEST(SqlLiteral, MySqlTextIsHexSoNothingNeedsEscaping) {
    const Dialect& d = dialect_for(Engine::mysql);
    EXPECT_EQ(d.literal(Value::text("a'\\")), "_utf8mb4 X'61275c'");
    EXPECT_EQ(d.literal(Value::text("")), "_utf8mb4''");
    EXPECT_EQ(d.literal(Value::bytes(std::string("\0\xff", 2))), "X'00ff'");
    EXPECT_EQ(d.literal(Value::bytes("")), "X''");
    EXPECT_EQ(d.literal(Value::null()), "NULL");
    EXPECT_EQ(d.literal(Value::integer(-5)), "-5");
    EXPECT_EQ(d.literal(Value::boolean(true)), "1");
    EXPECT_EQ(d.literal(Value::parse(ValueKind::date, "2026-12-01")), "'2026-12-01'");
    EXPECT_EQ(d.literal(Value::real(0.1)), std::nullopt);  // no exact literal: bind it
}

TEST(SqlLiteral, PostgresTextIsAnEscapeString) {
    const Dialect& d = dialect_for(Engine::postgres);
    EXPECT_EQ(d.literal(Value::text("it's \\ ok")), R"(E'it''s \\ ok')");
    EXPECT_EQ(d.literal(Value::null()), "NULL");
    EXPECT_EQ(d.literal(Value::integer(7)), "E'7'");
    EXPECT_EQ(d.literal(Value::boolean(false)), "E'f'");
    EXPECT_EQ(d.literal(Value::bytes(std::string("\x01", 1))), R"(E'\\x01')");
}

TEST(SqlLiteral, InlinedStatementsKeepTheirStrings) {
    const Dialect& d = dialect_for(Engine::postgres);
    const std::vector<Value> two{Value::text("x"), Value::null()};
    EXPECT_EQ(d.inline_params("SELECT '$1' WHERE a = $1 AND b = $2", two), "SELECT '$1' WHERE a = E'x' AND b = NULL");
    EXPECT_EQ(d.inline_params("SELECT $1", {}), std::nullopt);
    const Dialect& m = dialect_for(Engine::mysql);
    const std::vector<Value> one{Value::integer(3)};
    EXPECT_EQ(m.inline_params("SELECT '?' WHERE a = ?", one), "SELECT '?' WHERE a = 3");
}

}  // namespace
}  // namespace webook
