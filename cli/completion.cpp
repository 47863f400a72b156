// webookctl completion bash|zsh: a shell completion script made from the
// command tree CLI11 holds -- every group, command, option and flag, and the
// fixed values of an option or positional that has them (CLI::IsMember) -- so
// it cannot drift from the binary. The build writes both for the package to
// install (cli/CMakeLists.txt); tests/completion/completion_test.sh checks them.
//
// read_tree() walks the App tree once into CommandSpec records, depth first in
// the order the commands were registered; one writer per shell prints them.
// Hidden options and commands (no group) are left out, as --help leaves them
// out; the options of a nameless option group count as its parent's.
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/cli.h"
#include "core/base/error.h"

namespace webook::cli {
namespace {

struct OptionSpec {
    std::vector<std::string> names;    // "-h", "--help"; a positional: its name ("MODE")
    std::string help;                  // the description --help shows
    bool takes_value = false;          // an option, not a flag
    bool repeatable = false;           // --table T, given more than once
    std::vector<std::string> choices;  // its fixed values, if any
};

struct Subcommand {
    std::string name;
    std::string help;
};

struct CommandSpec {
    std::vector<std::string> path;        // {"migrate", "mode", "set"}; {} is webookctl itself
    std::vector<OptionSpec> options;      // flags and options, in --help order
    std::vector<OptionSpec> positionals;  // in order
    std::vector<Subcommand> commands;     // in --help order
};

// CLI::IsMember keeps its set only in the description it adds to the
// option's type name: "TEXT:{source,target}".
std::vector<std::string> fixed_choices(const CLI::Option& option) {
    const std::string type = option.get_type_name();
    const auto open = type.find(":{");
    if (open == std::string::npos || type.back() != '}') return {};
    std::vector<std::string> choices;
    std::string item;
    for (char c : type.substr(open + 2, type.size() - open - 3)) {
        if (c == ',') {
            choices.push_back(item);
            item.clear();
        } else {
            item += c;
        }
    }
    if (!item.empty()) choices.push_back(item);
    return choices;
}

OptionSpec option_spec(const CLI::Option& option) {
    OptionSpec spec;
    if (option.nonpositional()) {
        for (const auto& s : option.get_snames()) spec.names.push_back("-" + s);
        for (const auto& l : option.get_lnames()) spec.names.push_back("--" + l);
    } else {
        spec.names.push_back(option.get_name(true));
    }
    spec.help = option.get_description();
    spec.takes_value = option.get_expected_max() > 0;
    spec.repeatable = option.get_items_expected_max() > 1;
    if (spec.takes_value) spec.choices = fixed_choices(option);
    return spec;
}

void add_options(const CLI::App& app, CommandSpec& spec) {
    for (const CLI::Option* option : app.get_options()) {
        if (option->get_group().empty()) continue;  // hidden
        (option->nonpositional() ? spec.options : spec.positionals).push_back(option_spec(*option));
    }
    for (const CLI::App* group : app.get_subcommands([](const CLI::App* a) { return a->get_name().empty(); }))
        add_options(*group, spec);
}

void read_tree(const CLI::App& app, std::vector<std::string> path, std::vector<CommandSpec>& out) {
    CommandSpec spec;
    spec.path = path;
    add_options(app, spec);
    const auto subcommands =
        app.get_subcommands([](const CLI::App* a) { return !a->get_name().empty() && !a->get_group().empty(); });
    for (const CLI::App* sub : subcommands) spec.commands.push_back({sub->get_name(), sub->get_description()});
    out.push_back(std::move(spec));
    for (const CLI::App* sub : subcommands) {
        path.push_back(sub->get_name());
        read_tree(*sub, path, out);
        path.pop_back();
    }
}

std::string joined(const std::vector<std::string>& words, const std::string& separator = " ") {
    std::string out;
    for (std::size_t i = 0; i < words.size(); ++i) out += (i == 0 ? "" : separator) + words[i];
    return out;
}

std::vector<std::string> names_of(const std::vector<Subcommand>& commands) {
    std::vector<std::string> names;
    for (const auto& c : commands) names.push_back(c.name);
    return names;
}

// Text inside '...' in a shell script.
std::string single_quoted(const std::string& text) {
    std::string out = "'";
    for (char c : text) {
        if (c == '\'')
            out += "'\\''";
        else if (c == '\n')
            out += ' ';
        else
            out += c;
    }
    return out + "'";
}

// ---- bash ------------------------------------------------------------------
//
// Two lookup functions generated from the tree -- the command at a path, and
// the fixed values of an option or positional -- and one fixed function that
// walks the words before the cursor with them: a subcommand's name extends
// the path, an option that takes a value consumes the next word (or the
// value after '=', which bash splits off as a word of its own), anything else
// is a positional. Bash splits at ':' as well; those pieces (a DSN's) are
// joined again first. Options fall through to the parent's (app.fallthrough()),
// so an ancestor's option is recognised too. Nothing found: bash's default
// (file names), for values such as --config FILE.

std::string bash_script(const std::vector<CommandSpec>& tree) {
    std::string s = fmt::format(
        "# bash completion for webookctl {0}, generated from its command tree by\n"
        "# 'webookctl completion bash'. Installed as\n"
        "# /usr/share/bash-completion/completions/webookctl; or source it.\n"
        "\n"
        "# Sets commands, flags and options (those taking a value) of the command at\n"
        "# path $1 ('' is webookctl itself); returns 1 when there is none.\n"
        "_webookctl_command() {{\n"
        "    case $1 in\n",
        WEBOOKCTL_VERSION);
    for (const auto& c : tree) {
        std::vector<std::string> flags, options;
        for (const auto& o : c.options)
            for (const auto& n : o.names) (o.takes_value ? options : flags).push_back(n);
        s += fmt::format("    {})\n        commands={}\n        flags={}\n        options={}\n        ;;\n",
                         single_quoted(joined(c.path)), single_quoted(joined(names_of(c.commands))),
                         single_quoted(joined(flags)), single_quoted(joined(options)));
    }
    s += "    *) return 1 ;;\n"
         "    esac\n"
         "}\n"
         "\n"
         "# Sets choices to the fixed values of option $2 (or positional #N) of the\n"
         "# command at path $1; returns 1 when it has none.\n"
         "_webookctl_choices() {\n"
         "    case $1:$2 in\n";
    for (const auto& c : tree) {
        const std::string path = joined(c.path);
        for (const auto& o : c.options)
            for (const auto& n : o.names)
                if (!o.choices.empty())
                    s += fmt::format("    {}) choices={} ;;\n", single_quoted(path + ":" + n),
                                     single_quoted(joined(o.choices)));
        for (std::size_t i = 0; i < c.positionals.size(); ++i)
            if (!c.positionals[i].choices.empty())
                s += fmt::format("    {}) choices={} ;;\n", single_quoted(fmt::format("{}:#{}", path, i + 1)),
                                 single_quoted(joined(c.positionals[i].choices)));
    }
    s += R"sh(    *) return 1 ;;
    esac
}

# The fixed values of option $2 as the command at path $1 or an ancestor
# defines it (options fall through to the parent's).
_webookctl_values() {
    local at=$1
    until _webookctl_choices "$at" "$2"; do
        [[ -n $at ]] || return 1
        [[ $at == *' '* ]] && at=${at% *} || at=''
    done
}

_webookctl() {
    local cur=${COMP_WORDS[COMP_CWORD]} path='' commands flags options choices
    local known word i value_of='' positional=0 prefix='' words=()
    # The words before the cursor as typed: bash splits at ':' too, so the
    # pieces of a DSN or URL are joined again.
    for ((i = 1; i < COMP_CWORD; i++)); do
        if ((i > 1)) && [[ ${COMP_WORDS[i]} == : || ${COMP_WORDS[i - 1]} == : ]]; then
            words[${#words[@]} - 1]+=${COMP_WORDS[i]}
        else
            words+=("${COMP_WORDS[i]}")
        fi
    done
    _webookctl_command ''
    known=" $options "
    for word in "${words[@]}"; do
        [[ $word == = ]] && continue  # --option=value: bash splits at '='
        if [[ -n $value_of ]]; then
            value_of=''
            continue
        fi
        case $word in
        -*=*) ;;
        -*) [[ $known == *" $word "* ]] && value_of=$word ;;
        *)
            if [[ " $commands " == *" $word "* ]] && _webookctl_command "${path:+$path }$word"; then
                path=${path:+$path }$word
                known+="$options "
                positional=0
            else
                positional=$((positional + 1))
            fi
            ;;
        esac
    done

    COMPREPLY=()
    if [[ $cur == --*=* ]]; then  # --option=value as one word
        value_of=${cur%%=*}
        prefix=$value_of=
        cur=${cur#*=}
    elif [[ -n $value_of && $cur == = ]]; then
        cur=''
    fi
    if [[ -n $value_of ]]; then
        _webookctl_values "$path" "$value_of" &&
            mapfile -t COMPREPLY < <(compgen -P "$prefix" -W "$choices" -- "$cur")
        return 0
    fi
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$flags $options" -- "$cur")
    elif [[ -n $commands ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
    elif _webookctl_choices "$path" "#$((positional + 1))"; then
        mapfile -t COMPREPLY < <(compgen -W "$choices" -- "$cur")
    fi
    return 0
}

complete -o default -F _webookctl webookctl
)sh";
    return s;
}

// ---- zsh -------------------------------------------------------------------
//
// One function per command: _arguments with its options and positionals; a
// group's function also describes its subcommands and hands the rest of the
// line to the chosen one's function (the usual '*:: :->args' shape).

// A description inside an _arguments spec's [...].
std::string zsh_bracketed(const std::string& help) {
    std::string out;
    for (char c : help) {
        if (c == '[' || c == ']' || c == '\\') out += '\\';
        out += c == '\n' ? ' ' : c;
    }
    return out;
}

// The "name:description" of _describe: a colon in the name is escaped.
std::string zsh_described(const std::string& name, const std::string& help) {
    std::string out;
    for (char c : name) {
        if (c == ':' || c == '\\') out += '\\';
        out += c;
    }
    return out + ":" + help;
}

std::string zsh_function(const std::vector<std::string>& path) {
    std::string name = "_webookctl";
    for (const auto& p : path) name += "__" + p;
    return name;
}

// ":message:action" of a value: its fixed values, else zsh's default (files).
std::string zsh_value(const OptionSpec& o) {
    std::string message;
    for (char c : o.names.back())
        if (c != '-' && c != ':') message += c;
    if (o.choices.empty()) return ":" + message + ":_default";
    return ":" + message + ":(" + joined(o.choices) + ")";
}

std::string zsh_option(const OptionSpec& o) {
    std::string spec;
    if (o.repeatable) {
        spec = "*";
    } else if (o.names.size() > 1) {
        spec = "(" + joined(o.names) + ")";
    }
    std::string names = o.names.size() > 1 ? "{" + joined(o.names, ",") + "}" : o.names.front();
    std::string rest = "[" + zsh_bracketed(o.help) + "]";
    if (o.takes_value) {
        // --opt=: the value in the next word or after '='.
        names = o.names.size() > 1 ? "{" + joined(o.names, "=,") + "=}" : o.names.front() + "=";
        rest += zsh_value(o);
    }
    return (spec.empty() ? "" : single_quoted(spec)) + names + single_quoted(rest);
}

// A group's function: its options, then its subcommands by name, then the
// rest of the line to the chosen one's function.
std::string zsh_group(const CommandSpec& c) {
    const std::string name = joined(c.path);
    const std::string context = joined(c.path, "-");
    std::string s = zsh_function(c.path) + "() {\n";
    s += "    local curcontext=$curcontext state state_descr line ret=1\n";
    s += "    typeset -A opt_args\n";
    s += "    _arguments -C";
    for (const auto& o : c.options) s += " \\\n        " + zsh_option(o);
    s += " \\\n        ': :->command' \\\n        '*:: :->args' && ret=0\n";
    s += "    case $state in\n    command)\n        local -a commands=(\n";
    for (const auto& sub : c.commands) s += "            " + single_quoted(zsh_described(sub.name, sub.help)) + "\n";
    s += "        )\n";
    s += "        _describe -t commands " + single_quoted("webookctl " + (name.empty() ? "" : name + " ") + "command") +
         " commands && ret=0\n        ;;\n";
    s += "    args)\n        curcontext=${curcontext%:*:*}:webookctl-" + (context.empty() ? "" : context + "-") +
         "$line[1]:\n";
    s += "        case $line[1] in\n";
    for (const auto& sub : c.commands) {
        auto sub_path = c.path;
        sub_path.push_back(sub.name);
        s += "        " + single_quoted(sub.name) + ") " + zsh_function(sub_path) + " && ret=0 ;;\n";
    }
    s += "        esac\n        ;;\n    esac\n    return ret\n}\n";
    return s;
}

// A command's function: its options and positionals.
std::string zsh_command(const CommandSpec& c) {
    std::string s = zsh_function(c.path) + "() {\n    _arguments";
    for (const auto& o : c.options) s += " \\\n        " + zsh_option(o);
    for (std::size_t i = 0; i < c.positionals.size(); ++i) {
        const auto& p = c.positionals[i];
        s += " \\\n        " + single_quoted((p.repeatable ? "*" : std::to_string(i + 1)) + zsh_value(p));
    }
    return s + "\n}\n";
}

std::string zsh_script(const std::vector<CommandSpec>& tree) {
    std::string s = fmt::format(
        "#compdef webookctl\n"
        "# zsh completion for webookctl {}, generated from its command tree by\n"
        "# 'webookctl completion zsh'. Installed as\n"
        "# /usr/share/zsh/vendor-completions/_webookctl; or save it as _webookctl in\n"
        "# a directory of $fpath.\n",
        WEBOOKCTL_VERSION);
    for (const auto& c : tree) s += "\n" + (c.commands.empty() ? zsh_command(c) : zsh_group(c));
    // Autoloaded from $fpath, this file is the body of _webookctl: it defines
    // the functions above, then completes; sourced, it registers them.
    s += "\nif [[ $funcstack[1] == _webookctl ]]; then\n"
         "    _webookctl \"$@\"\n"
         "else\n"
         "    compdef _webookctl webookctl\n"
         "fi\n";
    return s;
}

struct CompletionArgs {
    std::string shell;               // bash|zsh
    const CLI::App* root = nullptr;  // the tree to describe
};

int run_completion(Context&, CompletionArgs& a) {
    std::vector<CommandSpec> tree;
    read_tree(*a.root, {}, tree);
    const std::string script = a.shell == "zsh" ? zsh_script(tree) : bash_script(tree);
    if (std::fputs(script.c_str(), stdout) < 0 || std::fflush(stdout) != 0)
        throw Error(Code::internal, "completion: writing the script to stdout failed");
    return k_exit_ok;
}

}  // namespace

void register_completion(CLI::App& app, Context& ctx) {
    auto a = std::make_shared<CompletionArgs>();
    a->root = &app;
    CLI::App* cmd = app.add_subcommand("completion",
                                       "print a shell completion script for every command and option of this "
                                       "binary (the package installs both)");
    cmd->add_option("SHELL", a->shell, "the shell")->required()->check(CLI::IsMember({"bash", "zsh"}));
    example(cmd, "webookctl completion bash > ~/.local/share/bash-completion/completions/webookctl");
    bind_action(cmd, ctx, a, run_completion);
}

}  // namespace webook::cli
