// Shared by the command-group files of the webookctl binary.
//
// Each cli/<group>.cpp registers its subcommands on the app: it binds options
// to a struct, and sets Context::run to a function that calls one library
// function and renders the result. main.cpp parses, resolves the
// configuration (flags > environment > file > defaults), runs, and maps
// errors to exit codes in one place.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "core/config.h"

namespace webook::cli {

struct GlobalOptions {
    std::string config_path;   // --config
    std::string log_level;     // --log-level (overrides env and file)
    std::string log_format;    // --log-format
    std::string output;        // --output
};

struct Context {
    GlobalOptions globals;
    Config config;  // resolved before run() is called
    // The chosen subcommand's action; returns the exit status.
    std::function<int(Context&)> run;

    bool json() const { return config.output == OutputFormat::json; }
};

void register_db(CLI::App& app, Context& ctx);

// Adds a usage example to a subcommand's help text.
void example(CLI::App* cmd, const std::string& text);

// Prints a JSON document (already serialised) or text to stdout.
void print_line(const std::string& text);

}  // namespace webook::cli
