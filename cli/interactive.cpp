// webookctl interactive read|like|unlike|collect|uncollect|get
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/platform.h"
#include "cli/render.h"
#include "core/base/error.h"
#include "platform/interactive.h"

namespace webook::cli {
namespace {

struct InteractiveArgs {
    PlatformTarget where;
    std::int64_t article = 0;
    std::int64_t uid = 0;
    std::int64_t collection = 0;
};

std::string counters_text(const Counters& c) {
    return fmt::format("{} reads, {} likes, {} collects", c.read_cnt, c.like_cnt, c.collect_cnt);
}

void put_counters(nlohmann::ordered_json& j, const Counters& c) {
    j["read_cnt"] = c.read_cnt;
    j["like_cnt"] = c.like_cnt;
    j["collect_cnt"] = c.collect_cnt;
}

int run_read(Context& ctx, const InteractiveArgs& a) {
    auto db = open_platform(ctx, a.where);
    Counters c = InteractiveService(*db->conn).read(a.article);
    nlohmann::ordered_json j{{"article_id", a.article}};
    put_counters(j, c);
    render(ctx, j, fmt::format("read article {}: {}", a.article, counters_text(c)));
    return k_exit_ok;
}

enum class Toggle { like, unlike, collect, uncollect };

// What a toggle did, in words: [changed, unchanged].
struct ToggleWords {
    const char* action;
    const char* changed;
    const char* unchanged;
};

ToggleWords words(Toggle t) {
    switch (t) {
    case Toggle::like: return {"like", "liked", "already liked"};
    case Toggle::unlike: return {"unlike", "unliked", "had not liked"};
    case Toggle::collect: return {"collect", "collected", "already collected"};
    case Toggle::uncollect: return {"uncollect", "uncollected", "had not collected"};
    }
    return {"", "", ""};
}

int run_toggle(Context& ctx, const InteractiveArgs& a, Toggle t) {
    auto db = open_platform(ctx, a.where);
    InteractiveService service(*db->conn);
    ToggleResult r;
    switch (t) {
    case Toggle::like: r = service.like(a.uid, a.article); break;
    case Toggle::unlike: r = service.unlike(a.uid, a.article); break;
    case Toggle::collect: r = service.collect(a.uid, a.article, a.collection); break;
    case Toggle::uncollect: r = service.uncollect(a.uid, a.article); break;
    }
    const ToggleWords w = words(t);
    nlohmann::ordered_json j{{"article_id", a.article}, {"uid", a.uid}, {"action", w.action}, {"changed", r.changed}};
    if (t == Toggle::collect) {
        j["collection_id"] = a.collection;
        j["moved"] = r.moved;
    }
    put_counters(j, r.counters);
    std::string what = r.changed ? w.changed : w.unchanged;
    if (r.moved) what = "moved";
    std::string into = t == Toggle::collect ? fmt::format(" into collection {}", a.collection) : "";
    render(ctx, j,
           fmt::format("user {} {} article {}{} ({})", a.uid, what, a.article, into, counters_text(r.counters)));
    return k_exit_ok;
}

int run_get(Context& ctx, const InteractiveArgs& a) {
    auto db = open_platform(ctx, a.where);
    std::optional<std::int64_t> uid;
    if (a.uid != 0) uid = a.uid;
    Interaction r = InteractiveService(*db->conn).get(a.article, uid);
    nlohmann::ordered_json j{{"article_id", r.article_id}};
    put_counters(j, r.counters);
    std::string line = fmt::format("article {}: {}", r.article_id, counters_text(r.counters));
    if (uid) {
        j["uid"] = *uid;
        j["liked"] = *r.liked;
        j["collected"] = *r.collected;
        j["collection_id"] = r.collection_id ? nlohmann::ordered_json(*r.collection_id) : nullptr;
        line += fmt::format("; user {} {}, {}", *uid, *r.liked ? "liked it" : "did not like it",
                            *r.collected ? fmt::format("collected it (collection {})", *r.collection_id)
                                         : std::string("did not collect it"));
    }
    render(ctx, j, line);
    return k_exit_ok;
}

}  // namespace

void register_interactive(CLI::App& app, Context& ctx) {
    CLI::App* group = app.add_subcommand("interactive",
                                         "readers' interactions with published articles: reads, "
                                         "likes, collects and their counters");
    group->require_subcommand(1);
    group->footer("Interacting with an article that does not exist or is not published exits 2 and writes nothing.");

    auto a = std::make_shared<InteractiveArgs>();
    auto article_option = [a](CLI::App* cmd) {
        cmd->add_option("--article", a->article, "the article id")->required();
    };
    auto uid_option = [a](CLI::App* cmd) { cmd->add_option("--uid", a->uid, "the reader's user id")->required(); };
    auto bind = [&ctx, a](CLI::App* cmd, auto fn) { bind_action(cmd, ctx, a, fn); };

    CLI::App* read = group->add_subcommand("read", "count a read of a published article");
    article_option(read);
    add_platform_options(read, a->where);
    example(read,
            "webookctl interactive read --article 812345678901234567 --dsn mysql://webook@127.0.0.1:13306/webook");
    bind(read, run_read);

    struct ToggleCommand {
        const char* name;
        const char* help;
        Toggle toggle;
    };
    for (const ToggleCommand& t : {
             ToggleCommand{"like", "like an article (once per user: liking again changes nothing)", Toggle::like},
             ToggleCommand{"unlike", "take a like back (nothing to do when not liked)", Toggle::unlike},
             ToggleCommand{"collect",
                           "collect an article into one of the user's collections; again into another "
                           "collection moves it",
                           Toggle::collect},
             ToggleCommand{"uncollect", "take a collect back (nothing to do when not collected)", Toggle::uncollect},
         }) {
        CLI::App* cmd = group->add_subcommand(t.name, t.help);
        uid_option(cmd);
        article_option(cmd);
        if (t.toggle == Toggle::collect)
            cmd->add_option("--collection", a->collection, "the user's collection id (default: 0)");
        add_platform_options(cmd, a->where);
        example(cmd,
                fmt::format("webookctl interactive {} --uid 7 --article 812345678901234567 --output json", t.name));
        const Toggle toggle = t.toggle;
        bind(cmd, [toggle](Context& c, const InteractiveArgs& args) { return run_toggle(c, args, toggle); });
    }

    CLI::App* get = group->add_subcommand("get",
                                          "print an article's counters, and with --uid that user's like "
                                          "and collect");
    article_option(get);
    get->add_option("--uid", a->uid, "also show whether this user liked and collected it");
    add_platform_options(get, a->where);
    example(get, "webookctl interactive get --article 812345678901234567 --uid 7 --output json");
    bind(get, run_get);
}

}  // namespace webook::cli
