// webookctl article save|publish|withdraw|get|list
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/platform.h"
#include "cli/render.h"
#include "core/base/error.h"
#include "platform/article.h"

namespace webook::cli {
namespace {

struct ArticleArgs {
    PlatformTarget where;
    std::int64_t id = 0;
    std::int64_t author = 0;
    std::optional<std::string> title;
    std::optional<std::string> content;
    std::string content_file;
    ListOptions list;
};

void add_draft_options(CLI::App* cmd, ArticleArgs& a) {
    cmd->add_option("--id", a.id, "the article to edit (default: a new article)");
    cmd->add_option("--author", a.author, "the author's user id (only the author may change an article)")->required();
    cmd->add_option("--title", a.title, "title, up to 256 characters (required for a new article)");
    auto* content = cmd->add_option("--content", a.content, "the text (default: unchanged; \"\" for a new article)");
    auto* file = cmd->add_option("--content-file", a.content_file, "read the text from a file, '-' for stdin");
    content->excludes(file);
}

Draft draft_of(const ArticleArgs& a) {
    Draft d;
    d.id = a.id;
    d.author_id = a.author;
    d.title = a.title;
    d.content = a.content;
    if (!a.content_file.empty()) {
        std::ostringstream text;
        if (a.content_file == "-") {
            text << std::cin.rdbuf();
        } else {
            std::ifstream in(a.content_file, std::ios::binary);
            if (!in) throw Error(Code::usage, fmt::format("cannot read --content-file {}", a.content_file));
            text << in.rdbuf();
        }
        d.content = text.str();
    }
    return d;
}

void print_saved(const Context& ctx, const SaveResult& r, std::string_view verb) {
    std::string detail = r.status == ArticleStatus::published ? "" : std::string(status_name(r.status));
    if (r.created) detail += detail.empty() ? "new" : ", new";
    render(ctx,
           nlohmann::ordered_json{{"id", r.id},
                                  {"author_id", r.author_id},
                                  {"status", status_name(r.status)},
                                  {"created", r.created},
                                  {"utime", json_time(r.utime)}},
           fmt::format("{} article {}{}", verb, r.id, detail.empty() ? "" : " (" + detail + ")"));
}

int run_save(Context& ctx, const ArticleArgs& a) {
    Draft draft = draft_of(a);
    auto db = open_platform(ctx, a.where);
    print_saved(ctx, ArticleService(*db->conn).save(draft), "saved");
    return k_exit_ok;
}

int run_publish(Context& ctx, const ArticleArgs& a) {
    Draft draft = draft_of(a);
    auto db = open_platform(ctx, a.where);
    print_saved(ctx, ArticleService(*db->conn).publish(draft), "published");
    return k_exit_ok;
}

int run_withdraw(Context& ctx, const ArticleArgs& a) {
    auto db = open_platform(ctx, a.where);
    WithdrawResult r = ArticleService(*db->conn).withdraw(a.id, a.author);
    render(ctx,
           nlohmann::ordered_json{{"id", r.id},
                                  {"status", status_name(ArticleStatus::withdrawn)},
                                  {"published_copy", r.published_copy},
                                  {"utime", json_time(r.utime)}},
           fmt::format("withdrew article {}: {}", r.id,
                       r.published_copy ? "the draft and the readers' copy are private"
                                        : "the draft is private (it was never published)"));
    return k_exit_ok;
}

int run_get(Context& ctx, const ArticleArgs& a) {
    auto db = open_platform(ctx, a.where);
    ArticleService service(*db->conn);
    const bool draft = a.author != 0;
    Article art = draft ? service.get_draft(a.id, a.author) : service.get_published(a.id);
    render(ctx,
           nlohmann::ordered_json{{"id", art.id},
                                  {"copy", draft ? "draft" : "published"},
                                  {"author_id", art.author_id},
                                  {"title", art.title},
                                  {"content", art.content},
                                  {"status", status_name(art.status)},
                                  {"ctime", json_time(art.ctime)},
                                  {"utime", json_time(art.utime)}},
           fmt::format("article {} by author {} ({}{})\ntitle:   {}\ncreated: {}\nupdated: {}\n\n{}", art.id,
                       art.author_id, status_name(art.status), draft ? ", draft" : ", readers' copy", art.title,
                       text_time(art.ctime), text_time(art.utime), art.content),
           InvalidUtf8::replace);
    return k_exit_ok;
}

int run_list(Context& ctx, const ArticleArgs& a) {
    auto db = open_platform(ctx, a.where);
    ArticlePage page = ArticleService(*db->conn).list(a.author, a.list);
    nlohmann::ordered_json items = nlohmann::ordered_json::array();
    std::vector<std::string> lines;
    for (const auto& s : page.articles) {
        items.push_back({{"id", s.id},
                         {"title", s.title},
                         {"status", status_name(s.status)},
                         {"ctime", json_time(s.ctime)},
                         {"utime", json_time(s.utime)}});
        lines.push_back(fmt::format("{:<20} {:<12} {}  {}", s.id, status_name(s.status), text_time(s.utime), s.title));
    }
    nlohmann::ordered_json j{{"author_id", a.author}, {"articles", items}};
    j["next_before"] = page.next_before_id ? nlohmann::ordered_json(*page.next_before_id) : nullptr;
    if (page.articles.empty())
        lines.push_back(
            fmt::format("author {} has no articles{}", a.author, a.list.before_id ? " before that id" : ""));
    else if (page.next_before_id)
        lines.push_back(fmt::format("next page: --before {}", *page.next_before_id));
    render(ctx, j, lines, InvalidUtf8::replace);
    return k_exit_ok;
}

}  // namespace

void register_article(CLI::App& app, Context& ctx) {
    CLI::App* group = app.add_subcommand("article", "authors' articles: save drafts, publish, withdraw, read, list");
    group->require_subcommand(1);
    group->footer("Only an article's author may change it: anything else exits 2 and writes nothing.");

    auto a = std::make_shared<ArticleArgs>();
    auto bind = [&ctx, a](CLI::App* cmd, int (*fn)(Context&, const ArticleArgs&)) { bind_action(cmd, ctx, a, fn); };

    CLI::App* save = group->add_subcommand("save", "create a draft, or edit one (it becomes unpublished)");
    add_draft_options(save, *a);
    add_platform_options(save, a->where);
    example(save,
            "webookctl article save --author 7 --title 'Hello' --content 'First post' "
            "--dsn mysql://webook@127.0.0.1:13306/webook");
    bind(save, run_save);

    CLI::App* publish = group->add_subcommand(
        "publish", "save the draft as published and copy it to the readers' table, in one transaction");
    add_draft_options(publish, *a);
    add_platform_options(publish, a->where);
    example(publish, "webookctl article publish --id 812345678901234567 --author 7 --output json");
    bind(publish, run_publish);

    CLI::App* withdraw = group->add_subcommand("withdraw", "make the draft and the readers' copy private");
    withdraw->add_option("--id", a->id, "the article")->required();
    withdraw->add_option("--author", a->author, "the author's user id")->required();
    add_platform_options(withdraw, a->where);
    example(withdraw, "webookctl article withdraw --id 812345678901234567 --author 7");
    bind(withdraw, run_withdraw);

    CLI::App* get = group->add_subcommand("get", "print the readers' copy, or with --author the author's draft");
    get->add_option("--id", a->id, "the article")->required();
    get->add_option("--author", a->author, "the author's user id: show the draft (default: the readers' copy)");
    add_platform_options(get, a->where);
    example(get, "webookctl article get --id 812345678901234567 --output json");
    bind(get, run_get);

    CLI::App* list = group->add_subcommand("list", "an author's drafts, newest first, a page at a time");
    list->add_option("--author", a->author, "the author's user id")->required();
    list->add_option("--limit", a->list.limit, "articles per page, 1..1000 (default: 20)");
    list->add_option("--before", a->list.before_id,
                     "the page after this id: the last page's 'next page' (JSON: next_before)");
    add_platform_options(list, a->where);
    example(list, "webookctl article list --author 7 --limit 50 --output json");
    bind(list, run_list);
}

}  // namespace webook::cli
