// The mode row's values and the one-hop rule of finding its home
// (core/migration/migration_mode.h), and the switch's row writes
// (migrate/mode_control.h). Every interleaving: fence_move_model_test.cpp.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "core/base/error.h"
#include "core/migration/migration_mode.h"
#include "migrate/mode_control.h"

namespace webook {
namespace {

ModeRow row(ModeRow::Kind kind, Mode mode, std::int64_t version, ControlPlace to = ControlPlace::source) {
    return ModeRow{kind, mode, to, version};
}

TEST(ModeRow, ValuesReadBackAsWritten) {
    for (const ModeRow& r :
         {row(ModeRow::Kind::mode, Mode::dst_first, 3), row(ModeRow::Kind::pending, Mode::src_first, 4),
          row(ModeRow::Kind::moved, Mode::src_only, 5, ControlPlace::target),
          row(ModeRow::Kind::moved, Mode::src_only, 6, ControlPlace::source)}) {
        const ModeRow back = parse_mode_row(mode_row_value(r), r.version);
        EXPECT_EQ(back.kind, r.kind);
        EXPECT_EQ(back.version, r.version);
        if (r.kind == ModeRow::Kind::moved)
            EXPECT_EQ(back.moved_to, r.moved_to);
        else
            EXPECT_EQ(back.mode, r.mode);
    }
    EXPECT_EQ(mode_row_value(row(ModeRow::Kind::mode, Mode::dst_only, 1)), "dst_only");  // what old writers read
    EXPECT_EQ(mode_row_value(row(ModeRow::Kind::pending, Mode::dst_first, 1)), "pending:dst_first");
    EXPECT_EQ(mode_row_value(row(ModeRow::Kind::moved, Mode::src_only, 1, ControlPlace::target)), "moved:target");
}

TEST(ModeRow, AnUnknownValueIsADataErrorNamingIt) {
    for (const char* value : {"", "dst", "pending:", "pending:moved:target", "moved:", "moved:elsewhere", "SRC_ONLY"}) {
        try {
            parse_mode_row(value, 1);
            ADD_FAILURE() << value;
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Code::data);
            EXPECT_NE(std::string(e.what()).find(std::string("'") + value + "'"), std::string::npos) << e.what();
        }
    }
}

TEST(HomeStep, ABareModeIsTheHomeWhereverItIsFound) {
    for (ControlPlace at : {ControlPlace::source, ControlPlace::target})
        for (bool fell_back : {false, true})
            EXPECT_EQ(next_home_step(at, row(ModeRow::Kind::mode, Mode::dst_first, 3), std::nullopt, fell_back).what,
                      HomeStep::What::apply);
}

TEST(HomeStep, APendingRowIsTheHomeOnlyWithThePointerOfItsVersion) {
    const ModeRow pending = row(ModeRow::Kind::pending, Mode::dst_first, 4);
    EXPECT_EQ(next_home_step(ControlPlace::target, pending, 4, false).what, HomeStep::What::apply);
    HomeStep without = next_home_step(ControlPlace::target, pending, std::nullopt, false);
    EXPECT_EQ(without.what, HomeStep::What::go);  // the switch may not have happened: ask the other place
    EXPECT_EQ(without.next, ControlPlace::source);
    EXPECT_FALSE(without.pointer);
    // A pointer of an earlier switch proves nothing about this one.
    EXPECT_EQ(next_home_step(ControlPlace::target, pending, 2, false).what, HomeStep::What::go);
    // Without the source, an unconfirmed home cannot be trusted.
    EXPECT_EQ(next_home_step(ControlPlace::target, pending, std::nullopt, true).what, HomeStep::What::unreachable);
}

TEST(HomeStep, AMovedRowSendsTheFenceOnWithItsVersion) {
    HomeStep s = next_home_step(ControlPlace::source, row(ModeRow::Kind::moved, {}, 7, ControlPlace::target),
                                std::nullopt, false);
    EXPECT_EQ(s.what, HomeStep::What::go);
    EXPECT_EQ(s.next, ControlPlace::target);
    EXPECT_EQ(s.pointer, 7);
    // Fallen back to the target, which points at the source: the source must answer.
    EXPECT_EQ(
        next_home_step(ControlPlace::target, row(ModeRow::Kind::moved, {}, 7, ControlPlace::source), std::nullopt, true)
            .what,
        HomeStep::What::unreachable);
}

TEST(HomeStep, NoRowInTheTargetMeansTheModeNeverMovedThere) {
    HomeStep s = next_home_step(ControlPlace::target, std::nullopt, std::nullopt, false);
    EXPECT_EQ(s.what, HomeStep::What::go);
    EXPECT_EQ(s.next, ControlPlace::source);
    EXPECT_EQ(next_home_step(ControlPlace::target, std::nullopt, std::nullopt, true).what, HomeStep::What::unreachable);
    EXPECT_EQ(next_home_step(ControlPlace::source, std::nullopt, std::nullopt, false).what,
              HomeStep::What::no_migration);
    // Fallen back to the source (the target did not answer): the target may hold it.
    EXPECT_EQ(next_home_step(ControlPlace::source, std::nullopt, std::nullopt, true).what, HomeStep::What::unreachable);
}

TEST(HomeStep, RowsThatDisagreeAreADataError) {
    auto code_of = [](auto&& f) {
        try {
            f();
        } catch (const Error& e) {
            return e.code();
        }
        return Code::internal;
    };
    // Pointed to the target, which has no row, or an older one; a row pointing to itself.
    EXPECT_EQ(code_of([] { next_home_step(ControlPlace::target, std::nullopt, 5, false); }), Code::data);
    EXPECT_EQ(
        code_of([] { next_home_step(ControlPlace::target, row(ModeRow::Kind::mode, Mode::dst_first, 4), 5, false); }),
        Code::data);
    EXPECT_EQ(code_of([] {
                  next_home_step(ControlPlace::source, row(ModeRow::Kind::moved, {}, 5, ControlPlace::source),
                                 std::nullopt, false);
              }),
              Code::data);
}

TEST(SwitchWrites, AMoveWritesPendingThenThePointerThenTheConfirmationAtTheNextVersion) {
    ModeState before;
    before.mode = Mode::src_first;
    before.version = 2;
    before.place = ControlPlace::source;
    const std::vector<RowWrite> w = switch_writes(before, Mode::dst_first, true);
    ASSERT_EQ(w.size(), 3u);
    EXPECT_EQ(w[0].place, ControlPlace::target);
    EXPECT_EQ(mode_row_value(w[0].row), "pending:dst_first");
    EXPECT_EQ(w[1].place, ControlPlace::source);
    EXPECT_EQ(mode_row_value(w[1].row), "moved:target");
    EXPECT_EQ(w[2].place, ControlPlace::target);
    EXPECT_EQ(mode_row_value(w[2].row), "dst_first");
    for (const auto& x : w) EXPECT_EQ(x.row.version, 3);

    // In place: within a side's phases, and always with a separate control database.
    const std::vector<RowWrite> in_place = switch_writes(before, Mode::src_only, true);
    ASSERT_EQ(in_place.size(), 1u);
    EXPECT_EQ(in_place[0].place, ControlPlace::source);
    EXPECT_EQ(switch_writes(before, Mode::dst_first, false).size(), 1u);

    // And back: dst_first -> src_first moves it home to the source.
    before.mode = Mode::dst_first;
    before.place = ControlPlace::target;
    const std::vector<RowWrite> back = switch_writes(before, Mode::src_first, true);
    ASSERT_EQ(back.size(), 3u);
    EXPECT_EQ(back[0].place, ControlPlace::source);
    EXPECT_EQ(mode_row_value(back[1].row), "moved:source");
}

}  // namespace
}  // namespace webook
